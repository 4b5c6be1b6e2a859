"""pipelines.datasets: every example once per pass, a new seeded order per pass, labels kept with images."""

import numpy as np
import pytest

from pipelines.datasets import index_batches, shuffled_batches, to_dataset
from pipelines.sources import ImageSource


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


def test_index_batches_cover_every_example_once_per_pass_with_a_new_order_and_seeds():
    def passes(dataset, count=2):
        return [[(i.numpy(), s.numpy()) for i, s in dataset] for _ in range(count)]

    dataset = index_batches(50, 8, shuffle=True, seed=3)
    assert int(dataset.cardinality()) == 7  # known, as after batch(): Keras and the backup count on it
    first, second = passes(dataset)
    assert [len(i) for i, _ in first] == [8] * 6 + [2]
    for one_pass in (first, second):
        assert sorted(np.concatenate([i for i, _ in one_pass])) == list(range(50))
    assert not np.array_equal(np.concatenate([i for i, _ in first]), np.concatenate([i for i, _ in second]))
    seeds = [tuple(s) for _, s in first + second]
    assert len(set(seeds)) == len(seeds)  # every batch of every pass gets its own random ops
    for expected, got in zip(
        first + second, sum(passes(index_batches(50, 8, shuffle=True, seed=3)), []), strict=True
    ):
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])

    (in_order,) = passes(index_batches(50, 8, drop_remainder=True), 1)
    np.testing.assert_array_equal(np.concatenate([i for i, _ in in_order]), np.arange(48))
    assert int(index_batches(50, 8, drop_remainder=True).cardinality()) == 6
    with pytest.raises(ValueError, match="batch_size=0"):
        index_batches(50, 0)


def test_to_dataset_keeps_each_label_with_its_image_when_shuffled():
    images = np.broadcast_to(np.arange(37, dtype=np.uint8)[:, None, None, None], (37, 4, 4, 1)).copy()
    source = ImageSource(
        name="numbers",
        images=images,
        labels=np.arange(37, dtype=np.int64) * 2,
        ids=np.array([str(i) for i in range(37)]),
        class_names=tuple(str(i) for i in range(74)),
    )
    seen = []
    for x, y in to_dataset(source, 5, shuffle=True, seed=1):
        np.testing.assert_array_equal(x.numpy()[:, 0, 0, 0] * 2, y.numpy())
        seen.extend(y.numpy())
    assert sorted(seen) == list(range(0, 74, 2))


def test_an_empty_source_gives_no_batches():
    empty = ImageSource(
        name="empty",
        images=np.zeros((0, 4, 4, 1), np.uint8),
        labels=np.zeros(0, np.int64),
        ids=np.array([], dtype=str),
        class_names=("a",),
    )
    dataset = to_dataset(empty, 8, shuffle=True)
    assert int(dataset.cardinality()) == 0 and list(dataset) == []
    with pytest.raises(ValueError, match="count=-1"):
        index_batches(-1, 8)
    with pytest.raises(ValueError, match="batch_size=0"):
        to_dataset(empty, 0)
