"""Anchor boxes chosen by k-means on the training boxes' shapes, with 1 - IoU as the distance.

Course 4, Week 3 ("Anchor boxes"): each grid cell predicts one box per
anchor, and an object goes to the anchor whose shape fits it best, so the
anchors should be the typical shapes of the data. The lesson: "choose them
by k-means to cover all objects" (Redmon & Farhadi, YOLO9000, 2017, Section
"Dimension Clusters"). Euclidean k-means on (h, w) lets large boxes dominate;
YOLO9000 uses

    d(box, anchor) = 1 - IoU(box, anchor)

where both are centred at the same point, so only their shapes count:
IoU = min(h, h_a) min(w, w_a) / (h w + h_a w_a - min(h, h_a) min(w, w_a)).

`kmeans_anchors` runs Lloyd's algorithm with this distance: assign each shape
to its nearest anchor, move each anchor to the mean shape of its cluster,
until no assignment changes; the start is k-means++ (each next anchor drawn
with probability proportional to its distance to the nearest chosen one),
and the best of `restarts` runs by mean IoU is kept. `mean_best_iou` is the
quality YOLO9000 reports ("Avg IOU"): the mean, over boxes, of the IoU with
the best-fitting anchor.

The shapes here are NumPy arrays (this is data preparation, run once on the
training labels), in any unit: pixels, or fractions of the image.

Example:

    shapes = boxes[:, 2:] - boxes[:, :2]          # (h, w) of corner boxes
    anchors = kmeans_anchors(shapes, k=3, seed=0)  # [3, 2], by increasing area
"""

from __future__ import annotations

import numpy as np


def _shapes(shapes, name: str = "shapes") -> np.ndarray:
    shapes = np.asarray(shapes, dtype=np.float64)
    if shapes.ndim != 2 or shapes.shape[1] != 2 or not np.all(shapes > 0):
        raise ValueError(
            f"{name} must be [N, 2] positive (height, width) pairs. Received: shape={shapes.shape}"
        )
    return shapes


def shape_iou(shapes, anchors) -> np.ndarray:
    """IoU of each (h, w) shape [N, 2] with each anchor [K, 2], both centred at one point: [N, K]."""
    shapes, anchors = np.asarray(shapes, np.float64), np.asarray(anchors, np.float64)
    intersection = np.minimum(shapes[:, None, 0], anchors[None, :, 0]) * np.minimum(
        shapes[:, None, 1], anchors[None, :, 1]
    )
    union = (shapes[:, 0] * shapes[:, 1])[:, None] + (anchors[:, 0] * anchors[:, 1])[None, :] - intersection
    return intersection / union


def mean_best_iou(shapes, anchors) -> float:
    """The mean over shapes of the IoU with the best-fitting anchor (YOLO9000's "Avg IOU")."""
    return float(shape_iou(_shapes(shapes), _shapes(anchors, "anchors")).max(axis=1).mean())


def _kmeans_plus_plus(shapes: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    anchors = [shapes[rng.integers(len(shapes))]]
    for _ in range(1, k):
        distance = 1 - shape_iou(shapes, np.array(anchors)).max(axis=1)
        total = distance.sum()
        if total <= 0:  # fewer distinct shapes than anchors
            anchors.append(shapes[rng.integers(len(shapes))])
        else:
            anchors.append(shapes[rng.choice(len(shapes), p=distance / total)])
    return np.array(anchors)


def _lloyd(shapes: np.ndarray, anchors: np.ndarray, max_iterations: int) -> np.ndarray:
    assignment = None
    for _ in range(max_iterations):
        new_assignment = np.argmax(shape_iou(shapes, anchors), axis=1)  # nearest: the smallest 1 - IoU
        if assignment is not None and np.array_equal(new_assignment, assignment):
            break
        assignment = new_assignment
        for j in range(len(anchors)):
            members = shapes[assignment == j]
            if len(members):  # an empty cluster keeps its anchor
                anchors[j] = members.mean(axis=0)
    return anchors


def kmeans_anchors(shapes, k: int, seed: int = 0, restarts: int = 3, max_iterations: int = 100) -> np.ndarray:
    """k anchor shapes by k-means with d = 1 - IoU (see the module docstring).

    Args:
        shapes: [N, 2] positive (height, width) of the training boxes.
        k: the number of anchors.
        seed: the k-means++ starts.
        restarts: independent runs; the one with the highest `mean_best_iou` is kept.
        max_iterations: the most Lloyd iterations per run.

    Returns:
        float64 [k, 2] (height, width), sorted by increasing area.
    """
    shapes = _shapes(shapes)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(shapes):
        raise ValueError(
            f"k must be an integer in [1, {len(shapes)}] (the number of shapes). Received: k={k!r}"
        )
    if restarts < 1 or max_iterations < 1:
        raise ValueError(
            f"restarts and max_iterations must be at least 1. Received: restarts={restarts}, "
            f"max_iterations={max_iterations}"
        )
    rng = np.random.default_rng(seed)
    best, best_quality = None, -1.0
    for _ in range(restarts):
        anchors = _lloyd(shapes, _kmeans_plus_plus(shapes, k, rng), max_iterations)
        quality = mean_best_iou(shapes, anchors)
        if quality > best_quality:
            best, best_quality = anchors, quality
    return best[np.argsort(best[:, 0] * best[:, 1], kind="stable")]
