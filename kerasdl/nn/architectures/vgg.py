"""VGG-16 (Simonyan & Zisserman, 2014) and small VGG-style networks.

Course 4, Week 2 ("Classic networks"): every convolution is 3x3, stride 1,
"same" padding; every pool is 2x2 max with stride 2; the number of filters
doubles from stage to stage (64, 128, 256, 512, 512) while height and width
halve. 16 layers with weights (13 conv + 3 FC), about 138M parameters
(138,357,544 for 1000 classes).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

VGG16_STAGES = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def vgg(
    input_shape: tuple[int, int, int],
    classes: int,
    stages: Sequence[tuple[int, int]],
    dense_units: Sequence[int],
    batch_norm: bool = False,
    dropout: float = 0.5,
    name: str = "vgg",
) -> keras.Model:
    """A VGG-style network: stages of 3x3 convolutions, each followed by a 2x2 max pool.

    Args:
        input_shape: (height, width, channels).
        classes: size of the softmax output.
        stages: (filters, number of 3x3 convolutions) per stage.
        dense_units: the hidden fully connected layers after flattening.
        batch_norm: add batch norm after each convolution (not in the
            original; it makes small VGGs train much faster).
        dropout: dropout rate before each hidden dense layer (0 to disable).
        name: the model's name.
    """
    layers = keras.layers
    model_layers = [keras.Input(input_shape)]
    for stage, (filters, repeats) in enumerate(stages, start=1):
        for index in range(1, repeats + 1):
            model_layers.append(
                layers.Conv2D(filters, 3, padding="same", use_bias=not batch_norm,
                              activation=None if batch_norm else "relu", name=f"block{stage}_conv{index}")
            )  # fmt: skip
            if batch_norm:
                model_layers += [layers.BatchNormalization(momentum=0.9), layers.Activation("relu")]
        model_layers.append(layers.MaxPooling2D(2, strides=2, name=f"block{stage}_pool"))
    model_layers.append(layers.Flatten())
    for index, units in enumerate(dense_units, start=1):
        if dropout:
            model_layers.append(layers.Dropout(dropout))
        model_layers.append(layers.Dense(units, activation="relu", name=f"fc{index}"))
    model_layers.append(layers.Dense(classes, activation="softmax", name="output"))
    return keras.Sequential(model_layers, name=name)


def vgg16(input_shape: tuple[int, int, int] = (224, 224, 3), classes: int = 1000) -> keras.Model:
    """VGG-16 at the published size: 138,357,544 parameters for 224x224x3 and 1000 classes."""
    return vgg(input_shape, classes, VGG16_STAGES, (4096, 4096), name="vgg16")


def vgg_small(input_shape: tuple[int, int, int] = (28, 28, 1), classes: int = 10) -> keras.Model:
    """A small VGG-style network for Fashion-MNIST: (32, 64, 128) filters in 2-conv stages, batch norm."""
    return vgg(input_shape, classes, ((32, 2), (64, 2), (128, 2)), (128,), batch_norm=True, dropout=0.3,
               name="vgg_small")  # fmt: skip
