"""Gradient checking a Keras model: right gradients pass, a broken custom gradient is caught."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasdl.nn.gradient_check import check_model_gradients, to_float64


@keras.saving.register_keras_serializable(package="kerasdl_tests")
class CubeWithGradient(keras.layers.Layer):
    """y = x^3 with a hand-written gradient, right (3 x^2) or deliberately wrong (2 x^2)."""

    def __init__(self, factor=3.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs):
        factor = self.factor

        @tf.custom_gradient
        def cube(x):
            return x**3, lambda upstream: upstream * factor * x**2

        return cube(inputs)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def _model(factor=None, dropout=0.0):
    layers = [
        keras.Input((5,)),
        keras.layers.Dense(4, activation="tanh", kernel_regularizer=keras.regularizers.L2(0.1)),
    ]
    if factor is not None:
        layers.append(CubeWithGradient(factor))
    if dropout:
        layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(3))
    keras.utils.set_random_seed(0)
    return keras.Sequential(layers)


def _batch():
    rng = np.random.default_rng(0)
    return rng.standard_normal((8, 5)).astype(np.float32), rng.integers(0, 3, 8)


LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


class TestCheckModelGradients:
    def test_small_model_with_l2_and_dropout_passes(self):
        x, y = _batch()
        model = _model(dropout=0.5)
        result = check_model_gradients(model, x, y, LOSS)
        assert result.difference < 1e-7, str(result)
        assert result.verdict == "fine"
        assert result.num_checked == sum(int(np.prod(v.shape)) for v in model.trainable_variables)
        assert model.weights[0].dtype == "float32"  # the caller's model is left alone

    def test_right_custom_gradient_passes(self):
        x, y = _batch()
        assert check_model_gradients(_model(factor=3.0), x, y, LOSS).verdict == "fine"

    def test_broken_custom_gradient_is_caught(self):
        x, y = _batch()
        result = check_model_gradients(_model(factor=2.0), x, y, LOSS)
        assert result.verdict == "worry", str(result)
        # Only the layer below the broken op gets a wrong gradient: the per-variable report points at it.
        worst = max(result.per_variable, key=result.per_variable.get)
        assert "dense" in worst and result.per_variable[worst] > 1e-3
        last = [path for path in result.per_variable if path.endswith("kernel")][-1]
        assert result.per_variable[last] < 1e-7

    def test_regularization_is_part_of_the_cost(self):
        # A check that ignored model.losses would see the L2 gradient as an error, and vice versa.
        x, y = _batch()
        model = to_float64(_model())
        with tf.GradientTape() as tape:
            plain = tf.reduce_mean(LOSS.call(y, model(x)))
        without_l2 = tape.gradient(plain, model.trainable_variables)
        result = check_model_gradients(model, x, y, LOSS, max_elements=None)
        assert result.verdict == "fine"
        assert not np.allclose(result.grad[:20], np.ravel(without_l2[0])[:20])

    def test_sampled_elements(self):
        x, y = _batch()
        result = check_model_gradients(_model(), x, y, LOSS, max_elements=10, seed=1)
        assert 4 <= result.num_checked <= 14
        assert result.verdict == "fine"

    def test_subclassed_float32_model_is_refused(self):
        class Tiny(keras.Model):
            def __init__(self):
                super().__init__()
                self.dense = keras.layers.Dense(2)

            def call(self, x):
                return self.dense(x)

        model = Tiny()
        model(np.zeros((1, 3), np.float32))
        with pytest.raises(ValueError, match="dtype='float64'"):
            check_model_gradients(model, np.zeros((2, 3)), np.zeros(2, np.int64), LOSS)

    def test_bad_epsilon(self):
        x, y = _batch()
        with pytest.raises(ValueError, match="Received: epsilon=0"):
            check_model_gradients(_model(), x, y, LOSS, epsilon=0)
