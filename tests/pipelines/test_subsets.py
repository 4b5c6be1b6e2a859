"""pipelines.subsets: sizes, disjointness, train-only standardization."""

import numpy as np
import pytest

from pipelines.sources import ImageSource
from pipelines.subsets import hash_subset, nested_hash_subsets, small_train_dev


def test_sizes_shapes_and_train_statistics(fashion_mnist_all):
    data = small_train_dev(train_size=700, dev_size=300, batch_size=64, seed=0)
    assert abs(data.m - 700) < 100  # hash assignment: within a few standard deviations of the request
    assert data.input_shape == (28, 28, 1) and data.num_classes == 10
    train = np.concatenate([x.numpy() for x, _ in data.train_eval])
    dev_count = sum(int(y.shape[0]) for _, y in data.dev)
    assert len(train) == data.m and abs(dev_count - 300) < 60
    # Standardized with the training set's own statistics: mean 0 and std 1 on train.
    assert abs(train.mean()) < 1e-4 and train.std() == pytest.approx(1.0, abs=1e-4)
    assert sum(int(y.shape[0]) for _, y in data.train) == data.m
    assert next(iter(data.train))[0].shape[0] == 64


def test_subsets_are_disjoint_and_seeded(fashion_mnist_all):
    def first_images(seed):
        data = small_train_dev(train_size=500, dev_size=500, batch_size=50, seed=seed)
        return next(iter(data.train_eval))[0].numpy(), next(iter(data.dev))[0].numpy()

    train_a, dev_a = first_images(0)
    train_b, _ = first_images(0)
    np.testing.assert_array_equal(train_a, train_b)
    flat_train, flat_dev = {x.tobytes() for x in train_a}, {x.tobytes() for x in dev_a}
    assert not flat_train & flat_dev
    assert not np.array_equal(train_a, first_images(1)[0])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"train_size": 0, "dev_size": 10, "batch_size": 8}, "train_size must be a positive integer"),
        ({"train_size": 10, "dev_size": 10, "batch_size": 0}, "batch_size must be a positive integer"),
        ({"train_size": 60_000, "dev_size": 20_000, "batch_size": 8}, "at most 70000"),
    ],
)
def test_bad_sizes(fashion_mnist_all, kwargs, message):
    with pytest.raises(ValueError, match=message):
        small_train_dev(**kwargs)


def test_fresh_train_copies_repeat_the_same_orders(fashion_mnist_all):
    data = small_train_dev(train_size=300, dev_size=100, batch_size=32, seed=0)

    def pass_labels(dataset):
        return np.concatenate([y.numpy() for _, y in dataset])

    first, second = data.fresh_train(), data.fresh_train()
    passes = [pass_labels(first) for _ in range(2)]
    assert not np.array_equal(*passes)  # each pass is reshuffled ...
    for expected in passes:  # ... and a second copy makes the same passes in the same order
        np.testing.assert_array_equal(pass_labels(second), expected)


def labelled(n, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 2, 2, 1)).astype(np.uint8)
    return ImageSource(
        "toy", images, rng.integers(0, 3, n), np.array([f"toy/{i}" for i in range(n)]), ("a", "b", "c")
    )


def test_nested_subsets_are_nested_hash_stable_and_of_the_requested_shares():
    source = labelled(4000)
    fractions = (1 / 8, 1 / 4, 1 / 2, 1)
    subsets = nested_hash_subsets(source, fractions, salt="lc")
    ids = [set(part.ids) for part in subsets]
    assert all(small < large for small, large in zip(ids, ids[1:], strict=False))  # strictly nested
    assert ids[-1] == set(source.ids)  # fraction 1 is everything
    for fraction, part in zip(fractions, subsets, strict=True):
        # Binomial: within 4 standard deviations of the requested share.
        assert abs(len(part) - fraction * 4000) <= 4 * np.sqrt(4000 * fraction * (1 - fraction)) + 1
        assert part.name == f"toy/{fraction:g}"
    # Only the ids and the salt decide: reversed input order, the same members; another salt, others.
    reversed_source = source.take(np.arange(len(source))[::-1])
    again = nested_hash_subsets(reversed_source, fractions, salt="lc")
    assert [set(part.ids) for part in again] == ids
    labels_by_id = dict(zip(source.ids, source.labels, strict=True))
    assert all(labels_by_id[i] == label for i, label in zip(again[0].ids, again[0].labels, strict=True))
    assert set(nested_hash_subsets(source, (0.25,), salt="other")[0].ids) != ids[1]


@pytest.mark.parametrize("fractions", [(), (0.5, 0.25), (0, 0.5), (0.5, 1.5), (0.5, 0.5)])
def test_nested_subsets_refuse_fractions_that_are_not_increasing_shares(fractions):
    with pytest.raises(ValueError, match="fractions must be increasing shares in \\(0, 1\\]"):
        nested_hash_subsets(labelled(10), fractions, salt="lc")


def test_hash_subset_keeps_about_the_size_asked_and_everything_when_small():
    source = labelled(2000)
    part = hash_subset(source, 500, salt="s")
    assert abs(len(part) - 500) <= 4 * np.sqrt(2000 * 0.25 * 0.75) and set(part.ids) <= set(source.ids)
    assert set(hash_subset(source.take(np.arange(2000)[::-1]), 500, salt="s").ids) == set(part.ids)
    assert hash_subset(source, 5000, salt="s") is source
    with pytest.raises(ValueError, match="Received: size=0"):
        hash_subset(source, 0, salt="s")
