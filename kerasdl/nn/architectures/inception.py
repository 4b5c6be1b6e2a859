"""GoogLeNet (Inception v1, Szegedy et al., 2014) and a small Inception network.

Course 4, Week 2 ("Inception network"): a stem of ordinary convolutions,
then nine `InceptionModule`s with max pools between groups of them, global
average pooling and a softmax. The filter numbers are the paper's Table 1.
The two auxiliary side classifiers (used only in training, "to regularize")
and local response normalization are left out; without them GoogLeNet has
about 7.0M parameters (6,998,552 for 1000 classes).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from kerasdl.nn.blocks import InceptionModule

# (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj) per module; "pool" is a 3x3/2 max pool.
GOOGLENET_MODULES = (
    (64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64), "pool",
    (192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64),
    (112, 144, 288, 32, 64, 64), (256, 160, 320, 32, 128, 128), "pool",
    (256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128),
)  # fmt: skip


def inception_network(
    input_shape: tuple[int, int, int],
    classes: int,
    stem: Sequence[keras.layers.Layer],
    modules: Sequence[tuple[int, ...] | str],
    dropout: float,
    name: str,
) -> keras.Model:
    """Stem layers, then Inception modules ("pool" = 3x3/2 max pool), global average pool, softmax."""
    layers = keras.layers
    inputs = keras.Input(input_shape)
    x = inputs
    for layer in stem:
        x = layer(x)
    for index, module in enumerate(modules):
        if module == "pool":
            x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool_{index}")(x)
        else:
            x = InceptionModule(*module, name=f"inception_{index}")(x)
    x = layers.GlobalAveragePooling2D()(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(classes, activation="softmax", name="output")(x)
    return keras.Model(inputs, outputs, name=name)


def googlenet(input_shape: tuple[int, int, int] = (224, 224, 3), classes: int = 1000) -> keras.Model:
    """GoogLeNet at the published size (about 7.0M parameters, no auxiliary classifiers)."""
    layers = keras.layers
    stem = [
        layers.Conv2D(64, 7, strides=2, padding="same", activation="relu", name="conv1"),
        layers.MaxPooling2D(3, strides=2, padding="same"),
        layers.Conv2D(64, 1, activation="relu", name="conv2_reduce"),
        layers.Conv2D(192, 3, padding="same", activation="relu", name="conv2"),
        layers.MaxPooling2D(3, strides=2, padding="same"),
    ]
    return inception_network(input_shape, classes, stem, GOOGLENET_MODULES, 0.4, "googlenet")


def inception_small(input_shape: tuple[int, int, int] = (28, 28, 1), classes: int = 10) -> keras.Model:
    """A small Inception network for Fashion-MNIST: 3x3 stem (32, batch norm), four narrow modules."""
    layers = keras.layers
    stem = [
        layers.Conv2D(32, 3, padding="same", use_bias=False, name="conv1"),
        layers.BatchNormalization(momentum=0.9),
        layers.Activation("relu"),
        layers.MaxPooling2D(2),
    ]
    modules = ((16, 16, 32, 4, 8, 8), (32, 32, 48, 8, 16, 16), "pool", (48, 32, 64, 8, 16, 16),
               (64, 48, 96, 12, 32, 32))  # fmt: skip
    return inception_network(input_shape, classes, stem, modules, 0.2, "inception_small")
