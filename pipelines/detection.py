"""Detection data, real and offline: Fashion-MNIST items placed on blank canvases.

Course 4, Week 3 ("Object localization", "Landmark detection", "Object
detection"): a detector learns from images labelled with a class, a bounding
box and, for landmark detection, a few points per object. Fashion-MNIST has
none of these, but its items sit on a black background, so placing items on
a larger canvas gives all three exactly:

- each canvas (default 96 x 96, one channel) holds `objects` = (low, high)
  items, drawn uniformly (0 items: a background-only image, the lesson's
  p_c = 0), each scaled by a factor in `scale` (28 px x 1.5 = 42 px) and placed
  at a random position inside the canvas; overlapping items are composited
  by the brighter pixel;
- the box is the tight box of the item's ink (pixels of at least `INK`),
  so a narrow pair of trousers gets a narrow box, not the 28 x 28 frame.
  A placement whose box overlaps an earlier one by more than `max_overlap`
  IoU is redrawn (up to `PLACEMENT_TRIES` times, then the item is left out);
- the landmarks (`LANDMARKS`) are points of the item's ink: its centre of
  mass and its topmost, bottommost, leftmost and rightmost points (the mean
  position of the ink on the extreme row or column).

Coordinates are fractions of the canvas side, in [0, 1], with (0, 0) at the
top-left corner: boxes as (y_min, x_min, y_max, x_max) (TensorFlow's
`tf.image` order, also what `kerasdl.nn.detection` takes), landmarks as
(x, y) points. A pixel (row r, column c) covers [c, c + 1] x [r, r + 1] / size.

Every canvas depends only on (seed, the set's name, its index) and on the
item pool, so `detection_canvases("dev", 500, seed=0)` is the same on every
machine. Items never cross splits: "train" canvases take items from the
Fashion-MNIST training images; "dev" and "test" take them from the test
images, each test image going to dev or to test by a hash of its identity
(`pipelines.splits.hash_assign`).

With network access, `tfds_detection` reads a TensorFlow Datasets detection
dataset (e.g. "voc/2007") into the same `DetectionSet` (no landmarks).

Example:

    train = detection_canvases("train", 4000, seed=0)
    train.images.shape, train.boxes.shape, train.landmarks.shape
    # (4000, 96, 96, 1), (4000, 4, 4), (4000, 4, 5, 2)
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

from pipelines.sources import ImageSource, fashion_mnist, prepared_tfds_builder
from pipelines.splits import hash_assign

CANVAS_SIZE = 96
OBJECTS = (1, 4)
SCALE = (0.8, 1.6)
MAX_OVERLAP = 0.2
INK = 32  # a pixel at least this bright (of 255) is part of the item
PLACEMENT_TRIES = 20
LANDMARKS = ("centre", "top", "bottom", "left", "right")
SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class DetectionSet:
    """Images with up to `max_objects` labelled objects each; unused object slots are padding.

    Attributes:
        name: where the images come from, e.g. "fashion_canvases/train".
        images: uint8 [N, H, W, C].
        boxes: float32 [N, K, 4], (y_min, x_min, y_max, x_max) as fractions of
            the image side; zeros in padding slots.
        classes: int64 [N, K], the class index of each object; -1 in padding slots.
        landmarks: float32 [N, K, L, 2], (x, y) points as fractions of the
            image side (`LANDMARKS`); NaN where a source has none.
        ids: [N] identity strings, unique and stable.
        item_ids: [N, K] the identity of the source example each object was
            cut from ("" in padding slots).
        class_names: the name of each class index.
    """

    name: str
    images: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray
    landmarks: np.ndarray
    ids: np.ndarray
    item_ids: np.ndarray
    class_names: tuple[str, ...]

    def __post_init__(self):
        n, k = self.classes.shape
        shapes = {
            "images": (self.images.shape[:1], (n,)),
            "boxes": (self.boxes.shape, (n, k, 4)),
            "landmarks": (self.landmarks.shape[:2] + self.landmarks.shape[3:], (n, k, 2)),
            "ids": (self.ids.shape, (n,)),
            "item_ids": (self.item_ids.shape, (n, k)),
        }
        for field, (shape, expected) in shapes.items():
            if tuple(shape) != expected:
                raise ValueError(
                    f"{field} must match classes [N={n}, K={k}] (expected {expected}). Received: {shape}"
                )

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def max_objects(self) -> int:
        return self.classes.shape[1]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def counts(self) -> np.ndarray:
        """The number of objects in each image, int64 [N]."""
        return np.sum(self.classes >= 0, axis=1)

    def take(self, indices) -> DetectionSet:
        """The images at `indices` (an index array or a boolean mask)."""
        return DetectionSet(
            self.name, self.images[indices], self.boxes[indices], self.classes[indices],
            self.landmarks[indices], self.ids[indices], self.item_ids[indices], self.class_names,
        )  # fmt: skip

    def objects(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(boxes [n, 4], classes [n]) of the real objects of image `index`."""
        real = self.classes[index] >= 0
        return self.boxes[index][real], self.classes[index][real]


