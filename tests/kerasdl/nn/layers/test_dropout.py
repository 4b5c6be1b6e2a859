"""kerasdl.nn.layers.InvertedDropout against the NumPy reference (same mask)."""

import keras
import numpy as np
import pytest
from keras import ops

from kerasdl.nn.autodiff import value_and_gradients
from kerasdl.nn.layers import InvertedDropout
from kerasdl.scratch import regularization
from tests.saving import reload


class TestInvertedDropout:
    def test_identity_at_inference(self):
        x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
        layer = InvertedDropout(keep_prob=0.5, seed=1)
        np.testing.assert_array_equal(layer(x), x)
        np.testing.assert_array_equal(layer(x, training=False), x)

    def test_training_matches_reference_forward_and_backward(self):
        # Inputs are nonzero, so the mask the layer drew is where the output is nonzero.
        rng = np.random.default_rng(1)
        x = rng.uniform(1.0, 2.0, size=(8, 16))
        upstream = rng.normal(size=(8, 16))
        layer = InvertedDropout(keep_prob=0.7, seed=3, dtype="float64")
        layer.build(x.shape)
        # Called statelessly with its seed state held fixed, the layer draws the same mask every time.
        seed_state = [variable.value for variable in layer.non_trainable_variables]

        def objective(x):
            out, _ = layer.stateless_call([], seed_state, x, training=True)
            return ops.sum(ops.multiply(out, upstream))

        out = ops.convert_to_numpy(layer.stateless_call([], seed_state, x, training=True)[0])
        _, (d_x,) = value_and_gradients(objective, [x])
        mask = out != 0
        assert 0 < mask.sum() < mask.size
        np.testing.assert_allclose(out, regularization.dropout_forward(x, mask, 0.7), rtol=1e-12)
        np.testing.assert_allclose(d_x, regularization.dropout_backward(upstream, mask, 0.7), rtol=1e-12)

    @pytest.mark.parametrize("keep_prob", [0.2, 0.5, 0.9])
    def test_keeps_the_expected_value(self, keep_prob):
        n = 200_000
        out = ops.convert_to_numpy(
            InvertedDropout(keep_prob=keep_prob, seed=0)(np.ones((n,), "float32"), training=True)
        )
        # Each output is Bernoulli(keep_prob) / keep_prob: mean 1, sd sqrt((1 - p) / p).
        tolerance = 5 * np.sqrt((1 - keep_prob) / keep_prob / n)
        assert abs(out.mean() - 1.0) < tolerance
        assert abs((out > 0).mean() - keep_prob) < 5 * np.sqrt(keep_prob * (1 - keep_prob) / n)
        np.testing.assert_allclose(np.unique(out), [0.0, 1.0 / keep_prob], rtol=1e-6)

    def test_seeded_masks_repeat_across_layers_and_change_across_calls(self):
        x = np.ones((64, 64), "float32")
        first, second = InvertedDropout(0.5, seed=7), InvertedDropout(0.5, seed=7)
        a1, b1 = ops.convert_to_numpy(first(x, training=True)), ops.convert_to_numpy(second(x, training=True))
        np.testing.assert_array_equal(a1, b1)
        assert not np.array_equal(a1, ops.convert_to_numpy(first(x, training=True)))

    def test_keep_prob_one_is_identity_in_training(self):
        x = np.arange(6, dtype="float32").reshape(2, 3)
        np.testing.assert_array_equal(InvertedDropout(keep_prob=1.0)(x, training=True), x)

    def test_round_trip(self, tmp_path):
        model = keras.Sequential([keras.Input((5,)), InvertedDropout(0.6, seed=4), keras.layers.Dense(1)])
        loaded = reload(model, tmp_path)
        assert loaded.layers[0].get_config() == model.layers[0].get_config()
        assert loaded.layers[0].compute_output_shape((3, 5)) == (3, 5)

    @pytest.mark.parametrize("keep_prob", [0, 1.5, -0.1, "0.5"])
    def test_bad_keep_prob(self, keep_prob):
        with pytest.raises(
            ValueError, match="keep_prob must be a number in \\(0, 1\\]. Received: keep_prob="
        ):
            InvertedDropout(keep_prob)

    def test_bad_seed(self):
        with pytest.raises(ValueError, match="seed must be None or an integer. Received: seed="):
            InvertedDropout(0.5, seed="1")
