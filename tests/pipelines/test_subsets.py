"""pipelines.subsets: sizes, disjointness, train-only standardization."""

import numpy as np
import pytest

from pipelines.subsets import small_train_dev


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
