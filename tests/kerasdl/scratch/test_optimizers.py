"""The lesson's momentum, RMSprop and Adam against the Keras built-ins, under the exact stated relations."""

import keras
import numpy as np
import pytest

from kerasdl.scratch import optimizers

STEPS = 60
# Keras keeps the learning rate in a float32 variable: powers of two make it exact, so the
# comparisons below can be float64-tight.
ALPHA = 2.0**-5
# Keras' Adam also rounds beta_1 and beta_2 through float32 (ops.cast of a Python float) before
# taking beta^t: these betas, next to the defaults 0.9 and 0.999, are exact in float32.
BETA1, BETA2 = 1 - 2.0**-3, 1 - 2.0**-10


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    parameters = {"W1": rng.standard_normal((3, 4)), "b1": rng.standard_normal((3, 1))}
    # Gradients of very different scales, including one near zero, so epsilon matters.
    scales = {"W1": 1.0, "b1": 1e-4}
    grads = [
        {f"d{key}": rng.standard_normal(value.shape) * scales[key] for key, value in parameters.items()}
        for _ in range(STEPS)
    ]
    return parameters, grads


def _run_keras(optimizer, parameters, grads):
    variables = [keras.Variable(parameters[key], dtype="float64") for key in parameters]
    for step in grads:
        optimizer.apply([keras.ops.convert_to_tensor(step[f"d{key}"]) for key in parameters], variables)
    return (
        {key: np.asarray(variable) for key, variable in zip(parameters, variables, strict=True)},
        optimizer,
        variables,
    )


class TestMomentum:
    def test_matches_keras_sgd_with_scaled_learning_rate(self):
        alpha, beta = ALPHA, 0.875
        parameters, grads = _problem()
        velocity = optimizers.zeros_like_grads(parameters)
        ours = parameters
        for step in grads:
            ours, velocity = optimizers.momentum_update(ours, step, velocity, beta=beta, learning_rate=alpha)
        # Keras: m := beta m - lr g; W += m. With lr = alpha (1 - beta), m = -alpha v_lesson.
        keras_optimizer = keras.optimizers.SGD(learning_rate=alpha * (1 - beta), momentum=beta)
        theirs, optimizer, variables = _run_keras(keras_optimizer, parameters, grads)
        for key in parameters:
            np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-10, atol=1e-12)
        slots = {key: np.asarray(optimizer.momentums[i]) for i, key in enumerate(parameters)}
        for key in parameters:
            np.testing.assert_allclose(slots[key], -alpha * velocity[f"d{key}"], rtol=1e-10, atol=1e-14)

    def test_same_learning_rate_differs_by_the_missing_factor(self):
        # Without rescaling, Keras' steps are 1 / (1 - beta) = 10 times larger: the relation is not vacuous.
        parameters, grads = _problem()
        velocity = optimizers.zeros_like_grads(parameters)
        ours = parameters
        for step in grads[:5]:
            ours, velocity = optimizers.momentum_update(ours, step, velocity, beta=0.9, learning_rate=0.05)
        theirs, _, _ = _run_keras(
            keras.optimizers.SGD(learning_rate=0.05, momentum=0.9), parameters, grads[:5]
        )
        assert not np.allclose(ours["W1"], theirs["W1"], rtol=1e-3)


