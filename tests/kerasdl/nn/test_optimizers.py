"""kerasdl.nn.optimizers against the NumPy reference and the Keras built-ins, over 100 steps.

The problem: least squares on a fixed random data set, one float64 weight
matrix W and bias b, full-batch gradients. Each optimizer follows its own
trajectory; trajectories are compared at every step.

Keras keeps the learning rate in a float32 variable and casts some
hyperparameters through float32, so the rates and betas below are exact
binary fractions (0.0625, 0.875, ...): then float64 trajectories agree to
~1e-12 and any real difference in the update rule shows.
"""

import keras
import numpy as np
import pytest
from keras import ops

from kerasdl.nn import optimizers, schedules
from kerasdl.scratch import optimizers as reference
from tests.saving import reload

STEPS = 100
RNG = np.random.default_rng(0)
X = RNG.normal(size=(32, 5))
Y = X @ RNG.normal(size=(5, 2)) + 0.1 * RNG.normal(size=(32, 2))
W0, B0 = RNG.normal(size=(5, 2)), np.zeros((2,))


def numpy_gradients(W, b):
    """d/dW and d/db of mean((X W + b - Y)^2), in NumPy."""
    residual = X @ W + b - Y
    scale = 2.0 / residual.size
    return scale * X.T @ residual, scale * residual.sum(axis=0)


def keras_trajectory(optimizer, steps=STEPS):
    """[(W, b)] after each step of `optimizer` on the least-squares problem."""
    W, b = keras.Variable(W0, dtype="float64"), keras.Variable(B0, dtype="float64")
    path = []
    for _ in range(steps):
        dW, db = numpy_gradients(W.numpy(), b.numpy())
        optimizer.apply_gradients([(ops.convert_to_tensor(dW), W), (ops.convert_to_tensor(db), b)])
        path.append((W.numpy().copy(), b.numpy().copy()))
    return path


def reference_trajectory(update, state_names, **hyperparameters):
    """The same problem driven by a `kerasdl.scratch.optimizers` update function."""
    parameters = {"W": W0.copy(), "b": B0.copy()}
    state = [reference.zeros_like_grads(parameters) for _ in state_names]
    path = []
    for t in range(1, STEPS + 1):
        dW, db = numpy_gradients(parameters["W"], parameters["b"])
        extra = {"t": t} if "t" in state_names else {}
        parameters, *state = update(parameters, {"dW": dW, "db": db}, *state[: len(state_names) - len(extra)],
                                    **extra, **hyperparameters)  # fmt: skip
        path.append((parameters["W"], parameters["b"]))
    return path


def assert_same_path(ours, theirs, rtol=1e-10, atol=1e-12):
    for step, ((w1, b1), (w2, b2)) in enumerate(zip(ours, theirs, strict=True)):
        np.testing.assert_allclose(w1, w2, rtol=rtol, atol=atol, err_msg=f"W after step {step + 1}")
        np.testing.assert_allclose(b1, b2, rtol=rtol, atol=atol, err_msg=f"b after step {step + 1}")


def final_loss(path):
    W, b = path[-1]
    return float(np.mean((X @ W + b - Y) ** 2))


class TestMomentum:
    def test_matches_numpy_reference(self):
        ours = keras_trajectory(optimizers.Momentum(learning_rate=0.0625, beta=0.75))
        theirs = reference_trajectory(reference.momentum_update, ["v"], beta=0.75, learning_rate=0.0625)
        assert_same_path(ours, theirs)
        assert final_loss(ours) < 0.1 * float(np.mean((X @ W0 - Y) ** 2))

    def test_equals_keras_sgd_with_lr_times_one_minus_beta(self):
        # Keras: m = beta m - lr dW, W += m. With lr = alpha (1 - beta), m_t = -alpha v_t for all t.
        ours = keras_trajectory(optimizers.Momentum(learning_rate=0.0625, beta=0.75))
        theirs = keras_trajectory(keras.optimizers.SGD(learning_rate=0.0625 * (1 - 0.75), momentum=0.75))
        assert_same_path(ours, theirs)
        # Without the rescaling the trajectories differ: the lesson's (1 - beta) factor is real.
        naive = keras_trajectory(keras.optimizers.SGD(learning_rate=0.0625, momentum=0.75), steps=3)
        assert not np.allclose(naive[0][0], ours[0][0])

    @pytest.mark.parametrize("beta", [1.0, -0.5, "0.9"])
    def test_bad_beta(self, beta):
        with pytest.raises(ValueError, match="beta must be a number in \\[0, 1\\). Received: beta="):
            optimizers.Momentum(beta=beta)


class TestRMSprop:
    def test_matches_numpy_reference_with_epsilon_inside(self):
        ours = keras_trajectory(optimizers.RMSprop(learning_rate=0.015625, beta=0.875, epsilon=1e-8))
        theirs = reference_trajectory(reference.rmsprop_update, ["s"], beta=0.875, learning_rate=0.015625,
                                      epsilon=1e-8, epsilon_inside_sqrt=True)  # fmt: skip
        assert_same_path(ours, theirs)

    def test_equals_keras_rmsprop(self):
        # Keras 3's RMSprop also divides by sqrt(s + epsilon).
        ours = keras_trajectory(optimizers.RMSprop(learning_rate=0.015625, beta=0.75, epsilon=1e-3))
        theirs = keras_trajectory(keras.optimizers.RMSprop(learning_rate=0.015625, rho=0.75, epsilon=1e-3))
        assert_same_path(ours, theirs)

    def test_bad_epsilon(self):
        with pytest.raises(ValueError, match="epsilon must be a non-negative number. Received: epsilon="):
            optimizers.RMSprop(epsilon=-1.0)


