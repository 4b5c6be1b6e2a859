"""Gradient checking on the flattened parameter vector, in NumPy.

Course 2, Week 1 ("Numerical approximation of gradients", "Gradient
checking", "Gradient checking implementation notes").

Reshape W1, b1, ..., WL, bL into one vector theta (and dW1, ..., dbL into
d_theta the same way). For each i, the two-sided difference

    d_theta_approx[i] = (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps),  eps = 1e-7

and then

    difference = ||d_theta - d_theta_approx||_2 / (||d_theta||_2 + ||d_theta_approx||_2)

The lesson's guidance, returned as `verdict`: about 1e-7 or less is great
("fine"); around 1e-5 double-check the components ("check"); 1e-3 or more,
worry: there is very likely a bug ("worry"). Implementation notes from the
lesson: use it to debug, not in training; include the regularization term in
J; turn dropout off (or fix its mask); check at random initialization.

Example:

    result = gradient_check(lambda p: cost_of(p), parameters, grads)
    result.difference, result.verdict        # 2.1e-09, "fine"
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

FINE = 1e-7
WORRY = 1e-3

Layout = list[tuple[str, tuple[int, ...]]]


def verdict(difference: float) -> str:
    """ "fine" below about 1e-7, "worry" at 1e-3 and above, "check" in between."""
    if not np.isfinite(difference):
        return "worry"
    if difference <= FINE:
        return "fine"
    if difference < WORRY:
        return "check"
    return "worry"


def relative_difference(grad: np.ndarray, grad_approx: np.ndarray) -> float:
    """||g - g_approx|| / (||g|| + ||g_approx||); 0 when both are zero."""
    numerator = np.linalg.norm(np.ravel(grad) - np.ravel(grad_approx))
    denominator = np.linalg.norm(np.ravel(grad)) + np.linalg.norm(np.ravel(grad_approx))
    return float(numerator / denominator) if denominator > 0 else 0.0


@dataclass(frozen=True)
class GradientCheckResult:
    """The outcome of a gradient check.

    Attributes:
        difference: the relative difference of the analytic and numeric gradients.
        verdict: "fine", "check" or "worry" (see `verdict`).
        grad: the analytic gradient of the checked elements.
        grad_approx: the two-sided numeric gradient of the same elements.
        num_checked: how many parameter elements were perturbed.
    """

    difference: float
    verdict: str
    grad: np.ndarray
    grad_approx: np.ndarray
    num_checked: int

    @property
    def passed(self) -> bool:
        return self.verdict == "fine"

    def __str__(self) -> str:
        return (
            f"gradient check: difference {self.difference:.3e} "
            f"over {self.num_checked} elements ({self.verdict})"
        )


def default_layout(parameters: Mapping[str, np.ndarray]) -> Layout:
    """The lesson's order W1, b1, W2, b2, ... (other keys after, sorted) with their shapes."""

    def order(key: str) -> tuple:
        if key[:1] in ("W", "b") and key[1:].isdigit():
            return (0, int(key[1:]), key[0] != "W")
        return (1, 0, key)

    return [(key, np.shape(parameters[key])) for key in sorted(parameters, key=order)]


def dictionary_to_vector(
    parameters: Mapping[str, np.ndarray], layout: Layout | None = None
) -> tuple[np.ndarray, Layout]:
    """Flattens the parameters into one column vector theta [n, 1]; returns (theta, layout)."""
    layout = layout or default_layout(parameters)
    theta = np.concatenate([np.reshape(parameters[key], -1).astype(np.float64) for key, _ in layout])
    return theta.reshape(-1, 1), layout


def vector_to_dictionary(theta: np.ndarray, layout: Layout) -> dict[str, np.ndarray]:
    """The inverse of `dictionary_to_vector`."""
    theta = np.ravel(theta)
    expected = sum(int(np.prod(shape)) for _, shape in layout)
    if theta.size != expected:
        raise ValueError(f"theta has {theta.size} elements but the layout needs {expected}")
    parameters, start = {}, 0
    for key, shape in layout:
        size = int(np.prod(shape))
        parameters[key] = theta[start : start + size].reshape(shape)
        start += size
    return parameters


def gradients_to_vector(grads: Mapping[str, np.ndarray], layout: Layout) -> np.ndarray:
    """Flattens grads["dW1"], grads["db1"], ... in the parameters' order into [n, 1]."""
    return np.concatenate([np.reshape(grads[f"d{key}"], -1).astype(np.float64) for key, _ in layout]).reshape(
        -1, 1
    )


def numerical_gradient(
    cost: Callable[[np.ndarray], float],
    theta: np.ndarray,
    epsilon: float = 1e-7,
    indices: Sequence[int] | None = None,
) -> np.ndarray:
    """Two-sided differences (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps) at `indices` (or all)."""
    if epsilon <= 0:
        raise ValueError(f"epsilon must be positive. Received: epsilon={epsilon}")
    theta = np.ravel(theta).astype(np.float64)
    indices = range(theta.size) if indices is None else indices
    approx = np.zeros(len(indices))
    for n, i in enumerate(indices):
        plus, minus = theta.copy(), theta.copy()
        plus[i] += epsilon
        minus[i] -= epsilon
        approx[n] = (cost(plus) - cost(minus)) / (2.0 * epsilon)
    return approx


def gradient_check(
    cost: Callable[[dict[str, np.ndarray]], float],
    parameters: Mapping[str, np.ndarray],
    grads: Mapping[str, np.ndarray],
    epsilon: float = 1e-7,
    layout: Layout | None = None,
) -> GradientCheckResult:
    """Compares `grads` with the numeric gradient of `cost` at `parameters`.

    Args:
        cost: J as a function of a parameter dict (same keys and shapes).
            Include the regularization term; fix any dropout mask.
        parameters: where to check, e.g. {"W1": ..., "b1": ..., ...}.
        grads: the analytic gradients to check, {"dW1": ..., "db1": ...}.
        epsilon: the perturbation, 1e-7 in the lesson.
        layout: the order of the flattened vector (default W1, b1, W2, ...).

    Returns:
        A `GradientCheckResult`.
    """
    theta, layout = dictionary_to_vector(parameters, layout)
    grad = gradients_to_vector(grads, layout).ravel()
    approx = numerical_gradient(lambda vector: cost(vector_to_dictionary(vector, layout)), theta, epsilon)
    difference = relative_difference(grad, approx)
    return GradientCheckResult(difference, verdict(difference), grad, approx, theta.size)
