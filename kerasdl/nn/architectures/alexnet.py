"""AlexNet (Krizhevsky et al., 2012).

Course 4, Week 2 ("Classic networks"): "similar to LeNet, but much bigger",
about 60M parameters, ReLU, max pooling:

    227x227x3 -> conv 11x11/4 (96) -> max 3/2 -> conv 5x5 same (256) -> max 3/2
    -> conv 3x3 same (384) -> (384) -> (256) -> max 3/2 -> 6x6x256 = 9216
    -> FC 4096 -> FC 4096 -> softmax 1000

The two-GPU split and local response normalization are left out (the lesson
calls LRN obsolete), so this single-tower model has 62.4M parameters.
`alexnet_small` keeps the shape of the network at Fashion-MNIST's scale.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras


def _alexnet(
    input_shape: tuple[int, int, int],
    classes: int,
    filters: Sequence[int],
    first_kernel: int,
    first_stride: int,
    dense_units: int,
    dropout: float,
    name: str,
) -> keras.Model:
    layers = keras.layers
    f1, f2, f3, f4, f5 = filters
    model_layers = [
        keras.Input(input_shape),
        layers.Conv2D(f1, first_kernel, strides=first_stride, activation="relu", name="conv1"),
        layers.MaxPooling2D(3, strides=2, name="pool1"),
        layers.Conv2D(f2, 5, padding="same", activation="relu", name="conv2"),
        layers.MaxPooling2D(3, strides=2, name="pool2"),
        layers.Conv2D(f3, 3, padding="same", activation="relu", name="conv3"),
        layers.Conv2D(f4, 3, padding="same", activation="relu", name="conv4"),
        layers.Conv2D(f5, 3, padding="same", activation="relu", name="conv5"),
        layers.MaxPooling2D(3, strides=2, name="pool5"),
        layers.Flatten(),
    ]
    for index in (6, 7):
        model_layers += [
            layers.Dropout(dropout),
            layers.Dense(dense_units, activation="relu", name=f"fc{index}"),
        ]
    model_layers.append(layers.Dense(classes, activation="softmax", name="output"))
    return keras.Sequential(model_layers, name=name)


def alexnet(input_shape: tuple[int, int, int] = (227, 227, 3), classes: int = 1000) -> keras.Model:
    """AlexNet at the published size (62.4M parameters for 1000 classes)."""
    return _alexnet(input_shape, classes, (96, 256, 384, 384, 256), 11, 4, 4096, 0.5, "alexnet")


def alexnet_small(input_shape: tuple[int, int, int] = (28, 28, 1), classes: int = 10) -> keras.Model:
    """AlexNet's layout scaled to 28x28 images: 3x3 stride-1 first convolution, narrower layers.

    28 -> conv 3x3 (32) 26 -> pool 12 -> conv 5x5 same (64) -> pool 5 -> three 3x3
    convs (96, 96, 64) -> pool 2 -> 2x2x64 -> FC 256 -> FC 256 -> softmax.
    """
    return _alexnet(input_shape, classes, (32, 64, 96, 96, 64), 3, 1, 256, 0.3, "alexnet_small")
