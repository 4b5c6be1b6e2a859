"""Random mini-batches: every example exactly once, the right last-batch size, X and Y kept together."""

import numpy as np
import pytest

from kerasdl.scratch.mini_batches import random_mini_batches


class TestRandomMiniBatches:
    @pytest.mark.parametrize("m, size", [(148, 64), (128, 64), (5, 64), (1, 1), (10, 3)])
    def test_partition_covers_every_example_once(self, m, size):
        X = np.arange(2 * m, dtype=np.float64).reshape(2, m)  # column j holds (j, m + j)
        Y = np.arange(m).reshape(1, m)
        batches = random_mini_batches(X, Y, size, seed=3)
        sizes = [x.shape[1] for x, _ in batches]
        assert len(batches) == -(-m // size)
        assert all(s == size for s in sizes[:-1])
        assert sizes[-1] == (m % size or size)
        seen = np.concatenate([y.ravel() for _, y in batches])
        np.testing.assert_array_equal(np.sort(seen), np.arange(m))
        for x, y in batches:  # the same permutation for X and Y
            np.testing.assert_array_equal(x[0], y[0])
            np.testing.assert_array_equal(x[1], y[0] + m)

    def test_shuffles_and_seed_reproduces(self):
        X, Y = np.zeros((1, 100)), np.arange(100).reshape(1, 100)
        first = np.concatenate([y.ravel() for _, y in random_mini_batches(X, Y, 32, seed=0)])
        again = np.concatenate([y.ravel() for _, y in random_mini_batches(X, Y, 32, seed=0)])
        other = np.concatenate([y.ravel() for _, y in random_mini_batches(X, Y, 32, seed=1)])
        np.testing.assert_array_equal(first, again)
        assert not np.array_equal(first, np.arange(100)) and not np.array_equal(first, other)

    def test_bad_size(self):
        with pytest.raises(ValueError, match="Received: mini_batch_size=0"):
            random_mini_batches(np.zeros((1, 4)), np.zeros((1, 4)), 0)

    def test_mismatched_columns(self):
        with pytest.raises(ValueError, match="same number of columns"):
            random_mini_batches(np.zeros((1, 4)), np.zeros((1, 5)), 2)
