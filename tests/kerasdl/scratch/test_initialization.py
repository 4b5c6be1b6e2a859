"""Initializations: shapes, the lesson's scales, and the symmetry of zeros."""

import numpy as np
import pytest

from kerasdl.scratch import deep_nn, initialization


class TestInitialization:
    @pytest.mark.parametrize(
        "method, expected_std",
        [
            ("he", np.sqrt(2 / 400)),
            ("xavier", np.sqrt(1 / 400)),
            ("glorot", np.sqrt(2 / 700)),
            ("random", 0.01),
        ],
    )
    def test_scale(self, method, expected_std):
        parameters = initialization.initialize_parameters([400, 300], method, seed=0)
        assert parameters["W1"].shape == (300, 400) and parameters["b1"].shape == (300, 1)
        assert parameters["W1"].std() == pytest.approx(expected_std, rel=0.02)
        assert abs(parameters["W1"].mean()) < 0.05 * expected_std * 10
        np.testing.assert_array_equal(parameters["b1"], 0)

    def test_he_keeps_relu_activations_from_vanishing(self):
        # The point of He: the scale of A[l] stays put through many ReLU layers; 0.01 makes it vanish.
        X = np.random.default_rng(0).standard_normal((200, 100))
        dims = [200] + [200] * 10 + [1]
        he = deep_nn.model_forward(X, initialization.initialize_parameters(dims, "he", seed=1))[1]
        small = deep_nn.model_forward(X, initialization.initialize_parameters(dims, "random", seed=1))[1]
        assert 0.3 < he[-1].A_prev.std() / he[1].A_prev.std() < 3
        assert small[-1].A_prev.std() / small[1].A_prev.std() < 1e-6  # about 0.1 per layer

    def test_zeros_keep_hidden_units_symmetric(self):
        # With zeros every hidden unit computes the same function and gets the same gradient.
        rng = np.random.default_rng(0)
        X, Y = rng.standard_normal((3, 10)), (rng.random((1, 10)) > 0.5).astype(float)
        parameters = initialization.initialize_parameters([3, 4, 1], "zeros")
        parameters["W2"] = np.full((1, 4), 0.5)  # even with a nonzero output layer
        AL, caches = deep_nn.model_forward(X, parameters, "tanh")
        grads = deep_nn.model_backward(AL, Y, caches)
        assert np.allclose(grads["dW1"], grads["dW1"][0:1])

    @pytest.mark.parametrize("bad", [[5], [3, 0]])
    def test_bad_layer_dims(self, bad):
        with pytest.raises(ValueError, match="Received: layer_dims="):
            initialization.initialize_parameters(bad)

    def test_bad_method(self):
        with pytest.raises(ValueError, match="Received: method='uniform'"):
            initialization.initialize_parameters([2, 2], "uniform")
