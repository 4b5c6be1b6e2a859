"""Multi-crop at test time: classify several crops of each image, average.

Course 4, Week 2 ("Tips for doing well on benchmarks"): "Multi-crop at test
time: run the classifier on multiple versions of the test images and average
the results", with the 10-crop layout of AlexNet (Krizhevsky et al. 2012,
section 4.1): the four corner crops and the centre crop, each also mirrored.
The classifier must take crops, so it is trained on random crops of the
same size (`Augmenter` with `crop_size`), as AlexNet trained on random 224 x
224 patches of 256 x 256 images and tested on ten of them.

`MultiCropClassifier` wraps any Keras classifier: it cuts all N crops of
every image with two gathers, stacks them into the batch dimension
([B, H, W, C] -> [B * N, h, w, C]), runs the classifier once on that batch,
reshapes the outputs to [B, N, K] and aggregates over crops (mean or max).
`evaluate_multicrop` compares it with the single centre crop and counts the
predictions that multi-crop turned from right to wrong and back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from kerasdl.diagnostics.metrics import mcnemar_p_value
from kerasdl.evaluation.reports import Report, labelled_examples
from kerasdl.training.benchmarking import paired_ratio
from kerasdl.training.timing import interleaved_predict

_GRID = re.compile(r"^grid(\d+)(\+mirror)?$")
LAYOUTS = ("1", "2", "5", "10", "grid<K>", "grid<K>+mirror")
AGGREGATES = ("mean", "max")


@dataclass(frozen=True)
class CropLayout:
    """Where each crop of an image is: top-left corners, mirroring and names.

    Attributes:
        name: the layout's name, e.g. "10".
        image_size: (H, W) of the images the crops come from.
        crop_size: (h, w) of every crop.
        tops, lefts: the top-left corner of each crop.
        mirrored: whether each crop is flipped left-right.
        names: a readable name per crop ("top-left", "centre (mirrored)", ...).
    """

    name: str
    image_size: tuple[int, int]
    crop_size: tuple[int, int]
    tops: tuple[int, ...]
    lefts: tuple[int, ...]
    mirrored: tuple[bool, ...]
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.tops)


def _check_size(name: str, size) -> tuple[int, int]:
    size = tuple(size) if isinstance(size, (tuple, list)) else size
    if not isinstance(size, tuple) or len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
        raise ValueError(f"{name} must be (height, width) in pixels. Received: {name}={size!r}")
    return size


def crop_layout(image_size: Sequence[int], crop_size: Sequence[int], layout: str = "10") -> CropLayout:
    """The crops of a named layout.

    Layouts:
        "1": the centre crop (the single-crop baseline).
        "2": the centre crop and its mirror.
        "5": the four corners and the centre.
        "10": the four corners and the centre, each also mirrored (AlexNet).
        "grid<K>": K x K crops evenly spaced from corner to corner (K >= 2).
        "grid<K>+mirror": the same plus their mirrors.

    Args:
        image_size: (H, W) of the full images.
        crop_size: (h, w) of the crops, at most (H, W).
        layout: one of the names above.
    """
    image_size, crop_size = _check_size("image_size", image_size), _check_size("crop_size", crop_size)
    if crop_size[0] > image_size[0] or crop_size[1] > image_size[1]:
        raise ValueError(f"crop_size must fit in image_size {image_size}. Received: crop_size={crop_size}")
    (height, width), (h, w) = image_size, crop_size
    bottom, right = height - h, width - w
    centre = ("centre", bottom // 2, right // 2)
    corners = [
        ("top-left", 0, 0),
        ("top-right", 0, right),
        ("bottom-left", bottom, 0),
        ("bottom-right", bottom, right),
    ]
    grid = _GRID.match(layout) if isinstance(layout, str) else None
    if layout == "1" or layout == "2":
        places, mirror = [centre], layout == "2"
    elif layout == "5" or layout == "10":
        places, mirror = corners + [centre], layout == "10"
    elif grid and int(grid.group(1)) >= 2:
        k = int(grid.group(1))
        rows = np.linspace(0, bottom, k).round().astype(int)
        cols = np.linspace(0, right, k).round().astype(int)
        places = [(f"grid({i},{j})", int(rows[i]), int(cols[j])) for i in range(k) for j in range(k)]
        mirror = bool(grid.group(2))
    else:
        raise ValueError(f"layout must be one of {LAYOUTS} (K >= 2). Received: layout={layout!r}")
    entries = [(name, top, left, False) for name, top, left in places]
    if mirror:
        entries += [(f"{name} (mirrored)", top, left, True) for name, top, left in places]
    names, tops, lefts, mirrored = zip(*entries, strict=True)
    return CropLayout(layout, image_size, crop_size, tops, lefts, mirrored, names)


def extract_crops(images, layout: CropLayout) -> tf.Tensor:
    """All crops of every image, [B, H, W, C] -> [B, N, h, w, C], with two gathers.

    Crop n of image b is `images[b, tops[n]:tops[n]+h, lefts[n]:lefts[n]+w]`,
    its columns read backwards when `mirrored[n]`.
    """
    images = tf.convert_to_tensor(images)
    if images.shape.rank != 4 or tuple(images.shape[1:3]) != layout.image_size:
        raise ValueError(
            f"images must be [B, {layout.image_size[0]}, {layout.image_size[1]}, C] for this layout. "
            f"Received: shape={images.shape}"
        )
    h, w = layout.crop_size
    rows = np.array(layout.tops)[:, None] + np.arange(h)[None, :]
    steps = np.where(np.array(layout.mirrored)[:, None], np.arange(w)[::-1][None, :], np.arange(w)[None, :])
    cols = np.array(layout.lefts)[:, None] + steps
    crops = tf.gather(images, rows, axis=1)  # [B, N, h, W, C]
    crops = tf.transpose(crops, [1, 0, 2, 3, 4])  # [N, B, h, W, C]
    crops = tf.gather(crops, cols, axis=3, batch_dims=1)  # [N, B, h, w, C]
    return tf.transpose(crops, [1, 0, 2, 3, 4])


@keras.saving.register_keras_serializable(package="kerasdl")
class MultiCropClassifier(keras.Model):
    """Evaluates a classifier on N crops per image in one forward pass and aggregates.

    call: [B, H, W, C] -> crops [B * N, h, w, C] -> classifier -> [B, N, K]
    -> mean (or max) over the N crops -> [B, K].

    Args:
        classifier: a Keras model taking crops [*, h, w, C] to class scores [*, K].
        image_size: (H, W) of the full images.
        crop_size: (h, w) the classifier takes.
        layout: a `crop_layout` name ("10" by default).
        aggregate: "mean" (the lesson's averaging) or "max" (per class).
        from_logits: apply a softmax to the classifier's outputs before
            aggregating (average probabilities, not logits).

    Example:

        tta = MultiCropClassifier(model, image_size=(28, 28), crop_size=(24, 24))
        probabilities = tta.predict(test_images)
    """

    def __init__(
        self,
        classifier: keras.Model,
        image_size: Sequence[int],
        crop_size: Sequence[int],
        layout: str = "10",
        aggregate: str = "mean",
        from_logits: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {AGGREGATES}. Received: aggregate={aggregate!r}")
        self.classifier = classifier
        self.layout = crop_layout(image_size, crop_size, layout)
        self.aggregate = aggregate
        self.from_logits = bool(from_logits)

    def per_crop(self, images, training: bool = False) -> tf.Tensor:
        """The classifier's outputs for every crop, [B, N, K]."""
        crops = extract_crops(images, self.layout)
        shape = tf.shape(crops)
        batch = tf.reshape(crops, tf.concat([[shape[0] * shape[1]], shape[2:]], 0))
        outputs = self.classifier(batch, training=training)
        if self.from_logits:
            outputs = tf.nn.softmax(outputs, axis=-1)
        return tf.reshape(outputs, [shape[0], shape[1], -1])

    def call(self, images, training: bool = False):
        outputs = self.per_crop(images, training=training)
        if self.aggregate == "mean":
            return tf.reduce_mean(outputs, axis=1)
        return tf.reduce_max(outputs, axis=1)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "classifier": keras.saving.serialize_keras_object(self.classifier),
            "image_size": self.layout.image_size,
            "crop_size": self.layout.crop_size,
            "layout": self.layout.name,
            "aggregate": self.aggregate,
            "from_logits": self.from_logits,
        }

    @classmethod
    def from_config(cls, config: dict) -> MultiCropClassifier:
        config = dict(config)
        config["classifier"] = keras.saving.deserialize_keras_object(config["classifier"])
        return cls(**config)


