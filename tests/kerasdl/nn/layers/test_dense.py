"""kerasdl.nn.layers.Dense against the NumPy reference and keras.layers.Dense."""

import keras
import numpy as np
import pytest
from keras import ops

from kerasdl.nn.autodiff import value_and_gradients
from kerasdl.nn.layers import Dense
from kerasdl.nn.regularizers import L2
from kerasdl.scratch import activations, deep_nn
from tests.backends.gaps import keras_optimizer_not_allowlisted, rtol64
from tests.saving import reload


class TestDense:
    def setup_method(self):
        rng = np.random.default_rng(0)
        self.a_prev = rng.normal(size=(6, 4))  # m = 6 examples as rows (Keras layout)
        self.kernel = rng.normal(size=(4, 3))
        self.bias = rng.normal(size=(3,))
        self.upstream = rng.normal(size=(6, 3))  # dA flowing back into the layer

    def _layer(self, activation):
        layer = Dense(3, activation=activation, dtype="float64")
        layer.build((None, 4))
        layer.set_weights([self.kernel, self.bias])
        return layer

    @pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
    def test_forward_and_gradients_match_numpy_reference(self, activation):
        layer = self._layer(activation)

        def objective(x, kernel, bias):
            # sum(A * dA) has gradient dA with respect to A.
            a, _ = layer.stateless_call([kernel, bias], [], x)
            return ops.sum(ops.multiply(a, self.upstream))

        _, (d_x, d_kernel, d_bias) = value_and_gradients(objective, [self.a_prev, self.kernel, self.bias])
        a = ops.convert_to_numpy(layer(self.a_prev))

        # The lesson's column layout: W is the kernel transposed, examples are columns.
        W, b, A_prev = self.kernel.T, self.bias[:, None], self.a_prev.T
        Z = deep_nn.linear_forward(A_prev, W, b)
        forward, backward = activations.get(activation)
        A, _ = forward(Z)
        np.testing.assert_allclose(a, A.T, rtol=rtol64(1e-12))  # tanh: float32 outside TensorFlow
        dZ = backward(self.upstream.T, Z)
        dA_prev, dW, db = deep_nn.linear_backward(dZ, A_prev, W)
        m = A_prev.shape[1]  # the reference averages dW and db over m; autodiff of the sum does not
        np.testing.assert_allclose(d_x, dA_prev.T, rtol=rtol64(1e-10))
        np.testing.assert_allclose(d_kernel, m * dW.T, rtol=rtol64(1e-10))
        np.testing.assert_allclose(d_bias, m * db[:, 0], rtol=rtol64(1e-10))

    def test_matches_keras_dense_with_copied_weights(self):
        ours = self._layer("relu")
        theirs = keras.layers.Dense(3, activation="relu", dtype="float64")
        theirs.build((None, 4))
        theirs.set_weights([self.kernel, self.bias])
        np.testing.assert_allclose(
            ops.convert_to_numpy(ours(self.a_prev)), ops.convert_to_numpy(theirs(self.a_prev)), rtol=1e-12
        )

    def test_no_bias_and_output_shape_on_rank_3_inputs(self):
        layer = Dense(5, use_bias=False)
        out = layer(np.ones((2, 7, 4), "float32"))
        assert out.shape == (2, 7, 5) == layer.compute_output_shape((2, 7, 4))
        assert [w.name for w in layer.weights] == ["kernel"]

    def test_regularizer_adds_the_lesson_penalty(self):
        layer = Dense(3, kernel_regularizer=L2(lambda_=0.5, m=10), dtype="float64")
        layer.build((None, 4))
        layer.set_weights([self.kernel, self.bias])
        layer(self.a_prev)
        # Keras sums layer losses in floatx (float32).
        np.testing.assert_allclose(
            float(ops.convert_to_numpy(sum(layer.losses))), 0.5 / 20 * np.sum(self.kernel**2), rtol=1e-6
        )

    @keras_optimizer_not_allowlisted
    def test_training_step_and_keras_round_trip(self, tmp_path):
        model = keras.Sequential([keras.Input((4,)), Dense(8, activation="relu"), Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        x, y = self.a_prev.astype("float32"), self.a_prev[:, :1].astype("float32")
        before = model.evaluate(x, y, verbose=0)
        model.fit(x, y, epochs=20, verbose=0)
        assert model.evaluate(x, y, verbose=0) < before
        loaded = reload(model, tmp_path)
        assert isinstance(loaded.layers[0], Dense)
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
        assert loaded.layers[0].get_config() == model.layers[0].get_config()

    def test_bad_use_bias(self):
        with pytest.raises(ValueError, match="use_bias must be True or False. Received: use_bias="):
            Dense(3, use_bias="no")

    @pytest.mark.parametrize("units", [0, -3, 2.5, True])
    def test_bad_units(self, units):
        with pytest.raises(ValueError, match="units must be a positive integer. Received: units="):
            Dense(units)
