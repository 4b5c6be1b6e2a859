"""pipelines.datasets.shuffled_batches: every example once per pass, a new seeded order per pass."""

import numpy as np

from pipelines.datasets import shuffled_batches


def test_shuffled_batches_reshuffle_each_pass_and_repeat_with_the_seed():
    x = np.arange(50, dtype="float32")[:, None]
    y = np.stack([np.arange(50), -np.arange(50)], axis=1)  # several labels per example stay with it

    def passes(dataset, count=2):
        return [np.concatenate([xb.numpy()[:, 0] for xb, _ in dataset]) for _ in range(count)]

    dataset = shuffled_batches(x, y, 8, seed=3)
    assert [int(xb.shape[0]) for xb, _ in dataset] == [8] * 6 + [2]
    for xb, yb in dataset:
        np.testing.assert_array_equal(yb.numpy(), np.stack([xb.numpy()[:, 0], -xb.numpy()[:, 0]], axis=1))
    first, second = passes(shuffled_batches(x, y, 8, seed=3))  # a fresh copy: passes 1 and 2
    assert sorted(first) == list(range(50)) and not np.array_equal(first, second)
    for expected, got in zip((first, second), passes(shuffled_batches(x, y, 8, seed=3)), strict=True):
        np.testing.assert_array_equal(got, expected)  # the same seed makes the same passes
    assert not np.array_equal(passes(shuffled_batches(x, y, 8, seed=4), 1)[0], first)
