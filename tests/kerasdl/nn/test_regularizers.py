"""kerasdl.nn.regularizers against keras.regularizers and the NumPy reference."""

import keras
import numpy as np
import pytest
from keras import ops

from kerasdl.nn import regularizers
from kerasdl.nn.autodiff import value_and_gradients
from kerasdl.scratch import regularization


class TestRegularizers:
    def setup_method(self):
        rng = np.random.default_rng(0)
        self.weights = [rng.normal(size=(4, 3)), rng.normal(size=(3, 2))]

    def test_l2_equals_keras_l2_with_lambda_over_2m(self):
        ours = regularizers.L2(lambda_=0.7, m=50)
        theirs = keras.regularizers.L2(l2=0.7 / (2 * 50))
        for w in self.weights:
            # Keras passes its coefficient through a float32 constant: equal to ~1e-7.
            w = ops.convert_to_tensor(w)
            np.testing.assert_allclose(ours(w), theirs(w), rtol=1e-6)
            np.testing.assert_allclose(ours(w), 0.7 / 100 * np.sum(ops.convert_to_numpy(w) ** 2), rtol=1e-12)
        assert ours.coefficient == pytest.approx(0.007)

    def test_l1_equals_keras_l1_with_lambda_over_2m(self):
        ours = regularizers.L1(lambda_=0.7, m=50)
        theirs = keras.regularizers.L1(l1=0.7 / (2 * 50))
        w = ops.convert_to_tensor(self.weights[0])
        np.testing.assert_allclose(ours(w), theirs(w), rtol=1e-6)
        np.testing.assert_allclose(ours(w), 0.7 / 100 * np.abs(self.weights[0]).sum(), rtol=1e-12)

    def test_l2_cost_and_gradient_match_the_reference(self):
        # The lesson's W is [n, n_prev]; the Frobenius norm does not care about the transpose.
        parameters = {
            "W1": self.weights[0].T,
            "b1": np.ones((3, 1)),
            "W2": self.weights[1].T,
            "b2": np.ones((2, 1)),
        }
        penalty = regularizers.L2(lambda_=0.3, m=20)
        cost, gradients = value_and_gradients(lambda *weights: sum(penalty(w) for w in weights), self.weights)
        np.testing.assert_allclose(cost, regularization.l2_cost(parameters, 0.3, 20), rtol=1e-12)
        for weight, gradient in zip(self.weights, gradients, strict=True):
            # dW += (lambda / m) W: "weight decay".
            np.testing.assert_allclose(gradient, regularization.l2_gradient(weight, 0.3, 20), rtol=1e-12)

    def test_penalty_shrinks_weights_in_training(self):
        rng = np.random.default_rng(1)
        x, y = rng.normal(size=(64, 8)).astype("float32"), rng.normal(size=(64, 1)).astype("float32")
        norms = {}
        for lambda_ in (0.0, 50.0):
            keras.utils.set_random_seed(0)
            dense = keras.layers.Dense(1, kernel_regularizer=regularizers.L2(lambda_, m=64))
            model = keras.Sequential([keras.Input((8,)), dense])
            model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
            # 30 full-batch gradient steps in one epoch (fewer per-epoch overheads than epochs=30).
            model.fit(
                np.tile(x, (30, 1)), np.tile(y, (30, 1)), epochs=1, batch_size=64, shuffle=False, verbose=0
            )
            norms[lambda_] = float(np.sum(dense.kernel.numpy() ** 2))
        assert norms[50.0] < 0.5 * norms[0.0]

    @pytest.mark.parametrize("cls", [regularizers.L1, regularizers.L2])
    def test_config_round_trip(self, cls):
        penalty = cls(lambda_=0.2, m=30)
        restored = keras.regularizers.deserialize(keras.regularizers.serialize(penalty))
        assert type(restored) is cls and restored.get_config() == {"lambda_": 0.2, "m": 30}

    @pytest.mark.parametrize("lambda_", [-0.1, float("nan")])
    def test_bad_lambda(self, lambda_):
        with pytest.raises(ValueError, match="lambda_ must be a non-negative number. Received: lambda_="):
            regularizers.L2(lambda_=lambda_, m=10)

    @pytest.mark.parametrize("m", [0, 2.5, True])
    def test_bad_m(self, m):
        with pytest.raises(ValueError, match="must be a positive integer. Received: m="):
            regularizers.L1(lambda_=0.1, m=m)
