"""Gradient checking a Keras model: right gradients pass, a broken custom gradient is caught."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from keras import ops

from kerasdl.nn.autodiff import value_and_gradients
from kerasdl.nn.gradient_check import check_model_gradients, to_float64
from tests.backends.gaps import KERAS_MATMUL_IS_FLOAT32, needs_float64_matmul


@keras.saving.register_keras_serializable(package="kerasdl_tests")
class CubeWithGradient(keras.layers.Layer):
    """y = x^3 with a hand-written gradient, right (3 x^2) or deliberately wrong (2 x^2)."""

    def __init__(self, factor=3.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs):
        factor = self.factor

        @ops.custom_gradient
        def cube(x):
            def gradient(*args, upstream=None):
                upstream = args[0] if upstream is None else upstream  # TensorFlow passes it by position
                return upstream * factor * x**2

            return x**3, gradient

        return cube(inputs)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def _model(factor=None, dropout=0.0):
    # sigmoid, not tanh: Keras computes tanh in float32 on JAX (see kerasdl.nn.gradient_check).
    layers = [
        keras.Input((5,)),
        keras.layers.Dense(4, activation="sigmoid", kernel_regularizer=keras.regularizers.L2(0.1)),
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


@needs_float64_matmul
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

        def plain(*trainable):
            outputs, _ = model.stateless_call(list(trainable), [], x)
            return ops.mean(LOSS.call(y, outputs))

        _, without_l2 = value_and_gradients(plain, [w.numpy() for w in model.trainable_variables])
        result = check_model_gradients(model, x, y, LOSS, max_elements=None)
        assert result.verdict == "fine"
        assert not np.allclose(result.grad[:20], np.ravel(without_l2[0])[:20])

    def test_training_mode_keeps_one_dropout_mask(self):
        # Each evaluation of J sees the same mask, so even training-mode dropout checks out.
        x, y = _batch()
        model = _model(dropout=0.5)
        result = check_model_gradients(model, x, y, LOSS, training=True, max_elements=None)
        assert result.verdict == "fine", str(result)
        plain = check_model_gradients(model, x, y, LOSS, max_elements=None)
        assert not np.allclose(result.grad, plain.grad)  # dropout did act

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


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="only JAX computes without float64 by default")
def test_jax_without_float64_is_refused():
    script = textwrap.dedent(
        """
        import keras, numpy as np
        from kerasdl.nn.gradient_check import check_model_gradients
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        check_model_gradients(model, np.ones((2, 2)), np.ones((2, 1)), "mse")
        """
    )
    environment = {**os.environ, "KERAS_BACKEND": "jax", "JAX_ENABLE_X64": "0"}
    run = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True)
    assert run.returncode != 0
    assert "RuntimeError: Gradient checking needs float64" in run.stderr
    assert "JAX_ENABLE_X64=1" in run.stderr


@pytest.mark.skipif(
    not KERAS_MATMUL_IS_FLOAT32, reason="Keras computes float64 matrix products in float64 here"
)
def test_refused_where_keras_computes_float64_products_in_float32():
    with pytest.raises(RuntimeError, match="computes float64 matrix products in float32"):
        check_model_gradients(_model(), *_batch(), LOSS)
