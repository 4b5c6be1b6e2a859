"""kerasdl.nn.layers.BatchNorm against the lesson's formula and keras.layers.BatchNormalization."""

import keras
import numpy as np
import pytest
from keras import ops

from kerasdl.nn.autodiff import value_and_gradients
from kerasdl.nn.layers import BatchNorm
from tests.backends.gaps import atol64, keras_optimizer_not_allowlisted, rtol64
from tests.backends.jacobians import compute_gradient
from tests.saving import reload

numpy = ops.convert_to_numpy


def lesson_batch_norm(z, gamma, beta, epsilon):
    """Course 2, Week 3 in NumPy, units along the last axis: the training-mode forward pass."""
    axes = tuple(range(z.ndim - 1))
    mu = z.mean(axis=axes)
    sigma2 = ((z - mu) ** 2).mean(axis=axes)
    z_norm = (z - mu) / np.sqrt(sigma2 + epsilon)
    return gamma * z_norm + beta, mu, sigma2


def _pair(input_shape, axis=-1, momentum=0.9, epsilon=1e-3, seed=0):
    """Our layer and Keras' built on the same shape with the same (random) weights."""
    ours = BatchNorm(axis=axis, momentum=momentum, epsilon=epsilon, dtype="float64")
    theirs = keras.layers.BatchNormalization(axis=axis, momentum=momentum, epsilon=epsilon, dtype="float64")
    ours.build(input_shape)
    theirs.build(input_shape)
    rng = np.random.default_rng(seed)
    features = input_shape[axis]
    weights = [rng.normal(size=features), rng.normal(size=features), rng.normal(size=features),
               rng.uniform(0.5, 2.0, size=features)]  # fmt: skip
    ours.set_weights(weights)  # gamma, beta, moving_mean, moving_variance in both layers
    theirs.set_weights(weights)
    return ours, theirs


