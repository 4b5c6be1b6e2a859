"""Boxes: the two formats the lessons use, conversions between them, and intersection over union.

Course 4, Week 3 ("Object localization", "Intersection over union"). A box
is written two ways:

- **corners** (y_min, x_min, y_max, x_max): TensorFlow's `tf.image` order,
  what `non_max_suppression`, the canvases and mAP take;
- **centre** (b_x, b_y, b_h, b_w): the lesson's output vector, the centre
  point and then height and width (the same units as the corners).

    IoU(A, B) = area(A ∩ B) / area(A ∪ B) = I / (area(A) + area(B) - I)

The lesson counts a detection as correct when IoU >= 0.5 ("more generally, IoU
is a measure of the overlap between two bounding boxes"). As in
`tf.image.non_max_suppression`, corners given in the wrong order are sorted
first (a box is the region between its two corners), and a box of zero area
has IoU 0 with everything, itself included.

Every function is written with `keras.ops` and broadcasts over leading axes.

Example:

    >>> from keras import ops
    >>> float(iou(ops.convert_to_tensor([0.0, 0.0, 2.0, 2.0]), ops.convert_to_tensor([1.0, 1.0, 3.0, 3.0])))
    0.142857...
"""

from __future__ import annotations

from keras import ops


def _split(boxes):
    boxes = ops.convert_to_tensor(boxes)
    return [boxes[..., i] for i in range(4)]


def centre_to_corners(boxes):
    """(b_x, b_y, b_h, b_w) -> (y_min, x_min, y_max, x_max), over the last axis."""
    b_x, b_y, b_h, b_w = _split(boxes)
    return ops.stack([b_y - b_h / 2, b_x - b_w / 2, b_y + b_h / 2, b_x + b_w / 2], axis=-1)


def corners_to_centre(boxes):
    """(y_min, x_min, y_max, x_max) -> (b_x, b_y, b_h, b_w), over the last axis."""
    y_min, x_min, y_max, x_max = _split(boxes)
    return ops.stack([(x_min + x_max) / 2, (y_min + y_max) / 2, y_max - y_min, x_max - x_min], axis=-1)


def normalize_corners(boxes):
    """The same boxes with y_min <= y_max and x_min <= x_max (corners given in any order)."""
    y_1, x_1, y_2, x_2 = _split(boxes)
    return ops.stack(
        [ops.minimum(y_1, y_2), ops.minimum(x_1, x_2), ops.maximum(y_1, y_2), ops.maximum(x_1, x_2)], axis=-1
    )


def area(boxes):
    """The area of corner boxes (corners in any order), over the last axis."""
    y_1, x_1, y_2, x_2 = _split(boxes)
    return ops.abs(y_2 - y_1) * ops.abs(x_2 - x_1)


def iou(boxes_a, boxes_b):
    """Intersection over union of corner boxes, element by element (leading axes broadcast).

    Computed in the order `tf.image.non_max_suppression` computes it, so the
    two agree to the last bit in float32:
    I = max(min(y_max) - max(y_min), 0) * max(min(x_max) - max(x_min), 0),
    IoU = I / (area_a + area_b - I), and 0 where either area is 0.
    """
    a_y_min, a_x_min, a_y_max, a_x_max = _split(normalize_corners(boxes_a))
    b_y_min, b_x_min, b_y_max, b_x_max = _split(normalize_corners(boxes_b))
    area_a = (a_y_max - a_y_min) * (a_x_max - a_x_min)
    area_b = (b_y_max - b_y_min) * (b_x_max - b_x_min)
    height = ops.maximum(ops.minimum(a_y_max, b_y_max) - ops.maximum(a_y_min, b_y_min), 0.0)
    width = ops.maximum(ops.minimum(a_x_max, b_x_max) - ops.maximum(a_x_min, b_x_min), 0.0)
    intersection = height * width
    union = area_a + area_b - intersection
    empty = ops.logical_or(area_a <= 0, area_b <= 0)
    return ops.where(
        empty, ops.zeros_like(union), intersection / ops.where(empty, ops.ones_like(union), union)
    )


def pairwise_iou(boxes_a, boxes_b):
    """IoU of every box of `boxes_a` [..., N, 4] with every box of `boxes_b` [..., M, 4]: [..., N, M]."""
    return iou(ops.expand_dims(boxes_a, -2), ops.expand_dims(boxes_b, -3))
