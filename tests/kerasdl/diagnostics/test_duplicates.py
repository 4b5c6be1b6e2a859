"""kerasdl.diagnostics.duplicates: identical images grouped within and across splits, and logged."""

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from kerasdl.diagnostics.duplicates import find_duplicates
from kerasdl.diagnostics.report import log_duplicates
from pipelines.sources import ImageSource

CLASSES = ("a", "b", "c")


def splits_with_copies():
    """Random 6x6 images with three planted copies: a leak to dev, a label conflict, a copy within test."""
    rng = np.random.default_rng(0)
    images = {name: rng.integers(0, 256, size=(n, 6, 6, 1)).astype(np.uint8) for name, n in
              (("train", 20), ("dev", 8), ("test", 8))}  # fmt: skip
    labels = {name: rng.integers(0, 3, len(part)) for name, part in images.items()}
    images["dev"][3] = images["train"][5]  # leak, same label
    labels["dev"][3] = labels["train"][5]
    images["test"][1] = images["train"][7]  # leak with another label
    labels["test"][1] = (labels["train"][7] + 1) % 3
    images["test"][6] = images["test"][2]  # within one split
    labels["test"][6] = labels["test"][2]
    return images, labels


def test_copies_are_grouped_and_counted():
    images, labels = splits_with_copies()
    duplicates = find_duplicates(images, labels)
    groups = {group.members for group in duplicates.groups}
    assert groups == {(("train", 5), ("dev", 3)), (("train", 7), ("test", 1)), (("test", 2), ("test", 6))}
    # Brute force over every pair of images: the same groups.
    flat = [(split, i, images[split][i].tobytes()) for split in images for i in range(len(images[split]))]
    pairs = {((s1, i1), (s2, i2)) for a, (s1, i1, b1) in enumerate(flat) for (s2, i2, b2) in flat[a + 1 :]
             if b1 == b2}  # fmt: skip
    assert pairs == groups
    assert duplicates.counts() == {"groups": 3, "extra_copies": 3, "across_splits": 2, "label_conflicts": 1}
    assert duplicates.groups[0].members == (("train", 7), ("test", 1))  # across splits and in conflict first
    assert "3 groups of identical images among 36 examples" in duplicates.summary_line()
    table = duplicates.to_markdown(CLASSES)
    assert "| 1 | train: 7, test: 1 |" in table


def test_a_pixel_changed_is_no_copy_and_shapes_are_compared():
    images, labels = splits_with_copies()
    images["dev"][3, 0, 0, 0] ^= 1
    assert find_duplicates(images, labels).counts()["groups"] == 2
    blank = {"small": np.zeros((1, 2, 8, 1), np.uint8), "wide": np.zeros((1, 4, 4, 1), np.uint8)}
    assert (
        find_duplicates(blank, {"small": [0], "wide": [0]}).counts()["groups"] == 0
    )  # same bytes, not shape


def test_bad_arguments():
    with pytest.raises(ValueError, match="must name the same splits"):
        find_duplicates({"train": np.zeros((1, 2, 2, 1))}, {"dev": [0]})
    with pytest.raises(ValueError, match="has 1 images and 2 labels"):
        find_duplicates({"train": np.zeros((1, 2, 2, 1))}, {"train": [0, 1]})


def test_log_duplicates_writes_table_thumbnails_and_counts(tmp_path):
    images, labels = splits_with_copies()
    splits = {
        name: ImageSource(name, images[name], labels[name].astype(np.int64),
                          np.array([f"{name}-{i}" for i in range(len(labels[name]))]), CLASSES)
        for name in images
    }  # fmt: skip
    writer = tf.summary.create_file_writer(str(tmp_path))
    duplicates = log_duplicates(writer, 2, splits)
    writer.close()
    accumulator = EventAccumulator(str(tmp_path)).Reload()
    tags = set(accumulator.Tags()["tensors"])
    assert {"duplicates/table", "duplicates/copies", "duplicates/across_splits"} <= tags
    table = accumulator.Tensors("duplicates/table")[0].tensor_proto.string_val[0].decode()
    assert "train: train-7, test: test-1" in table
    across = tf.make_ndarray(accumulator.Tensors("duplicates/across_splits")[0].tensor_proto)
    assert float(across) == duplicates.counts()["across_splits"] == 2