@dataclass(frozen=True)
class MultiCropReport(Report):
    """Single centre crop versus multi-crop on the same images.

    Attributes:
        layout, aggregate: what was evaluated.
        crops: N, the crops per image.
        single_accuracy, multi_accuracy: top-1 accuracies.
        gain: multi_accuracy - single_accuracy.
        right_to_wrong: images the centre crop got right and multi-crop wrong.
        wrong_to_right: images the centre crop got wrong and multi-crop right.
        p_value: exact McNemar p-value of the two on these images
            (`kerasdl.diagnostics.mcnemar_p_value`): how likely a split of
            the flips at least this lopsided is if multi-crop did not help.
        single_seconds, multi_seconds: prediction time over all images
            (after one warm-up batch, so tracing is not counted), with the
            same number of crops per forward pass.
        time_ratio: multi-crop over single-crop prediction time: the median
            of the ratios of blocks of images timed side by side.
    """

    layout: str
    aggregate: str
    crops: int
    examples: int
    single_accuracy: float
    multi_accuracy: float
    gain: float
    right_to_wrong: int
    wrong_to_right: int
    p_value: float
    single_seconds: float
    multi_seconds: float
    time_ratio: float


def evaluate_multicrop(
    classifier: keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    crop_size: Sequence[int],
    layout: str = "10",
    aggregate: str = "mean",
    from_logits: bool = False,
    batch_size: int = 256,
    timing_blocks: int = 5,
) -> MultiCropReport:
    """Compares the centre crop ("1") with `layout` for `classifier` on (images, labels).

    Args:
        classifier: the Keras classifier taking crops of `crop_size`.
        images: full images [N, H, W, C], prepared as the classifier expects
            (e.g. standardized).
        labels: int class indices [N].
        crop_size: (h, w) the classifier takes.
        layout, aggregate, from_logits: see `MultiCropClassifier`.
        batch_size: crops per forward pass: the single crop runs batch_size
            images at a time, the multi-crop batch_size // N images of N crops
            each, so the network works on batches of the same size.
        timing_blocks: the images are predicted in this many blocks, single
            and multi-crop alternating block by block (every image is still
            predicted once by each), and `time_ratio` is the median of the
            blocks' ratios: one load spike on a shared machine no longer
            decides it.
    """
    if isinstance(timing_blocks, bool) or not isinstance(timing_blocks, int) or timing_blocks < 1:
        raise ValueError(
            f"timing_blocks must be a positive integer. Received: timing_blocks={timing_blocks!r}"
        )
    images, labels = labelled_examples(images, labels)
    image_size = tuple(images.shape[1:3])
    single = MultiCropClassifier(classifier, image_size, crop_size, "1", aggregate, from_logits)
    multi = MultiCropClassifier(classifier, image_size, crop_size, layout, aggregate, from_logits)
    # The same number of crops per forward pass as the single crop: batch_size // N images of N crops.
    scores, seconds = interleaved_predict(
        {"single": (single, batch_size), "multi": (multi, max(1, batch_size // len(multi.layout)))},
        images,
        timing_blocks,
    )
    single_right = scores["single"].argmax(-1) == labels
    multi_right = scores["multi"].argmax(-1) == labels
    return MultiCropReport(
        layout=layout,
        aggregate=aggregate,
        crops=len(multi.layout),
        examples=len(labels),
        single_accuracy=float(single_right.mean()),
        multi_accuracy=float(multi_right.mean()),
        gain=float(multi_right.mean() - single_right.mean()),
        right_to_wrong=int(np.sum(single_right & ~multi_right)),
        wrong_to_right=int(np.sum(~single_right & multi_right)),
        p_value=mcnemar_p_value(single_right, multi_right),
        single_seconds=float(sum(seconds["single"])),
        multi_seconds=float(sum(seconds["multi"])),
        time_ratio=paired_ratio(seconds["multi"], seconds["single"]),
    )