# -- one item -------------------------------------------------------------------------------------------


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    """A square uint8 image [h, w] resized to size x size (bilinear)."""
    return np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))


def ink_geometry(item: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The tight box and the landmarks of an item's ink, in its own pixel coordinates.

    Args:
        item: uint8 [h, w], the item on a black background.

    Returns:
        (box (y_min, x_min, y_max, x_max) at pixel edges, landmarks [5, 2] as
        (x, y) at pixel centres, in `LANDMARKS` order), or None if the item
        has no pixel of at least `INK`.
    """
    ink = item >= INK
    rows, columns = np.nonzero(ink)
    if rows.size == 0:
        return None
    top, bottom, left, right = rows.min(), rows.max(), columns.min(), columns.max()
    box = np.array([top, left, bottom + 1, right + 1], dtype=np.float64)
    weights = item[rows, columns].astype(np.float64)
    centre = (np.average(columns, weights=weights) + 0.5, np.average(rows, weights=weights) + 0.5)

    def mean_on(mask: np.ndarray, values: np.ndarray) -> float:
        return float(values[mask].mean()) + 0.5

    landmarks = np.array(
        [
            centre,
            (mean_on(rows == top, columns), top + 0.5),
            (mean_on(rows == bottom, columns), bottom + 0.5),
            (left + 0.5, mean_on(columns == left, rows)),
            (right + 0.5, mean_on(columns == right, rows)),
        ],
        dtype=np.float64,
    )
    return box, landmarks


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two (y_min, x_min, y_max, x_max) boxes (for placement; the library's: kerasdl.nn.detection)."""
    height = min(a[2], b[2]) - max(a[0], b[0])
    width = min(a[3], b[3]) - max(a[1], b[1])
    intersection = max(height, 0.0) * max(width, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection
    return intersection / union if union > 0 else 0.0


# -- canvases -------------------------------------------------------------------------------------------


def _check_range(name: str, value, low: float, integer: bool = False) -> tuple:
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        or (integer and not all(isinstance(v, int) for v in value))
        or not low <= value[0] <= value[1]
    ):
        kind = "integers" if integer else "numbers"
        raise ValueError(
            f"{name} must be two {kind} (low, high) with {low} <= low <= high. Received: {name}={value!r}"
        )
    return tuple(value)


def _stream_key(name: str) -> int:
    """A stable 32-bit key of a set's name, so two sets with one seed draw different layouts."""
    return zlib.crc32(name.encode())


def fashion_canvases(
    pool: ImageSource,
    count: int,
    seed: int = 0,
    name: str = "fashion_canvases",
    canvas_size: int = CANVAS_SIZE,
    objects: tuple[int, int] = OBJECTS,
    scale: tuple[float, float] = SCALE,
    max_overlap: float = MAX_OVERLAP,
) -> DetectionSet:
    """`count` canvases of items drawn from `pool` (see the module docstring).

    Args:
        pool: single-channel items on a black background (Fashion-MNIST).
        count: the number of canvases.
        seed: with `name` and the index, decides everything about a canvas.
        name: the set's name (also in each id: "<name>/<seed>/<index>").
        canvas_size: the side of the square canvas, in pixels.
        objects: (low, high), the inclusive range of items per canvas.
        scale: (low, high), the range of the factor each 28-pixel item is scaled by.
        max_overlap: the largest IoU a new item's box may have with an earlier one.

    Returns:
        A `DetectionSet` with `objects[1]` object slots per image.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a non-negative integer. Received: count={count!r}")
    low, high = _check_range("objects", objects, 0, integer=True)
    scale = _check_range("scale", scale, 0.1)
    if not 0 <= max_overlap <= 1:
        raise ValueError(f"max_overlap must be in [0, 1]. Received: max_overlap={max_overlap}")
    if pool.images.shape[-1] != 1 or len(pool) == 0:
        raise ValueError(f"pool must hold single-channel images. Received: shape={pool.images.shape}")
    item_side = pool.images.shape[1]
    if round(item_side * scale[1]) > canvas_size:
        raise ValueError(
            f"Items scaled by up to {scale[1]} ({round(item_side * scale[1])} px) do not fit a canvas of "
            f"{canvas_size} px. Received: canvas_size={canvas_size}, scale={scale}"
        )
    slots = max(high, 1)
    images = np.zeros((count, canvas_size, canvas_size, 1), np.uint8)
    boxes = np.zeros((count, slots, 4), np.float32)
    classes = np.full((count, slots), -1, np.int64)
    landmarks = np.zeros((count, slots, len(LANDMARKS), 2), np.float32)
    item_ids = np.full((count, slots), "", dtype=object)
    key = _stream_key(name)
    for index in range(count):
        rng = np.random.default_rng([seed, key, index])
        canvas = images[index, ..., 0]
        placed: list[np.ndarray] = []
        for _ in range(rng.integers(low, high + 1)):
            item = int(rng.integers(len(pool)))
            side = int(round(item_side * rng.uniform(*scale)))
            resized = _resize(pool.images[item, ..., 0], side)
            geometry = ink_geometry(resized)
            if geometry is None:
                continue
            box, points = geometry
            for _try in range(PLACEMENT_TRIES):
                top, left = rng.integers(0, canvas_size - side + 1, size=2)
                candidate = box + np.array([top, left, top, left])
                if all(box_iou(candidate, other) <= max_overlap for other in placed):
                    break
            else:
                continue
            slot = len(placed)
            placed.append(candidate)
            window = canvas[top : top + side, left : left + side]
            np.maximum(window, resized, out=window)
            boxes[index, slot] = candidate / canvas_size
            landmarks[index, slot] = (points + np.array([left, top])) / canvas_size
            classes[index, slot] = pool.labels[item]
            item_ids[index, slot] = str(pool.ids[item])
    ids = np.array([f"{name}/{seed}/{i:06d}" for i in range(count)])
    return DetectionSet(name, images, boxes, classes, landmarks, ids, item_ids, pool.class_names)


def item_pool(split: str, data_dir: str | os.PathLike | None = None) -> ImageSource:
    """The Fashion-MNIST items a split's canvases are made of; the three pools share no item.

    "train": the 60,000 training images; "dev" and "test": the halves of the
    10,000 test images, by a hash of each image's identity.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}. Received: split={split!r}")
    if split == "train":
        return fashion_mnist("train", data_dir)
    test = fashion_mnist("test", data_dir)
    return test.take(hash_assign(test.ids, {"dev": 0.5, "test": 0.5}, salt="detection") == split)


def detection_canvases(
    split: str,
    count: int,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    **options,
) -> DetectionSet:
    """`count` canvases of the split's Fashion-MNIST items (`item_pool`); options as `fashion_canvases`.

    Raises:
        SourceMissingError: Fashion-MNIST is not installed (the message says how to get it).
    """
    return fashion_canvases(item_pool(split, data_dir), count, seed, f"fashion_canvases/{split}", **options)


def tfds_detection(
    name: str,
    split: str = "train",
    image_size: int = CANVAS_SIZE,
    max_objects: int = 8,
    data_dir: str | None = None,
    download: bool = False,
) -> DetectionSet:
    """A TensorFlow Datasets detection dataset (features "image" and "objects" with "bbox", "label").

    Images are resized to `image_size` squared (tfds' boxes are fractions of
    the image, so they stay right); the first `max_objects` objects of an
    image are kept; there are no landmarks (NaN). Offline, a dataset that is
    not prepared raises `SourceMissingError` saying so.

    Args:
        name: e.g. "voc/2007".
        split: a tfds split expression.
        image_size: the side of the square images returned.
        max_objects: object slots per image.
        data_dir: tfds' data directory.
        download: allow downloading (network).
    """
    import tensorflow as tf
    import tensorflow_datasets as tfds

    builder = prepared_tfds_builder(
        name,
        data_dir,
        download,
        offline="use the Fashion-MNIST canvases (detection_canvases)",
        how="--download (or tfds_detection(..., download=True))",
    )
    features = builder.info.features
    if "objects" not in features or not {"bbox", "label"} <= set(features["objects"].feature.keys()):
        raise ValueError(f"tfds dataset {name!r} has no objects with 'bbox' and 'label': {list(features)}")
    images, boxes, classes, ids = [], [], [], []
    for i, example in enumerate(tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False))):
        image = tf.image.resize(example["image"], (image_size, image_size), antialias=True)
        images.append(np.clip(np.round(image.numpy()), 0, 255).astype(np.uint8))
        n = min(len(example["objects"]["label"]), max_objects)
        box = np.zeros((max_objects, 4), np.float32)
        label = np.full(max_objects, -1, np.int64)
        box[:n], label[:n] = example["objects"]["bbox"][:n], example["objects"]["label"][:n]
        boxes.append(box)
        classes.append(label)
        ids.append(f"tfds:{name}/{split}/{i:07d}")
    n = len(ids)
    return DetectionSet(
        f"tfds:{name}",
        np.stack(images) if n else np.zeros((0, image_size, image_size, 3), np.uint8),
        np.stack(boxes) if n else np.zeros((0, max_objects, 4), np.float32),
        np.stack(classes) if n else np.zeros((0, max_objects), np.int64),
        np.full((n, max_objects, len(LANDMARKS), 2), np.nan, np.float32),
        np.array(ids),
        np.full((n, max_objects), "", dtype=object),
        tuple(features["objects"]["label"].names),
    )
