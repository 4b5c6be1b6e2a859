"""Gradient checking itself: the flattening round trip, the formula, the verdicts."""

import numpy as np
import pytest

from kerasdl.scratch import gradient_check


class TestVectorRoundTrip:
    def test_dictionary_to_vector_and_back(self):
        rng = np.random.default_rng(0)
        parameters = {
            "b2": rng.random((1, 1)),
            "W1": rng.random((3, 2)),
            "W2": rng.random((1, 3)),
            "b1": rng.random((3, 1)),
        }
        theta, layout = gradient_check.dictionary_to_vector(parameters)
        assert [key for key, _ in layout] == ["W1", "b1", "W2", "b2"]  # the lesson's order
        assert theta.shape == (13, 1)
        np.testing.assert_array_equal(theta[:6, 0], parameters["W1"].ravel())
        back = gradient_check.vector_to_dictionary(theta, layout)
        for key in parameters:
            np.testing.assert_array_equal(back[key], parameters[key])

    def test_gradients_follow_the_parameter_order(self):
        parameters = {"W1": np.zeros((2, 2)), "b1": np.zeros((2, 1))}
        grads = {"db1": np.array([[5.0], [6.0]]), "dW1": np.array([[1.0, 2.0], [3.0, 4.0]])}
        _, layout = gradient_check.dictionary_to_vector(parameters)
        np.testing.assert_array_equal(
            gradient_check.gradients_to_vector(grads, layout).ravel(), [1, 2, 3, 4, 5, 6]
        )

    def test_wrong_length(self):
        _, layout = gradient_check.dictionary_to_vector({"W1": np.zeros((2, 2))})
        with pytest.raises(ValueError, match="5 elements"):
            gradient_check.vector_to_dictionary(np.zeros(5), layout)


class TestFormula:
    def test_relative_difference(self):
        # ||(3,4) - (0,0)|| / (5 + 0) = 1; and the lesson's normalisation by both norms.
        assert gradient_check.relative_difference(np.array([3.0, 4.0]), np.zeros(2)) == 1.0
        assert gradient_check.relative_difference(
            np.array([1.0, 0.0]), np.array([0.0, 1.0])
        ) == pytest.approx(np.sqrt(2) / 2)
        assert gradient_check.relative_difference(np.zeros(3), np.zeros(3)) == 0.0

    def test_lesson_one_dimensional_example(self):
        # Course 2, Week 1: J = theta^3 at theta = 1 with eps = 0.01 gives 3.0001 two-sided (error 1e-4),
        # while the one-sided difference is 3.0301.
        approx = gradient_check.numerical_gradient(lambda t: float(t[0] ** 3), np.array([1.0]), epsilon=0.01)
        assert approx[0] == pytest.approx(3.0001, abs=1e-10)

    @pytest.mark.parametrize(
        "difference, expected",
        [(1e-9, "fine"), (1e-7, "fine"), (1e-5, "check"), (5e-4, "check"), (1e-3, "worry"), (0.5, "worry"),
         (float("nan"), "worry")],
    )  # fmt: skip
    def test_verdicts(self, difference, expected):
        assert gradient_check.verdict(difference) == expected

    def test_quadratic_passes_and_wrong_gradient_fails(self):
        A = np.array([[2.0, 1.0], [1.0, 3.0]])

        def cost(p):
            w = p["w"]
            return (0.5 * w.T @ A @ w).item()

        parameters = {"w": np.array([[0.3], [-0.7]])}
        right = gradient_check.gradient_check(cost, parameters, {"dw": A @ parameters["w"]})
        wrong = gradient_check.gradient_check(cost, parameters, {"dw": A.T @ A @ parameters["w"]})
        assert right.passed and right.difference < 1e-7
        assert wrong.verdict == "worry" and not wrong.passed
        assert right.num_checked == 2

    def test_bad_epsilon(self):
        with pytest.raises(ValueError, match="Received: epsilon=0"):
            gradient_check.numerical_gradient(lambda t: 0.0, np.zeros(2), epsilon=0)
