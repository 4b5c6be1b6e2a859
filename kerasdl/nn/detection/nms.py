"""Non-max suppression in `keras.ops`: greedy, per class, a fixed number of outputs.

Course 4, Week 3 ("Non-max suppression"): a detector finds one object
several times, from neighbouring cells and anchors. The lesson's procedure:

    discard every box with score <= score_threshold;
    while boxes remain:
        pick the remaining box with the largest score, output it;
        discard every remaining box with IoU > iou_threshold with it.

and "if there are several classes, carry out non-max suppression
independently for each class" (`classes=`: a box suppresses only boxes of its
own class).

Keras 3 has no NMS op, and `tf.image.non_max_suppression` is TensorFlow's
alone. This one runs on every backend and compiles (XLA, `jax.jit`): shapes
never depend on the data. The loop runs exactly `max_output_size` times, each
step an argmax and one row of IoUs, O(max_output_size * N); the output is
`max_output_size` indices with a mask saying which are real (TensorFlow's
`pad_to_max_output_size=True` form). It selects exactly what
`tf.image.non_max_suppression` selects, in the same order (tests check it on
1,000 random box sets): ties in score go to the lower index, IoU is computed
as TensorFlow computes it (`kerasdl.nn.detection.boxes.iou`) and a box is
suppressed when its IoU is strictly above the threshold.

Example:

    indices, valid = non_max_suppression(boxes, scores, max_output_size=20, iou_threshold=0.5)
    kept = ops.take(boxes, indices, axis=0)  # then keep the rows where `valid` is True
"""

from __future__ import annotations

import math

from keras import ops

from kerasdl.nn.detection.boxes import normalize_corners


def _check(max_output_size, iou_threshold, score_threshold) -> None:
    if isinstance(max_output_size, bool) or not isinstance(max_output_size, int) or max_output_size < 1:
        raise ValueError(
            f"max_output_size must be a positive integer. Received: max_output_size={max_output_size!r}"
        )
    if not 0 <= iou_threshold <= 1:
        raise ValueError(f"iou_threshold must be in [0, 1]. Received: iou_threshold={iou_threshold}")
    if math.isnan(score_threshold):
        raise ValueError(f"score_threshold must be a number. Received: score_threshold={score_threshold}")


def non_max_suppression(
    boxes,
    scores,
    max_output_size: int,
    iou_threshold: float = 0.5,
    score_threshold: float = float("-inf"),
    classes=None,
):
    """Greedy non-max suppression (see the module docstring), for one image or a batch.

    Args:
        boxes: [N, 4] or [B, N, 4] corner boxes (y_min, x_min, y_max, x_max),
            corners in any order.
        scores: [N] or [B, N].
        max_output_size: the number of outputs (selected boxes, then padding).
        iou_threshold: a box whose IoU with a selected box is above this is discarded.
        score_threshold: only boxes scoring above this are candidates.
        classes: optional [N] or [B, N] class ids: suppression within each class only.

    Returns:
        (indices, valid): int32 [max_output_size] (or [B, max_output_size]),
        the selected boxes' indices in descending score, then zeros; and a
        bool mask of the same shape, True for the selected ones.
    """
    _check(max_output_size, iou_threshold, score_threshold)
    boxes = ops.convert_to_tensor(boxes)
    scores = ops.cast(ops.convert_to_tensor(scores), boxes.dtype)
    single = len(boxes.shape) == 2
    if single:
        boxes, scores = boxes[None], scores[None]
        classes = None if classes is None else ops.convert_to_tensor(classes)[None]
    if len(boxes.shape) != 3 or boxes.shape[-1] != 4 or len(scores.shape) != 2:
        raise ValueError(
            f"boxes must be [N, 4] or [B, N, 4] and scores [N] or [B, N]. "
            f"Received: boxes.shape={boxes.shape}, scores.shape={scores.shape}"
        )
    count = ops.shape(boxes)[1]
    if count == 0:  # nothing to select (argmax needs at least one box)
        shape = (ops.shape(boxes)[0], max_output_size)
        indices, valid = ops.zeros(shape, dtype="int32"), ops.zeros(shape, dtype="bool")
        return (indices[0], valid[0]) if single else (indices, valid)
    positions = ops.arange(count, dtype="int32")[None, :]
    slots = ops.arange(max_output_size, dtype="int32")[None, :]
    lowest = ops.convert_to_tensor(float("-inf"), dtype=scores.dtype)
    candidate = scores > score_threshold
    # Each box's sorted corners and area, once: [B, N, 5]. Every step reads the picked box's row.
    corners = normalize_corners(boxes)
    y_min, x_min, y_max, x_max = (corners[..., i] for i in range(4))
    box_area = (y_max - y_min) * (x_max - x_min)
    rows = ops.stack([y_min, x_min, y_max, x_max, box_area], axis=-1)

    def step(k, state):
        alive, indices, valid = state
        masked = ops.where(alive, scores, lowest)
        best = ops.cast(ops.argmax(masked, axis=-1), "int32")  # the first of equal scores: the lower index
        found = ops.any(alive, axis=-1)
        picked = ops.take_along_axis(
            rows, ops.broadcast_to(best[:, None, None], (ops.shape(rows)[0], 1, 5)), 1
        )
        # IoU of the picked box with every box, as kerasdl.nn.detection.boxes.iou computes it
        height = ops.maximum(ops.minimum(picked[..., 2], y_max) - ops.maximum(picked[..., 0], y_min), 0.0)
        width = ops.maximum(ops.minimum(picked[..., 3], x_max) - ops.maximum(picked[..., 1], x_min), 0.0)
        intersection = height * width
        union = picked[..., 4] + box_area - intersection
        empty = ops.logical_or(picked[..., 4] <= 0, box_area <= 0)
        overlap = ops.where(
            empty, ops.zeros_like(union), intersection / ops.where(empty, ops.ones_like(union), union)
        )
        suppressed = overlap > iou_threshold
        if classes is not None:
            best_class = ops.take_along_axis(classes, best[:, None], axis=1)
            suppressed = ops.logical_and(suppressed, ops.equal(classes, best_class))
        suppressed = ops.logical_or(suppressed, ops.equal(positions, best[:, None]))
        alive = ops.logical_and(alive, ops.logical_not(suppressed))
        here = ops.logical_and(ops.equal(slots, k), found[:, None])
        indices = ops.where(here, best[:, None], indices)
        valid = ops.logical_or(valid, here)
        return alive, indices, valid

    initial = (
        candidate,
        ops.zeros((ops.shape(boxes)[0], max_output_size), dtype="int32"),
        ops.zeros((ops.shape(boxes)[0], max_output_size), dtype="bool"),
    )
    _, indices, valid = ops.fori_loop(0, max_output_size, step, initial)
    return (indices[0], valid[0]) if single else (indices, valid)
