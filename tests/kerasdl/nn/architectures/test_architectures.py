"""kerasdl.nn.architectures: published parameter counts, small models, 1D/3D convolutions."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops
from numpy.lib.stride_tricks import sliding_window_view

from kerasdl.nn import architectures
from kerasdl.scratch.conv import output_size

# The figures the lesson and the papers quote.
PUBLISHED = {"lenet5": 60e3, "alexnet": 60e6, "vgg16": 138e6, "resnet50": 25.6e6, "googlenet": 6.8e6}


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_sizes_are_within_a_few_percent(name):
    model = architectures.PUBLISHED_BUILDERS[name]()
    params = model.count_params()
    assert abs(params - PUBLISHED[name]) / PUBLISHED[name] < 0.05, params
    assert model.output_shape == (None, 10 if name == "lenet5" else 1000)
    keras.backend.clear_session()


def test_lenet5_exact_layout():
    model = architectures.lenet5((28, 28, 1))
    assert model.count_params() == 156 + 2416 + 48120 + 10164 + 850  # conv1, conv2 (full C3), FC 120, 84, 10
    assert [type(layer).__name__ for layer in model.layers].count("AveragePooling2D") == 2
    assert model.get_layer("c1").activation.__name__ == "tanh"
    assert model.get_layer("s4").output.shape == (None, 5, 5, 16)
    with pytest.raises(ValueError, match="activation='elu'"):
        architectures.lenet5(activation="elu")


@pytest.mark.parametrize("name", architectures.SMALL_BUILDERS)
def test_small_models_predict_a_distribution_over_ten_classes(name):
    model = architectures.SMALL_BUILDERS[name]()
    x = np.random.default_rng(0).normal(size=(4, 28, 28, 1)).astype("float32")
    probabilities = ops.convert_to_numpy(model(x, training=False))
    assert probabilities.shape == (4, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    assert model.count_params() < 1_000_000


def test_conv1d_matches_numpy_and_the_size_formula():
    model = architectures.signal_classifier_1d(length=60, channels=2, filters=(3,))
    layer = model.get_layer("conv1d_1")
    x = np.random.default_rng(1).normal(size=(2, 60, 2)).astype("float32")
    W, b = layer.get_weights()  # [f, C, filters]
    windows = sliding_window_view(x, 5, axis=1)  # [m, n - f + 1, C, f]
    expected = np.maximum(np.einsum("mncf,fck->mnk", windows, W) + b, 0)
    np.testing.assert_allclose(ops.convert_to_numpy(layer(x)), expected, rtol=1e-4, atol=1e-5)
    assert expected.shape[1] == output_size(60, 5) == 56


def test_conv3d_matches_numpy_and_the_size_formula():
    model = architectures.volume_classifier_3d(shape=(6, 7, 8, 1), filters=(2,))
    layer = model.get_layer("conv3d_1")
    x = np.random.default_rng(2).normal(size=(1, 6, 7, 8, 1)).astype("float32")
    W, b = layer.get_weights()  # [f, f, f, C, filters]
    windows = sliding_window_view(x, (3, 3, 3), axis=(1, 2, 3))  # [m, d, h, w, C, f, f, f]
    expected = np.maximum(np.einsum("mdhwcijk,ijkco->mdhwo", windows, W) + b, 0)
    np.testing.assert_allclose(ops.convert_to_numpy(layer(x)), expected, rtol=1e-4, atol=1e-5)
    assert expected.shape[1:4] == tuple(output_size(n, 3) for n in (6, 7, 8))


@pytest.mark.slow
@pytest.mark.parametrize("name,application", [("resnet50", "ResNet50"), ("vgg16", "VGG16")])
def test_parameter_counts_equal_keras_applications(name, application):
    ours = architectures.PUBLISHED_BUILDERS[name]().count_params()
    assert ours == getattr(keras.applications, application)(weights=None).count_params()
