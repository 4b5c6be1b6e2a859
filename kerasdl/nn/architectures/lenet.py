"""LeNet-5 (LeCun et al., 1998), the lesson's first classic network.

Course 4, Week 2 ("Classic networks"): conv 5x5 (6) -> avg pool -> conv 5x5
(16) -> avg pool -> FC 120 -> FC 84 -> output, with tanh/sigmoid
activations (no ReLU yet) and about 60k parameters. Height and width go
down (32 -> 28 -> 14 -> 10 -> 5) while channels go up (1 -> 6 -> 16).

The paper reads 32x32 images; MNIST's 28x28 digits were padded by 2 pixels.
Here the first convolution uses "same" padding on 28x28 inputs, which is the
same thing, so the Fashion-MNIST model has exactly the published layout and
parameter count (61,706 with a fully connected C3 and a softmax output; the
paper's sparse C3 table and RBF output differ slightly).
"""

from __future__ import annotations

import keras

ACTIVATIONS = ("tanh", "sigmoid", "relu")


def lenet5(
    input_shape: tuple[int, int, int] = (32, 32, 1), classes: int = 10, activation: str = "tanh"
) -> keras.Model:
    """Builds LeNet-5.

    Args:
        input_shape: (32, 32, C) as published, or (28, 28, C) for
            (Fashion-)MNIST; the first convolution pads 28x28 to behave like 32x32.
        classes: size of the softmax output.
        activation: the hidden activation, "tanh" (the paper's) or "sigmoid"
            (or "relu", for comparison).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}. Received: activation={activation!r}")
    if tuple(input_shape[:2]) not in ((32, 32), (28, 28)):
        raise ValueError(f"LeNet-5 reads 32x32 or 28x28 images. Received: input_shape={input_shape}")
    padding = "same" if tuple(input_shape[:2]) == (28, 28) else "valid"
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(input_shape),
            layers.Conv2D(6, 5, padding=padding, activation=activation, name="c1"),
            layers.AveragePooling2D(2, name="s2"),
            layers.Conv2D(16, 5, activation=activation, name="c3"),
            layers.AveragePooling2D(2, name="s4"),
            layers.Flatten(),
            layers.Dense(120, activation=activation, name="c5"),
            layers.Dense(84, activation=activation, name="f6"),
            layers.Dense(classes, activation="softmax", name="output"),
        ],
        name="lenet5",
    )
