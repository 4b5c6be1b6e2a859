"""Vectorized logistic regression: gradients against the numeric gradient, learning a separable problem."""

import numpy as np
import pytest

from kerasdl.scratch import gradient_check, logistic_regression


def _separable(m=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((2, m))
    Y = (X[0:1] + 2 * X[1:2] > 0.25).astype(np.float64)
    return X, Y


class TestLogisticRegression:
    def test_gradients_match_numeric_gradient(self):
        X, Y = _separable(30)
        rng = np.random.default_rng(1)
        parameters = {"w": rng.standard_normal((2, 1)), "b": np.array(0.3)}

        def cost(p):
            return logistic_regression.cost(logistic_regression.forward(p["w"], float(p["b"]), X), Y)

        grads, J = logistic_regression.propagate(parameters["w"], 0.3, X, Y)
        assert J == pytest.approx(cost(parameters))
        result = gradient_check.gradient_check(
            cost, parameters, {"dw": grads["dw"], "db": np.array(grads["db"])}
        )
        assert result.difference < 1e-7, str(result)

    def test_lesson_propagate_example(self):
        # The Course 1, Week 2 assignment's worked example for propagate().
        w, b = np.array([[1.0], [2.0]]), 2.0
        X, Y = np.array([[1.0, 2.0, -1.0], [3.0, 4.0, -3.2]]), np.array([[1, 0, 1]])
        grads, J = logistic_regression.propagate(w, b, X, Y)
        np.testing.assert_allclose(grads["dw"], [[0.99845601], [2.39507239]], rtol=1e-7)
        assert grads["db"] == pytest.approx(0.00145557813678, rel=1e-7)
        assert J == pytest.approx(5.801545319394553, rel=1e-9)

    def test_learns_a_separable_problem(self):
        X, Y = _separable()
        w, b = logistic_regression.initialize(2)
        assert np.mean(logistic_regression.predict(w, b, X) == Y) < 0.7
        w, b, costs = logistic_regression.gradient_descent(w, b, X, Y, num_iterations=2000, learning_rate=0.5)
        assert np.mean(logistic_regression.predict(w, b, X) == Y) >= 0.98
        assert costs[-1] < 0.25 * costs[0]
        assert all(later <= earlier + 1e-12 for earlier, later in zip(costs, costs[1:], strict=False))
        # The learned boundary points along the true normal (1, 2).
        direction = w.ravel() / np.linalg.norm(w)
        assert direction @ np.array([1, 2]) / np.sqrt(5) > 0.95

    def test_bad_learning_rate(self):
        X, Y = _separable(4)
        with pytest.raises(ValueError, match="Received: learning_rate=-1"):
            logistic_regression.gradient_descent(np.zeros((2, 1)), 0.0, X, Y, learning_rate=-1)
