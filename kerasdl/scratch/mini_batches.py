"""Random mini-batches: shuffle, then partition, in NumPy.

Course 2, Week 2 ("Mini-batch gradient descent"). Two steps, as the lesson
writes them:

1. Shuffle X and Y with the same permutation of the m columns.
2. Partition into floor(m / size) batches of `size` columns, plus one last
   batch of the m - size * floor(m / size) columns left over (if any).

Every example lands in exactly one batch per epoch. Layout: X is
[n_x, m] and Y is [n_y, m], column-major as in the lessons.

Example:

    for X_batch, Y_batch in random_mini_batches(X, Y, mini_batch_size=64, seed=epoch):
        ...
"""

from __future__ import annotations

import numpy as np


def random_mini_batches(
    X: np.ndarray, Y: np.ndarray, mini_batch_size: int = 64, seed: int | None = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffles the columns of (X, Y) and cuts them into mini-batches.

    Args:
        X: inputs [n_x, m].
        Y: labels [n_y, m].
        mini_batch_size: columns per batch (powers of two: 64, 128, 256, 512).
        seed: seed of the shuffle (use a different one per epoch); None for
            fresh entropy.

    Returns:
        A list of (X_batch, Y_batch); all batches have `mini_batch_size`
        columns except possibly the last, which has m % mini_batch_size.
    """
    if mini_batch_size < 1:
        raise ValueError(
            f"mini_batch_size must be a positive integer. Received: mini_batch_size={mini_batch_size}"
        )
    m = X.shape[1]
    if Y.shape[1] != m:
        raise ValueError(f"X and Y must have the same number of columns. Received: X {X.shape}, Y {Y.shape}")
    permutation = np.random.default_rng(seed).permutation(m)
    X_shuffled, Y_shuffled = X[:, permutation], Y[:, permutation]
    return [
        (X_shuffled[:, start : start + mini_batch_size], Y_shuffled[:, start : start + mini_batch_size])
        for start in range(0, m, mini_batch_size)
    ]
