"""L2 regularization and inverted dropout, forward and backward, in NumPy.

Course 2, Week 1 ("Regularization", "Dropout regularization").

L2 ("weight decay"), on the weights only, never the biases:

    J_regularized = J + lambda / (2 m) * sum_l ||W[l]||_F^2
    dW[l]        += lambda / m * W[l]

where ||W||_F^2 = sum_ij W_ij^2 is the squared Frobenius norm.

Inverted dropout, on a layer's activations during training only:

    D = rand(A.shape) < keep_prob       the mask, kept in the cache
    A = A * D / keep_prob                keeps E[A] unchanged
    dA = dA * D / keep_prob              the same mask in back-propagation

At test time nothing is dropped and nothing is scaled.
"""

from __future__ import annotations

import numpy as np


def _weight_keys(parameters: dict[str, np.ndarray]) -> list[str]:
    return sorted((key for key in parameters if key.startswith("W")), key=lambda key: int(key[1:]))


def l2_cost(parameters: dict[str, np.ndarray], lambd: float, m: int) -> float:
    """lambda / (2 m) * sum of the squared Frobenius norms of W1..WL."""
    if lambd == 0:
        return 0.0
    return float(
        lambd / (2.0 * m) * sum(np.sum(np.square(parameters[key])) for key in _weight_keys(parameters))
    )


def l2_gradient(W: np.ndarray, lambd: float, m: int) -> np.ndarray:
    """The regularization term lambda / m * W added to dW."""
    return (lambd / m) * W


def dropout_mask(shape: tuple[int, ...], keep_prob: float, rng: np.random.Generator) -> np.ndarray:
    """The lesson's mask `np.random.rand(*shape) < keep_prob` (booleans)."""
    return rng.random(shape) < keep_prob


def dropout_forward(A: np.ndarray, mask: np.ndarray, keep_prob: float) -> np.ndarray:
    """A * D / keep_prob: inverted dropout with a given mask."""
    _check_keep_prob(keep_prob)
    return A * mask / keep_prob


def dropout_backward(dA: np.ndarray, mask: np.ndarray, keep_prob: float) -> np.ndarray:
    """dA * D / keep_prob: the same neurons are shut down in the backward pass."""
    _check_keep_prob(keep_prob)
    return dA * mask / keep_prob


def _check_keep_prob(keep_prob: float) -> None:
    if not 0 < keep_prob <= 1:
        raise ValueError(f"keep_prob must be in (0, 1]. Received: keep_prob={keep_prob}")