class TestRMSprop:
    def test_matches_keras_rmsprop_with_epsilon_inside_sqrt(self):
        alpha, beta, epsilon = ALPHA, 0.9, 1e-7
        parameters, grads = _problem(1)
        squares = optimizers.zeros_like_grads(parameters)
        ours = parameters
        for step in grads:
            ours, squares = optimizers.rmsprop_update(
                ours, step, squares, beta, alpha, epsilon, epsilon_inside_sqrt=True
            )
        # Keras 3's RMSprop divides by sqrt(s + eps), the handwritten notes' form.
        keras_optimizer = keras.optimizers.RMSprop(learning_rate=alpha, rho=beta, epsilon=epsilon)
        theirs, _, _ = _run_keras(keras_optimizer, parameters, grads)
        for key in parameters:
            np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-10, atol=1e-12)

    def test_epsilon_inside_sqrt_is_a_different_update(self):
        parameters, grads = _problem(1)
        squares = optimizers.zeros_like_grads(parameters)
        outside, _ = optimizers.rmsprop_update(parameters, grads[0], squares, 0.9, 0.01, 1e-7)
        inside, _ = optimizers.rmsprop_update(
            parameters, grads[0], squares, 0.9, 0.01, 1e-7, epsilon_inside_sqrt=True
        )
        # The bias gradients (~1e-4) are small enough for the placement to matter.
        assert not np.allclose(outside["b1"], inside["b1"], rtol=1e-6)


class TestAdam:
    def test_matches_keras_adam_with_epsilon_hat(self):
        alpha, beta1, beta2, epsilon_hat = ALPHA, BETA1, BETA2, 1e-7
        parameters, grads = _problem(2)
        velocity = optimizers.zeros_like_grads(parameters)
        squares = optimizers.zeros_like_grads(parameters)
        ours = parameters
        for t, step in enumerate(grads, start=1):
            # Keras divides by sqrt(s) + eps_hat before its bias correction: the lesson's eps at step t.
            epsilon_t = epsilon_hat / np.sqrt(1 - beta2**t)
            ours, velocity, squares = optimizers.adam_update(
                ours, step, velocity, squares, t, alpha, beta1, beta2, epsilon_t
            )
        keras_optimizer = keras.optimizers.Adam(
            learning_rate=alpha, beta_1=beta1, beta_2=beta2, epsilon=epsilon_hat
        )
        theirs, optimizer, _ = _run_keras(keras_optimizer, parameters, grads)
        for key in parameters:
            np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-10, atol=1e-12)
        # The stored moments are the uncorrected v and s.
        for i, key in enumerate(parameters):
            np.testing.assert_allclose(np.asarray(optimizer._momentums[i]), velocity[f"d{key}"], rtol=1e-10)
            np.testing.assert_allclose(np.asarray(optimizer._velocities[i]), squares[f"d{key}"], rtol=1e-10)

    def test_first_step_is_alpha_times_sign(self):
        # With bias correction, step 1 is alpha * g / (|g| + eps): about alpha * sign(g), whatever g's scale.
        parameters = {"w": np.array([[1.0, -2.0]])}
        grads = {"dw": np.array([[3.0, -1e-3]])}
        zeros = optimizers.zeros_like_grads(parameters)
        updated, _, _ = optimizers.adam_update(
            parameters, grads, zeros, zeros, 1, learning_rate=0.1, epsilon=0
        )
        np.testing.assert_allclose(updated["w"], [[0.9, -1.9]])

    @pytest.mark.parametrize("t", [0, -1])
    def test_rejects_step_zero(self, t):
        zeros = optimizers.zeros_like_grads({"w": np.zeros(2)})
        with pytest.raises(ValueError, match="Received: t="):
            optimizers.adam_update({"w": np.zeros(2)}, zeros, zeros, zeros, t)


class TestArguments:
    def test_bad_beta(self):
        with pytest.raises(ValueError, match="Received: beta=1.0"):
            optimizers.momentum_update({}, {}, {}, beta=1.0)

    def test_bad_learning_rate(self):
        with pytest.raises(ValueError, match="Received: learning_rate=0"):
            optimizers.gradient_descent_update({}, {}, learning_rate=0)

    def test_gradient_descent_does_not_mutate(self):
        parameters = {"W1": np.ones((2, 2))}
        updated = optimizers.gradient_descent_update(parameters, {"dW1": np.ones((2, 2))}, 0.5)
        np.testing.assert_array_equal(parameters["W1"], np.ones((2, 2)))
        np.testing.assert_array_equal(updated["W1"], np.full((2, 2), 0.5))
