"""1D and 3D convolutions: the same idea on signals and volumes.

Course 4, Week 4 ("1D and 3D generalizations of models"): a 1D filter
slides along a signal (an ECG: length n, 1 channel, f=5 gives n - f + 1
outputs per filter); a 3D filter slides through a volume (a CT scan, or a
movie's frames x height x width). The output-size formula
floor((n + 2p - f) / s) + 1 holds along every axis.
"""

from __future__ import annotations

import keras


def signal_classifier_1d(
    length: int = 400, channels: int = 1, classes: int = 2, filters: tuple[int, ...] = (16, 32)
) -> keras.Model:
    """A 1D CNN for signals such as an ECG: [Conv1D 5 -> max pool 2] per entry of `filters`, then softmax."""
    layers = keras.layers
    model_layers = [keras.Input((length, channels))]
    for index, count in enumerate(filters, start=1):
        model_layers += [
            layers.Conv1D(count, 5, activation="relu", name=f"conv1d_{index}"),
            layers.MaxPooling1D(2),
        ]
    model_layers += [
        layers.GlobalAveragePooling1D(),
        layers.Dense(classes, activation="softmax", name="output"),
    ]
    return keras.Sequential(model_layers, name="signal_classifier_1d")


def volume_classifier_3d(
    shape: tuple[int, int, int, int] = (16, 32, 32, 1), classes: int = 2, filters: tuple[int, ...] = (8, 16)
) -> keras.Model:
    """A 3D CNN for volumes (CT slices, video frames): [Conv3D 3 -> max pool 2] per entry of `filters`."""
    layers = keras.layers
    model_layers = [keras.Input(shape)]
    for index, count in enumerate(filters, start=1):
        model_layers += [
            layers.Conv3D(count, 3, activation="relu", name=f"conv3d_{index}"),
            layers.MaxPooling3D(2),
        ]
    model_layers += [
        layers.GlobalAveragePooling3D(),
        layers.Dense(classes, activation="softmax", name="output"),
    ]
    return keras.Sequential(model_layers, name="volume_classifier_3d")
