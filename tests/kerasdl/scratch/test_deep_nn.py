"""The NumPy L-layer network: gradient checking of every piece, and Keras with copied weights."""

import keras
import numpy as np
import pytest
from keras import ops

from kerasdl.nn.autodiff import value_and_gradients
from kerasdl.scratch import deep_nn, gradient_check, initialization
from tests.backends.gaps import atol64, rtol64

HIDDEN = ("relu", "leaky_relu", "tanh", "sigmoid")
LAYER_DIMS = [4, 5, 3]  # plus the output layer


def _data(output_activation, m=7, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((LAYER_DIMS[0], m))
    if output_activation == "sigmoid":
        return X, (rng.random((1, m)) > 0.5).astype(np.float64)
    return X, np.eye(3)[rng.integers(0, 3, m)].T


def _check(hidden, output, lambd=0.0, keep_prob=1.0, break_backward=None):
    X, Y = _data(output)
    parameters = initialization.initialize_parameters(LAYER_DIMS + [Y.shape[0]], "xavier", seed=1)
    # Nonzero biases: with b = 0, an example whose previous layer is all dropped or dead has Z = 0
    # exactly, on ReLU's kink, where no two-sided difference agrees with any one-sided derivative.
    bias_rng = np.random.default_rng(3)
    parameters = {
        k: v + 0.1 * bias_rng.standard_normal(v.shape) if k[0] == "b" else v for k, v in parameters.items()
    }
    masks = None
    if keep_prob < 1:
        rng = np.random.default_rng(2)
        masks = [rng.random((n, X.shape[1])) < keep_prob for n in LAYER_DIMS[1:]]

    def cost(p):
        AL, _ = deep_nn.model_forward(X, p, hidden, output, keep_prob=keep_prob, masks=masks)
        return deep_nn.compute_cost(AL, Y, output, p, lambd)

    AL, caches = deep_nn.model_forward(X, parameters, hidden, output, keep_prob=keep_prob, masks=masks)
    grads = deep_nn.model_backward(AL, Y, caches, lambd=lambd)
    if break_backward:
        grads = break_backward(grads)
    return gradient_check.gradient_check(cost, parameters, grads)


class TestBackward:
    @pytest.mark.parametrize("output", ["sigmoid", "softmax"])
    @pytest.mark.parametrize("hidden", HIDDEN)
    def test_gradient_check_every_activation(self, hidden, output):
        result = _check(hidden, output)
        assert result.difference < 1e-7, str(result)
        assert result.verdict == "fine"

    @pytest.mark.parametrize("hidden", ["relu", "tanh"])
    def test_gradient_check_with_l2(self, hidden):
        result = _check(hidden, "sigmoid", lambd=0.7)
        assert result.difference < 1e-7, str(result)

    @pytest.mark.parametrize("output", ["sigmoid", "softmax"])
    def test_gradient_check_with_dropout_and_l2(self, output):
        result = _check("relu", output, lambd=0.3, keep_prob=0.6)
        assert result.difference < 1e-7, str(result)

    def test_l2_term_is_needed(self):
        # Forgetting the regularization gradient (lambda / m W) is caught.
        W1 = initialization.initialize_parameters([4, 5, 3, 1], "xavier", seed=1)["W1"]

        def drop_l2(grads):
            return {**grads, "dW1": grads["dW1"] - 0.7 / 7 * W1}

        assert _check("relu", "sigmoid", lambd=0.7, break_backward=drop_l2).verdict != "fine"

    def test_a_wrong_backward_is_caught(self):
        # The classic bug: db summed over the wrong axis would not even broadcast, so scale it instead.
        def double_db2(grads):
            return {**grads, "db2": 2 * grads["db2"]}

        result = _check("tanh", "sigmoid", break_backward=double_db2)
        assert result.difference > 1e-3
        assert result.verdict == "worry"

    def test_dropout_mask_ignored_in_backward_is_caught(self):
        X, Y = _data("sigmoid")
        parameters = initialization.initialize_parameters([4, 5, 3, 1], "he", seed=3)
        rng = np.random.default_rng(4)
        masks = [rng.random((5, 7)) < 0.5, rng.random((3, 7)) < 0.5]
        AL, caches = deep_nn.model_forward(X, parameters, "relu", keep_prob=0.5, masks=masks)
        no_mask = [cache._replace(mask=None) for cache in caches]
        grads = deep_nn.model_backward(AL, Y, no_mask)

        def cost(p):
            return deep_nn.compute_cost(deep_nn.model_forward(X, p, "relu", keep_prob=0.5, masks=masks)[0], Y)

        assert gradient_check.gradient_check(cost, parameters, grads).verdict == "worry"


class TestDropout:
    def test_forward_scales_kept_units_and_zeroes_the_rest(self):
        X, _ = _data("sigmoid")
        parameters = initialization.initialize_parameters([4, 5, 3, 1], "he", seed=0)
        _, plain = deep_nn.model_forward(X, parameters, "relu")
        rng = np.random.default_rng(0)
        masks = [rng.random((5, 7)) < 0.8, rng.random((3, 7)) < 0.8]
        _, dropped = deep_nn.model_forward(X, parameters, "relu", keep_prob=0.8, masks=masks)
        # Layer 2's input is layer 1's activation with the mask and the 1/keep_prob scaling.
        A1 = np.maximum(plain[0].W @ X + plain[0].b, 0)
        np.testing.assert_allclose(dropped[1].A_prev, A1 * masks[0] / 0.8)

    def test_drawn_masks_keep_about_keep_prob(self):
        X = np.ones((4, 4000))
        parameters = initialization.initialize_parameters([4, 50, 1], "he", seed=0)
        _, caches = deep_nn.model_forward(X, parameters, "relu", keep_prob=0.7, rng=np.random.default_rng(0))
        assert abs(caches[0].mask.mean() - 0.7) < 0.01

    def test_bad_keep_prob(self):
        X, _ = _data("sigmoid")
        parameters = initialization.initialize_parameters([4, 5, 1], "he")
        with pytest.raises(ValueError, match="Received: keep_prob=0"):
            deep_nn.model_forward(X, parameters, "relu", keep_prob=0.0, rng=np.random.default_rng(0))


class TestAgainstKeras:
    @pytest.mark.parametrize(
        "hidden, keras_activation, output, rtol",
        # Keras stores LeakyReLU's slope 0.01 as a float32, hence the looser tolerance there.
        [
            ("relu", "relu", "sigmoid", 1e-12),
            ("tanh", "tanh", "softmax", 1e-12),
            ("leaky_relu", None, "softmax", 1e-7),
        ],
    )
    def test_forward_and_cost_match_dense_layers_with_copied_weights(
        self, hidden, keras_activation, output, rtol
    ):
        X, Y = _data(output, m=11)
        dims = LAYER_DIMS + [Y.shape[0]]
        parameters = initialization.initialize_parameters(dims, "he", seed=5)
        activation = (
            keras.layers.LeakyReLU(negative_slope=0.01) if hidden == "leaky_relu" else keras_activation
        )
        layers = [keras.layers.Dense(n, activation=activation, dtype="float64") for n in dims[1:-1]]
        layers.append(keras.layers.Dense(dims[-1], activation=output, dtype="float64"))
        model = keras.Sequential([keras.Input((dims[0],), dtype="float64"), *layers])
        for l, layer in enumerate(model.layers, start=1):  # noqa: E741
            # Keras is row-major: kernel = W^T, bias = b flattened.
            layer.set_weights([parameters[f"W{l}"].T, parameters[f"b{l}"].ravel()])
        AL, _ = deep_nn.model_forward(X, parameters, hidden, output)
        keras_out = ops.convert_to_numpy(model(X.T))
        # Keras' products (and tanh) are float32 outside TensorFlow (tests/backends/gaps.py).
        np.testing.assert_allclose(AL, keras_out.T, rtol=rtol64(rtol), atol=atol64(1e-14))
        loss = (
            keras.losses.BinaryCrossentropy()
            if output == "sigmoid"
            else keras.losses.CategoricalCrossentropy()
        )
        loss = loss.__class__.from_config({**loss.get_config(), "dtype": "float64"})
        np.testing.assert_allclose(
            deep_nn.compute_cost(AL, Y, output), float(loss(Y.T, keras_out)), rtol=1e-7
        )

    def test_gradients_match_the_backends_autodiff(self):
        X, Y = _data("softmax", m=9)
        parameters = initialization.initialize_parameters([4, 5, 3, 3], "he", seed=6)
        AL, caches = deep_nn.model_forward(X, parameters, "tanh", "softmax")
        grads = deep_nn.model_backward(AL, Y, caches, lambd=0.2)
        keys = list(parameters)

        def cost(*values):
            variables = dict(zip(keys, values, strict=True))
            A = ops.convert_to_tensor(X)
            for l in (1, 2, 3):  # noqa: E741
                Z = ops.add(ops.matmul(variables[f"W{l}"], A), variables[f"b{l}"])
                A = ops.tanh(Z) if l < 3 else ops.softmax(Z, axis=0)
            total = -ops.sum(ops.multiply(Y, ops.log(A))) / 9
            return total + 0.2 / (2 * 9) * sum(ops.sum(ops.square(variables[f"W{i}"])) for i in (1, 2, 3))

        _, autodiff = value_and_gradients(cost, [parameters[key] for key in keys])
        for key, gradient in zip(keys, autodiff, strict=True):
            # tanh and matrix products are float32 outside TensorFlow (tests/backends/gaps.py).
            np.testing.assert_allclose(grads[f"d{key}"], gradient, rtol=rtol64(1e-10), atol=atol64(1e-13))


class TestPredict:
    def test_softmax_predict_is_argmax(self):
        X, _ = _data("softmax")
        parameters = initialization.initialize_parameters([4, 5, 3], "he", seed=0)
        AL, _ = deep_nn.model_forward(X, parameters, "relu", "softmax")
        np.testing.assert_array_equal(deep_nn.predict(X, parameters, "relu", "softmax"), AL.argmax(axis=0))

    def test_unknown_activation(self):
        with pytest.raises(ValueError, match="Received: activation='swish'"):
            deep_nn.model_forward(np.ones((4, 2)), initialization.initialize_parameters([4, 3, 1]), "swish")