class TestAdam:
    def test_matches_numpy_reference_with_epsilon_inside(self):
        ours = keras_trajectory(optimizers.Adam(learning_rate=0.125))
        theirs = reference_trajectory(reference.adam_update, ["v", "s", "t"], learning_rate=0.125,
                                      epsilon=1e-8, epsilon_inside_sqrt=True)  # fmt: skip
        assert_same_path(ours, theirs)
        assert final_loss(ours) < 0.1 * float(np.mean((X @ W0 - Y) ** 2))

    def test_equals_keras_adam_when_epsilon_is_zero(self):
        # Keras: lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(s) + eps_hat)
        #      = lr m_hat / (sqrt(s_hat) + eps_hat / sqrt(1 - b2^t)).
        # Ours: lr m_hat / sqrt(s_hat + eps). With both epsilons zero the two are the same function.
        betas = dict(beta_1=0.875, beta_2=1 - 2**-9)
        ours = keras_trajectory(optimizers.Adam(learning_rate=0.03125, epsilon=0.0, **betas))
        theirs = keras_trajectory(keras.optimizers.Adam(learning_rate=0.03125, epsilon=0.0, **betas))
        assert_same_path(ours, theirs, rtol=1e-9)

    def test_close_to_keras_adam_with_small_epsilons(self):
        # sqrt(s) <= sqrt(s + eps) <= sqrt(s) + sqrt(eps): per step the relative difference is at most
        # sqrt(eps) / sqrt(s_hat). Here sqrt(s_hat) stays above ~1e-3 while eps = 1e-12 (sqrt 1e-6), and
        # Keras' eps_hat = 1e-9 adds at most 1e-9 / sqrt(1 - 0.999) = 3.2e-8: both ~1e-3 relative at worst.
        ours = keras_trajectory(optimizers.Adam(learning_rate=0.03125, epsilon=1e-12))
        theirs = keras_trajectory(keras.optimizers.Adam(learning_rate=0.03125, epsilon=1e-9))
        assert_same_path(ours, theirs, rtol=0, atol=STEPS * 0.03125 * 1e-3)

    def test_epsilon_inside_the_root_damps_tiny_gradients(self):
        # At t = 1, m_hat = g and s_hat = g^2, so the lesson's first step is lr g / sqrt(g^2 + eps):
        # for g = 1e-5 and eps = 1e-8 that is lr / sqrt(1 + 100) ~ lr / 10, where Keras steps ~lr.
        g = 1e-5
        for optimizer, expected in [
            (optimizers.Adam(learning_rate=0.1, epsilon=1e-8), 0.1 * g / np.sqrt(g**2 + 1e-8)),
            (
                keras.optimizers.Adam(learning_rate=0.1, epsilon=1e-8),
                0.1 * g / (g + 1e-8 / np.sqrt(1 - 0.999)),
            ),
        ]:
            w = keras.Variable(np.zeros(1), dtype="float64")
            optimizer.apply_gradients([(ops.convert_to_tensor([g], "float64"), w)])
            # Keras casts 0.999 through float32, so its 1 - beta_2 is off by 1.3e-5 relative.
            np.testing.assert_allclose(-w.numpy()[0], expected, rtol=1e-4)

    @pytest.mark.parametrize(
        "name, value", [("beta_1", 1.0), ("beta_1", -0.1), ("beta_2", 1.0), ("beta_2", 2)]
    )
    def test_bad_betas(self, name, value):
        with pytest.raises(ValueError, match=f"{name} must be a number in \\[0, 1\\). Received: {name}="):
            optimizers.Adam(**{name: value})

    def test_bad_epsilon(self):
        with pytest.raises(ValueError, match="epsilon must be a non-negative number. Received: epsilon="):
            optimizers.Adam(epsilon="small")


OPTIMIZERS = [
    lambda: optimizers.Momentum(learning_rate=0.05, beta=0.8),
    lambda: optimizers.RMSprop(learning_rate=0.01, beta=0.95),
    lambda: optimizers.Adam(
        learning_rate=schedules.InverseTimeDecay(0.02, decay_rate=0.5, steps_per_epoch=2)
    ),
]


@pytest.mark.parametrize("make", OPTIMIZERS, ids=["momentum", "rmsprop", "adam+schedule"])
def test_config_round_trip(make):
    optimizer = make()
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(restored) is type(optimizer)
    assert restored.get_config() == optimizer.get_config()


@pytest.mark.parametrize("make", OPTIMIZERS, ids=["momentum", "rmsprop", "adam+schedule"])
def test_keras_file_round_trip_continues_identically(make, tmp_path):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(32, 4)).astype("float32"), rng.normal(size=(32, 1)).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=make(), loss="mse")
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    loaded = reload(model, tmp_path)
    assert type(loaded.optimizer) is type(model.optimizer)
    assert int(loaded.optimizer.iterations) == 8
    for ours, theirs in zip(model.optimizer.variables, loaded.optimizer.variables, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    # The slot state (velocities, squares, step count, schedule) continues exactly where it was.
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    loaded.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for ours, theirs in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)
