"""pipelines.detection: canvases deterministic by seed, boxes tight around the ink, no item in two splits."""

import numpy as np
import pytest

from kerasdl.nn.detection.anchors import kmeans_anchors, mean_best_iou
from pipelines.detection import (
    INK,
    LANDMARKS,
    box_iou,
    detection_canvases,
    fashion_canvases,
    ink_geometry,
    item_pool,
    tfds_detection,
)
from pipelines.sources import SourceMissingError

SIZE = 64


@pytest.fixture(scope="module")
def canvases(fashion_mnist_all):
    """Small canvases of each split (fashion_mnist_all: a skip when Fashion-MNIST is not installed)."""
    options = {"canvas_size": SIZE, "scale": (0.8, 1.5)}
    return {split: detection_canvases(split, 150, seed=0, **options) for split in ("train", "dev", "test")}


def test_declared_shapes_and_dtypes(canvases):
    train = canvases["train"]
    assert train.images.shape == (150, SIZE, SIZE, 1) and train.images.dtype == np.uint8
    assert train.boxes.shape == (150, 4, 4) and train.boxes.dtype == np.float32
    assert train.classes.shape == (150, 4) and train.classes.dtype == np.int64
    assert train.landmarks.shape == (150, 4, len(LANDMARKS), 2)
    assert len(set(train.ids)) == 150 and train.num_classes == 10
    assert train.counts.min() >= 0 and train.counts.max() <= 4 and train.counts.mean() > 2
    padding = train.classes < 0
    assert np.all(train.boxes[padding] == 0) and np.all(train.item_ids[padding] == "")
    assert np.all(np.diff(padding.astype(int), axis=1) >= 0)  # objects first, padding after


def test_the_same_seed_gives_the_same_canvases_and_another_seed_others(canvases):
    # 30 canvases again: the same as the first 30 of the 150, since a canvas depends only on its index
    again = detection_canvases("train", 30, seed=0, canvas_size=SIZE, scale=(0.8, 1.5))
    for field in ("images", "boxes", "classes", "landmarks", "ids", "item_ids"):
        np.testing.assert_array_equal(getattr(again, field), getattr(canvases["train"], field)[:30])
    other = detection_canvases("train", 10, seed=1, canvas_size=SIZE, scale=(0.8, 1.5))
    assert not np.array_equal(other.images, canvases["train"].images[:10])


def test_boxes_are_tight_around_the_ink(canvases):
    for split in canvases.values():
        for i in range(len(split)):
            image = split.images[i, ..., 0]
            inside = np.zeros_like(image, bool)
            for box in split.objects(i)[0]:
                top, left, bottom, right = np.round(box * SIZE).astype(int)
                assert np.allclose(box * SIZE, [top, left, bottom, right], atol=1e-4)  # on pixel edges
                inside[top:bottom, left:right] = True
                window = image[top:bottom, left:right] >= INK
                # ink on each of the four edges of the box
                assert window[0].any() and window[-1].any() and window[:, 0].any() and window[:, -1].any()
            assert not np.any((image >= INK) & ~inside), split.ids[i]  # no ink outside every box


def test_landmarks_lie_in_their_boxes_and_overlaps_stay_small(canvases):
    train = canvases["train"]
    for i in range(len(train)):
        boxes, _ = train.objects(i)
        points = train.landmarks[i][: len(boxes)]
        for box, (x, y) in ((b, p) for b, ps in zip(boxes, points, strict=True) for p in ps):
            assert box[1] <= x <= box[3] and box[0] <= y <= box[2]
        for a in range(len(boxes)):
            for b in range(a):
                assert box_iou(boxes[a], boxes[b]) <= 0.2 + 1e-6


def test_ink_geometry_by_hand():
    item = np.zeros((6, 6), np.uint8)
    item[1, 2:4] = 255  # a top row of two pixels
    item[2:5, 1:5] = 255  # a block beneath it
    box, landmarks = ink_geometry(item)
    np.testing.assert_array_equal(box, [1, 1, 5, 5])
    np.testing.assert_allclose(landmarks[1], [3.0, 1.5])  # top: the middle of columns 2-3, row 1's centre
    np.testing.assert_allclose(landmarks[2], [3.0, 4.5])  # bottom: columns 1-4, row 4
    np.testing.assert_allclose(landmarks[3], [1.5, 3.5])  # left: column 1, rows 2-4
    assert ink_geometry(np.zeros((4, 4), np.uint8)) is None


def test_no_item_is_in_two_splits(canvases, fashion_mnist_all):
    used = {split: set(data.item_ids[data.classes >= 0]) for split, data in canvases.items()}
    assert all(i.startswith("fashion_mnist/train/") for i in used["train"])
    assert all(i.startswith("fashion_mnist/test/") for i in used["dev"] | used["test"])
    dev, test = (set(item_pool(split).ids) for split in ("dev", "test"))
    assert not dev & test and len(dev) + len(test) == 10_000
    assert used["dev"] <= dev and used["test"] <= test


def test_background_only_canvases_and_one_object_canvases(fashion_mnist_all):
    pool = item_pool("dev")
    blank = fashion_canvases(pool, 5, objects=(0, 0), canvas_size=SIZE)
    assert blank.images.max() == 0 and np.all(blank.counts == 0) and blank.max_objects == 1
    single = fashion_canvases(pool, 5, objects=(1, 1), canvas_size=SIZE)
    assert np.all(single.counts == 1)


def test_kmeans_anchors_fit_the_canvases_better_than_hand_picked_squares(canvases):
    train = canvases["train"]
    boxes = train.boxes[train.classes >= 0]
    shapes = boxes[:, 2:] - boxes[:, :2]
    squares = np.array([[0.3, 0.3], [0.45, 0.45], [0.6, 0.6]])
    assert mean_best_iou(shapes, kmeans_anchors(shapes, k=3, seed=0)) > mean_best_iou(shapes, squares) + 0.02


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"objects": (3, 2)}, r"objects must be two integers \(low, high\) with 0 <= low <= high"),
        ({"objects": (1.0, 2)}, "objects must be two integers"),
        ({"scale": (1, 3)}, "do not fit a canvas of 64 px"),
        ({"count": -1}, "count must be a non-negative integer"),
        ({"max_overlap": 2}, r"max_overlap must be in \[0, 1\]"),
    ],
)
def test_bad_arguments(fashion_mnist_all, kwargs, message):
    arguments = {"count": 2, "canvas_size": SIZE, **kwargs}
    with pytest.raises(ValueError, match=message):
        fashion_canvases(item_pool("dev"), **arguments)


def test_a_tfds_dataset_offline_says_how_to_get_it(tmp_path):
    with pytest.raises(SourceMissingError, match="is not prepared in .*--download"):
        tfds_detection("voc/2007", data_dir=str(tmp_path))
