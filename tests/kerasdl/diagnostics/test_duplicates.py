"""kerasdl.diagnostics.duplicates: identical and near-identical images grouped within and across splits.

The near-pair search is checked against a brute-force scan of every pair's Hamming distance, and the
perceptual hash against planted copies (resized, recompressed, brightened) among different pictures.
"""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageDraw
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from kerasdl.diagnostics.duplicates import NEAR_DUPLICATE_BITS, find_duplicates, near_pairs, perceptual_hashes
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
    assert duplicates.counts() == {
        "groups": 3, "exact_groups": 3, "near_groups": 0, "extra_copies": 3, "across_splits": 2,
        "label_conflicts": 1,
    }  # fmt: skip
    assert duplicates.groups[0].members == (("train", 7), ("test", 1))  # across splits and in conflict first
    assert "3 groups of copies among 36 examples (identical pixels only)" in duplicates.summary_line()
    table = duplicates.to_markdown(CLASSES)
    assert "| 1 | exact | train: 7, test: 1 |" in table


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


# ------------------------------------------------------------------ near duplicates


def brute_force_pairs(bits, max_distance):
    """The oracle: every pair's Hamming distance, counted bit by bit."""
    bits = np.asarray(bits, bool)
    distances = (bits[:, None, :] != bits[None, :, :]).sum(axis=-1)
    first, second = np.nonzero(np.triu(distances <= max_distance, k=1))
    return np.stack([first, second], axis=1)


@pytest.mark.parametrize("max_distance", [0, 3, 12])
def test_near_pairs_match_a_brute_force_scan(max_distance):
    rng = np.random.default_rng(max_distance)
    # Skewed bits (some almost always set, some never), like a perceptual hash, and planted neighbours
    # at every distance from 0 to max_distance + 2.
    share = rng.uniform(0.02, 0.98, 256)
    share[:10] = 0.0
    bits = rng.random((300, 256)) < share
    neighbours = []
    for distance in range(max_distance + 3):
        for _ in range(3):
            copy = bits[rng.integers(len(bits))].copy()
            flip = rng.choice(np.flatnonzero(share > 0), distance, replace=False)
            copy[flip] = ~copy[flip]
            neighbours.append(copy)
    bits = np.concatenate([bits, neighbours])
    expected = brute_force_pairs(bits, max_distance)
    found = near_pairs(bits, max_distance)
    np.testing.assert_array_equal(found, expected)
    assert len(found) >= 3 * (max_distance + 1)  # the planted ones at least
    # Fewer varying bits than chunks: every pair is compared, with the same answer.
    few = bits[:50, :8]
    np.testing.assert_array_equal(near_pairs(few, 12), brute_force_pairs(few, 12))
    with pytest.raises(ValueError, match="Received: max_distance=-1"):
        near_pairs(bits, -1)


def pictures(count, side=64, seed=0):
    """`count` different pictures: a few random filled shapes in random colours on a random background."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        canvas = Image.new("RGB", (side, side), tuple(int(v) for v in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(canvas)
        for _ in range(4):
            x0, y0 = rng.integers(0, side - 8, 2)
            x1, y1 = np.array([x0, y0]) + rng.integers(6, side // 2, 2)
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
        out.append(np.asarray(canvas))
    return np.stack(out)


def recompressed(image, side=None, quality=70):
    """`image` resized to `side` and back, then saved as JPEG at `quality` and decoded."""
    picture = Image.fromarray(image)
    if side is not None:
        picture = picture.resize((side, side), Image.BILINEAR).resize(picture.size, Image.BILINEAR)
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def test_resized_and_recompressed_copies_are_near_duplicates_and_different_pictures_are_not():
    images = {"train": pictures(30), "dev": pictures(12, seed=1), "test": pictures(12, seed=2)}
    labels = {name: np.arange(len(part)) % 3 for name, part in images.items()}
    images["dev"][0] = recompressed(images["train"][4], side=48, quality=75)  # leak: shrunk, recompressed
    labels["dev"][0] = labels["train"][4]
    images["test"][5] = recompressed(images["train"][9], quality=60)  # leak with another label
    labels["test"][5] = (labels["train"][9] + 1) % 3
    images["test"][7] = images["dev"][3]  # an identical copy
    labels["test"][7] = labels["dev"][3]
    images["train"][20] = np.clip(images["train"][21].astype(int) + 12, 0, 255).astype(np.uint8)  # brighter
    labels["train"][20] = labels["train"][21]
    duplicates = find_duplicates(images, labels)
    planted = {
        (("train", 9), ("test", 5)): "near", (("train", 4), ("dev", 0)): "near",
        (("dev", 3), ("test", 7)): "exact", (("train", 20), ("train", 21)): "near",
    }  # fmt: skip
    assert {group.members: group.kind for group in duplicates.groups} == planted
    assert duplicates.counts() == {
        "groups": 4, "exact_groups": 1, "near_groups": 3, "extra_copies": 4, "across_splits": 3,
        "label_conflicts": 1,
    }  # fmt: skip
    # The oracle on the same hashes: a brute-force scan finds exactly the planted pairs.
    flat = [(name, i) for name in images for i in range(len(images[name]))]
    bits = perceptual_hashes(np.concatenate(list(images.values())))
    scanned = {(flat[i], flat[j]) for i, j in brute_force_pairs(bits, NEAR_DUPLICATE_BITS)}
    assert scanned == set(planted)
    assert "20 of 256 bits apart): 1 exact, 3 near" in duplicates.summary_line()
    grid = duplicates.grid(images, CLASSES)  # two copies per group, side by side
    assert grid.ndim == 3 and grid.shape[-1] == 3
    # Only identical pixels are searched in images smaller than the hash.
    small = {"train": images["train"][:, :15, :15]}
    assert find_duplicates(small, {"train": labels["train"]}).near_bits is None
