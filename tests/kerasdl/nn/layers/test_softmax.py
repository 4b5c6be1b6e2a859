"""kerasdl.nn.layers.Softmax against the NumPy reference and keras.activations.softmax."""

import keras
import numpy as np
import pytest
from keras import ops

from kerasdl.nn.autodiff import value_and_gradients
from kerasdl.nn.layers import Softmax
from kerasdl.scratch import activations
from tests.saving import reload


class TestSoftmax:
    def test_forward_and_gradient_match_numpy_reference(self):
        rng = np.random.default_rng(0)
        z = rng.normal(size=(5, 4)) * 3
        upstream = rng.normal(size=(5, 4))
        layer = Softmax(dtype="float64")
        _, (d_z,) = value_and_gradients(lambda z: ops.sum(ops.multiply(layer(z), upstream)), [z])
        reference, cache = activations.softmax(z.T)  # the lesson's units-by-examples layout
        np.testing.assert_allclose(ops.convert_to_numpy(layer(z)), reference.T, rtol=1e-12)
        np.testing.assert_allclose(d_z, activations.softmax_backward(upstream.T, cache).T, rtol=1e-10)

    def test_matches_keras_and_is_stable_for_huge_logits(self):
        z = np.array([[1000.0, 1001.0, 999.0], [-1000.0, 0.0, 1000.0]], "float32")
        ours = ops.convert_to_numpy(Softmax()(z))
        assert np.all(np.isfinite(ours))
        np.testing.assert_allclose(ours, ops.convert_to_numpy(keras.activations.softmax(z)), rtol=1e-6)
        np.testing.assert_allclose(ours.sum(axis=-1), 1.0, rtol=1e-6)

    def test_other_axis(self):
        z = np.random.default_rng(1).normal(size=(2, 3, 4)).astype("float32")
        np.testing.assert_allclose(
            ops.convert_to_numpy(Softmax(axis=1)(z)),
            ops.convert_to_numpy(keras.activations.softmax(z, axis=1)),
            rtol=1e-6,
        )

    def test_round_trip(self, tmp_path):
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), Softmax()])
        x = np.ones((2, 3), "float32")
        np.testing.assert_array_equal(
            reload(model, tmp_path).predict(x, verbose=0), model.predict(x, verbose=0)
        )

    def test_bad_axis(self):
        with pytest.raises(ValueError, match="axis must be an integer. Received: axis="):
            Softmax(axis="last")
        with pytest.raises(ValueError, match="axis is out of bounds"):
            Softmax(axis=3).compute_output_shape((2, 3))
