"""Sliding windows as convolution: at every output position, exactly the classifier on that window."""

import keras
import numpy as np
import pytest

from kerasdl.nn.detection.sliding_windows import convolutionalize, window_stride

WINDOW = 14


def classifier(functional: bool = False) -> keras.Model:
    """14 x 14 x 1 -> 10 classes: valid convolutions, pooling (stride 2), batch norm, two Dense layers."""
    layers = [
        keras.layers.Conv2D(4, 3, activation="relu"),  # 12 x 12
        keras.layers.MaxPooling2D(2),  # 6 x 6
        keras.layers.BatchNormalization(),
        keras.layers.Conv2D(6, 3),  # 4 x 4
        keras.layers.ReLU(),
        keras.layers.Flatten(),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(10, activation="softmax"),
    ]
    keras.utils.set_random_seed(0)
    inputs = keras.Input((WINDOW, WINDOW, 1))
    if functional:
        x = inputs
        for layer in layers:
            x = layer(x)
        model = keras.Model(inputs, x)
    else:
        model = keras.Sequential([inputs, *layers])
    norm = next(layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    rng = np.random.default_rng(1)  # moving statistics and biases that are not the defaults
    norm.set_weights([rng.uniform(0.5, 2, 4), rng.normal(size=4), rng.normal(size=4), rng.uniform(0.5, 2, 4)])
    return model


@pytest.mark.parametrize("functional", [False, True], ids=["sequential", "functional"])
def test_each_output_position_is_the_classifier_on_its_window(functional):
    model = classifier(functional)
    scanner = convolutionalize(model)
    stride = window_stride(model)
    assert stride == 2
    images = np.random.default_rng(2).uniform(size=(2, 22, 26, 1)).astype("float32")
    scores = keras.ops.convert_to_numpy(scanner(images))
    assert scores.shape == (2, (22 - WINDOW) // stride + 1, (26 - WINDOW) // stride + 1, 10)
    windows = np.stack([
        images[b, i * stride : i * stride + WINDOW, j * stride : j * stride + WINDOW]
        for b in range(2) for i in range(scores.shape[1]) for j in range(scores.shape[2])
    ])  # fmt: skip
    expected = keras.ops.convert_to_numpy(model(windows)).reshape(scores.shape)
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)


def test_the_weights_are_copies():
    model = classifier()
    scanner = convolutionalize(model)
    ones = np.ones((1, WINDOW, WINDOW, 1), "float32")
    before = keras.ops.convert_to_numpy(scanner(ones))
    for weight in model.weights:
        weight.assign(np.zeros(weight.shape))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(scanner(ones)), before)


@pytest.mark.parametrize(
    "layers, message",
    [
        ([keras.layers.Conv2D(2, 3, padding="same"), keras.layers.Flatten(), keras.layers.Dense(2)],
         "has padding='same': only 'valid' padding"),
        ([keras.layers.Conv2D(2, 3), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)],
         "exactly one Flatten layer. Received: 0"),
        ([keras.layers.Conv2D(2, 3), keras.layers.Flatten(), keras.layers.Dense(2),
          keras.layers.Reshape((2, 1))],
         "after Flatten is not supported"),
    ],
)  # fmt: skip
def test_unsupported_classifiers_are_refused(layers, message):
    model = keras.Sequential([keras.Input((8, 8, 1)), *layers])
    with pytest.raises(ValueError, match=message):
        convolutionalize(model)
