"""pipelines.transfer_split: source classes with all their data, a few-shot target chosen by hash."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines import transfer_split as transfer
from pipelines.sources import ImageSource

RNG = np.random.default_rng(0)


def _source(n_per_class: int, name: str) -> ImageSource:
    labels = np.repeat(np.arange(10), n_per_class).astype(np.int64)
    images = RNG.integers(0, 255, size=(len(labels), 28, 28, 1)).astype(np.uint8)
    ids = np.array([f"{name}/{i}" for i in range(len(labels))])
    return ImageSource(name, images, labels, ids, tuple(f"class{c}" for c in range(10)))


def test_class_transfer_split():
    train, test = _source(30, "train"), _source(5, "test")
    split = transfer.class_transfer_split(train, test, source_classes=(0, 1, 2, 3, 4), per_class=7)
    assert len(split.pretrain) == 150 and len(split.pretrain_test) == 25
    assert len(split.target_train) == 35 and len(split.target_test) == 25
    np.testing.assert_array_equal(np.bincount(split.target_train.labels), [7] * 5)
    assert split.target_train.class_names == ("class5", "class6", "class7", "class8", "class9")
    # Relabelled, but the same images: class 5 became 0.
    original = dict(zip(train.ids, train.labels, strict=True))
    assert all(original[i] == label + 5 for i, label in zip(split.target_train.ids, split.target_train.labels,
                                                              strict=True))  # fmt: skip
    assert not set(split.pretrain.ids) & set(split.target_train.ids)
    again = transfer.class_transfer_split(train, test, (4, 3, 2, 1, 0), 7)
    np.testing.assert_array_equal(again.target_train.ids, split.target_train.ids)  # deterministic
    other_salt = transfer.class_transfer_split(train, test, (0, 1, 2, 3, 4), 7, salt="other")
    assert set(other_salt.target_train.ids) != set(split.target_train.ids)
    with pytest.raises(ValueError, match="per_class=31"):
        transfer.class_transfer_split(train, test, (0, 1), 31)
    with pytest.raises(ValueError, match="source_classes"):
        transfer.class_transfer_split(train, test, tuple(range(10)), 5)
