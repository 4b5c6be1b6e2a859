"""GloVe in NumPy: the weighting function, the weighted least-squares cost and its gradients.

Course 5, Week 2 ("GloVe word vectors"; Pennington, Socher and Manning
2014). The oracle of `kerasdl.nn.glove`, written independently of it: a
plain loop over the nonzero co-occurrence counts X_ij.

    J = sum_{i,j: X_ij > 0} f(X_ij) (w_i . w~_j + b_i + b~_j - log X_ij)^2

    f(x) = (x / x_max)^alpha  if x < x_max,  else 1      (x_max = 100, alpha = 3/4 in the paper)

With e_ij = w_i . w~_j + b_i + b~_j - log X_ij, each term adds
2 f(X_ij) e_ij w~_j to dJ/dw_i, 2 f(X_ij) e_ij w_i to dJ/dw~_j, and
2 f(X_ij) e_ij to dJ/db_i and dJ/db~_j.
"""

from __future__ import annotations

import math

import numpy as np


def weighting(x: float, x_max: float = 100.0, alpha: float = 0.75) -> float:
    """f(x) of one count: (x / x_max)^alpha below x_max, 1 from x_max on; f(0) = 0."""
    if x >= x_max:
        return 1.0
    return (x / x_max) ** alpha


def cost_and_gradients(
    w: np.ndarray,
    w_tilde: np.ndarray,
    b: np.ndarray,
    b_tilde: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    counts: np.ndarray,
    x_max: float = 100.0,
    alpha: float = 0.75,
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """J over the listed nonzero entries X[rows[n], cols[n]] = counts[n], and dJ/dw, dJ/dw~, dJ/db, dJ/db~.

    Args:
        w, w_tilde: word and context vectors [V, d].
        b, b_tilde: biases [V].
        rows, cols, counts: the nonzero entries of X, one per index n (counts > 0).
    """
    d_w, d_w_tilde = np.zeros(w.shape), np.zeros(w_tilde.shape)
    d_b, d_b_tilde = np.zeros(b.shape), np.zeros(b_tilde.shape)
    cost = 0.0
    for i, j, x in zip(rows.tolist(), cols.tolist(), counts.tolist(), strict=True):
        if x <= 0:
            raise ValueError(f"every listed count must be positive. Received: X[{i}, {j}] = {x}")
        error = float(np.dot(w[i], w_tilde[j])) + b[i] + b_tilde[j] - math.log(x)
        f = weighting(x, x_max, alpha)
        cost += f * error**2
        d_w[i] += 2 * f * error * w_tilde[j]
        d_w_tilde[j] += 2 * f * error * w[i]
        d_b[i] += 2 * f * error
        d_b_tilde[j] += 2 * f * error
    return cost, d_w, d_w_tilde, d_b, d_b_tilde