class TestBatchNorm:
    def test_training_forward_matches_the_lesson_formula(self):
        z = np.random.default_rng(1).normal(2.0, 3.0, size=(32, 5))
        layer, _ = _pair((None, 5))
        gamma, beta = layer.gamma.numpy(), layer.beta.numpy()
        expected, mu, sigma2 = lesson_batch_norm(z, gamma, beta, 1e-3)
        old_mean, old_var = layer.moving_mean.numpy(), layer.moving_variance.numpy()
        np.testing.assert_allclose(numpy(layer(z, training=True)), expected, rtol=1e-12)
        # The moving statistics are exponentially weighted averages with beta = momentum.
        np.testing.assert_allclose(layer.moving_mean, 0.9 * old_mean + 0.1 * mu, rtol=1e-12)
        np.testing.assert_allclose(layer.moving_variance, 0.9 * old_var + 0.1 * sigma2, rtol=1e-12)

    @pytest.mark.parametrize("shape, axis", [((16, 6), -1), ((8, 5, 5, 3), -1), ((8, 3, 4, 4), 1)])
    def test_matches_keras_over_several_steps_then_at_inference(self, shape, axis):
        # Keras' BatchNormalization computes in float32 outside TensorFlow (tests/backends/gaps.py).
        rtol, atol = rtol64(1e-10), atol64(1e-12)
        ours, theirs = _pair((None, *shape[1:]), axis=axis)
        rng = np.random.default_rng(2)
        for _ in range(5):
            batch = rng.normal(1.0, 2.0, size=shape)
            np.testing.assert_allclose(
                numpy(ours(batch, training=True)), numpy(theirs(batch, training=True)), rtol=rtol, atol=atol
            )
        np.testing.assert_allclose(ours.moving_mean, theirs.moving_mean, rtol=rtol64(1e-12))
        np.testing.assert_allclose(ours.moving_variance, theirs.moving_variance, rtol=rtol64(1e-12))
        test_batch = rng.normal(size=shape)
        np.testing.assert_allclose(
            numpy(ours(test_batch)), numpy(theirs(test_batch, training=False)), rtol=rtol, atol=atol
        )

    def test_gradients_match_keras(self):
        ours, theirs = _pair((None, 4))
        z = np.random.default_rng(3).normal(size=(10, 4))
        upstream = np.random.default_rng(4).normal(size=(10, 4))
        grads = []
        for layer in (ours, theirs):
            moving = [variable.value for variable in layer.non_trainable_variables]

            def objective(z, gamma, beta, layer=layer, moving=moving):
                outputs, _ = layer.stateless_call([gamma, beta], moving, z, training=True)
                return ops.sum(ops.multiply(outputs, upstream))

            _, gradients = value_and_gradients(objective, [z, *[numpy(w) for w in layer.trainable_weights]])
            grads.append(gradients)
        for g_ours, g_theirs in zip(*grads, strict=True):
            np.testing.assert_allclose(g_ours, g_theirs, rtol=rtol64(1e-9), atol=atol64(1e-12))

    def test_input_gradient_matches_numerical_differences(self):
        layer, _ = _pair((None, 3))
        z = np.random.default_rng(5).normal(size=(6, 3))
        weights = [[variable.value for variable in variables]
                   for variables in (layer.trainable_variables, layer.non_trainable_variables)]  # fmt: skip
        theoretical, numerical = compute_gradient(
            lambda t: layer.stateless_call(*weights, t, training=True)[0], [z]
        )
        np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-6)

    def test_frozen_layer_runs_in_inference_mode(self):
        layer, _ = _pair((None, 4))
        layer.trainable = False
        z = np.random.default_rng(6).normal(size=(8, 4))
        mean_before = layer.moving_mean.numpy()
        np.testing.assert_allclose(numpy(layer(z, training=True)), numpy(layer(z, training=False)))
        np.testing.assert_array_equal(layer.moving_mean, mean_before)

    @keras_optimizer_not_allowlisted
    def test_fit_updates_moving_statistics_and_round_trips(self, tmp_path):
        rng = np.random.default_rng(7)
        x = rng.normal(3.0, 2.0, size=(64, 4)).astype("float32")
        y = rng.normal(size=(64, 1)).astype("float32")
        model = keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(6, use_bias=False), BatchNorm(), keras.layers.Dense(1)]
        )
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, y, epochs=2, batch_size=16, verbose=0)
        bn = model.layers[1]
        assert not np.allclose(bn.moving_mean, 0.0)
        loaded = reload(model, tmp_path)
        np.testing.assert_array_equal(loaded.layers[1].moving_variance, bn.moving_variance)
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
        assert loaded.layers[1].get_config() == bn.get_config()

    @pytest.mark.parametrize("momentum", [1.0, -0.1, "0.9"])
    def test_bad_momentum(self, momentum):
        with pytest.raises(ValueError, match="momentum must be a number in \\[0, 1\\). Received: momentum="):
            BatchNorm(momentum=momentum)

    @pytest.mark.parametrize("epsilon", [0, -1e-3])
    def test_bad_epsilon(self, epsilon):
        with pytest.raises(ValueError, match="epsilon must be a positive number. Received: epsilon="):
            BatchNorm(epsilon=epsilon)

    @pytest.mark.parametrize("name", ["center", "scale"])
    def test_bad_center_and_scale(self, name):
        with pytest.raises(ValueError, match=f"{name} must be True or False. Received: {name}="):
            BatchNorm(**{name: 1})

    def test_center_and_scale_off_match_keras(self):
        z = np.random.default_rng(8).normal(size=(16, 3))
        ours = BatchNorm(center=False, scale=False, dtype="float64")
        theirs = keras.layers.BatchNormalization(center=False, scale=False, dtype="float64")
        np.testing.assert_allclose(
            numpy(ours(z, training=True)), numpy(theirs(z, training=True)), rtol=rtol64(1e-10), atol=atol64(0)
        )
        assert [w.name for w in ours.weights] == ["moving_mean", "moving_variance"]

    def test_bad_axis(self):
        with pytest.raises(ValueError, match="axis must be an integer. Received: axis="):
            BatchNorm(axis=[1, 2])
        with pytest.raises(ValueError, match="axis is out of bounds"):
            BatchNorm(axis=4).build((None, 3))
