"""The NumPy training loop: Adam beats plain gradient descent on the assignment's moons problem."""

import numpy as np
import pytest

from kerasdl.scratch import deep_nn
from kerasdl.scratch.train import train


def moons(m=300, noise=0.2, seed=3):
    """Two interleaved half circles, the Course 2, Week 2 assignment's data set, [2, m] and [1, m]."""
    rng = np.random.default_rng(seed)
    angles = rng.uniform(0, np.pi, m // 2)
    upper = np.c_[np.cos(angles), np.sin(angles)]
    lower = np.c_[1 - np.cos(angles), 0.5 - np.sin(angles)]
    X = np.r_[upper, lower] + noise * rng.standard_normal((m, 2))
    Y = np.r_[np.zeros(m // 2), np.ones(m // 2)]
    return X.T, Y[None]


class TestTrain:
    def test_adam_beats_gradient_descent_at_the_same_learning_rate(self):
        # The assignment's setting: [2, 5, 2, 1], alpha = 0.0007, mini-batches of 64.
        X, Y = moons()
        results = {}
        for optimizer in ("gd", "adam"):
            parameters, costs = train(
                X, Y, [2, 5, 2, 1], optimizer=optimizer, learning_rate=0.0007, num_epochs=800
            )
            results[optimizer] = (costs, np.mean(deep_nn.predict(X, parameters) == Y))
        gd_costs, gd_accuracy = results["gd"]
        adam_costs, adam_accuracy = results["adam"]
        assert adam_costs[-1] < 0.5 * gd_costs[-1]
        assert adam_accuracy > 0.9 > gd_accuracy
        assert adam_costs[-1] < adam_costs[0]

    @pytest.mark.parametrize("optimizer", ["momentum", "rmsprop"])
    def test_other_optimizers_learn_with_l2_and_dropout(self, optimizer):
        X, Y = moons(200)
        parameters, costs = train(X, Y, [2, 16, 8, 1], optimizer=optimizer, learning_rate=0.01 if optimizer ==
                                  "rmsprop" else 0.1, num_epochs=150, lambd=0.01, keep_prob=0.9)  # fmt: skip
        assert np.mean(costs[-10:]) < 0.7 * costs[0]
        assert np.mean(deep_nn.predict(X, parameters) == Y) > 0.8

    def test_seed_reproduces(self):
        X, Y = moons(64)
        first, _ = train(X, Y, [2, 4, 1], num_epochs=5, keep_prob=0.8, seed=7)
        again, _ = train(X, Y, [2, 4, 1], num_epochs=5, keep_prob=0.8, seed=7)
        for key in first:
            np.testing.assert_array_equal(first[key], again[key])

    def test_bad_optimizer(self):
        X, Y = moons(8)
        with pytest.raises(ValueError, match="Received: optimizer='sgd'"):
            train(X, Y, [2, 1], optimizer="sgd")
