"""Object detection in plain Python and NumPy, box by box and cell by cell, as the lessons write it.

Course 4, Week 3. The oracles of `kerasdl.nn.detection` on every Keras
backend (TensorFlow's `tf.image.non_max_suppression` is a second oracle
where TensorFlow is installed), and readable teaching code:

- `iou`: intersection over union of two corner boxes (y_min, x_min, y_max, x_max);
- `non_max_suppression`: the lesson's loop, literally;
- `localization_loss` and `localization_loss_practical`: the lesson's L(y^, y)
  for one vector (p_c, b_x, b_y, b_h, b_w, c_1..c_n, landmarks), and its
  "in practice" variant;
- `yolo_activation` and `yolo_loss`: the YOLO outputs turned into the
  lesson's vector, and the loss summed over cells and anchors, one slot at a time.

Example:

    >>> iou((0, 0, 2, 2), (1, 1, 3, 3))
    0.14285714285714285
"""

from __future__ import annotations

import math

import numpy as np


def iou(box_a, box_b) -> float:
    """IoU of two corner boxes (corners in any order); 0 when either has no area."""
    a_y_min, a_y_max = sorted((box_a[0], box_a[2]))
    a_x_min, a_x_max = sorted((box_a[1], box_a[3]))
    b_y_min, b_y_max = sorted((box_b[0], box_b[2]))
    b_x_min, b_x_max = sorted((box_b[1], box_b[3]))
    area_a = (a_y_max - a_y_min) * (a_x_max - a_x_min)
    area_b = (b_y_max - b_y_min) * (b_x_max - b_x_min)
    if area_a <= 0 or area_b <= 0:
        return 0.0
    height = max(min(a_y_max, b_y_max) - max(a_y_min, b_y_min), 0)
    width = max(min(a_x_max, b_x_max) - max(a_x_min, b_x_min), 0)
    intersection = height * width
    return intersection / (area_a + area_b - intersection)


def non_max_suppression(
    boxes, scores, max_output_size: int, iou_threshold: float = 0.5, score_threshold: float = -math.inf,
    classes=None,
) -> list[int]:  # fmt: skip
    """The lesson's procedure; with `classes`, boxes suppress only boxes of their own class.

    1. discard boxes with score <= score_threshold;
    2. while boxes remain (and fewer than max_output_size are output):
       pick the one with the largest score (the lowest index among equals), output it,
       discard every remaining box of its class with IoU > iou_threshold with it.

    Returns:
        The indices of the selected boxes, in the order they were picked.
    """
    remaining = [i for i in range(len(scores)) if scores[i] > score_threshold]
    selected = []
    while remaining and len(selected) < max_output_size:
        best = max(remaining, key=lambda i: (scores[i], -i))
        selected.append(best)
        remaining = [
            i
            for i in remaining
            if i != best
            and not (
                (classes is None or classes[i] == classes[best])
                and iou(boxes[best], boxes[i]) > iou_threshold
            )
        ]
    return selected


def localization_loss(y_hat, y) -> float:
    """The lesson's loss of one vector (p_c, b_x, b_y, b_h, b_w, c_1..c_n[, landmarks]).

    sum_i (y^_i - y_i)^2 if y_1 = 1, else (y^_1 - y_1)^2.
    """
    if y[0] == 1:
        return float(sum((a - b) ** 2 for a, b in zip(y_hat, y, strict=True)))
    return float((y_hat[0] - y[0]) ** 2)


def localization_loss_practical(y_hat, y, num_classes: int, epsilon: float = 1e-7) -> float:
    """The lesson's "in practice" loss of one vector (p_c, b_x, b_y, b_h, b_w, c_1..c_n, l_1x, l_1y, ...).

    -[y_1 log p^ + (1 - y_1) log(1 - p^)], plus, when y_1 = 1, the squared
    error of the box and landmark coordinates and -sum_i c_i log c^_i.
    Probabilities are clipped to [epsilon, 1 - epsilon] before the log.
    """

    def log(p: float) -> float:
        return math.log(min(max(p, epsilon), 1 - epsilon))

    loss = -(y[0] * log(y_hat[0]) + (1 - y[0]) * log(1 - y_hat[0]))
    if y[0] == 1:
        box = list(range(1, 5)) + list(range(5 + num_classes, len(y)))
        loss += sum((y_hat[i] - y[i]) ** 2 for i in box)
        loss -= sum(y[5 + i] * log(y_hat[5 + i]) for i in range(num_classes))
    return float(loss)


def yolo_activation(outputs: np.ndarray, anchors) -> np.ndarray:
    """Raw YOLO outputs [..., A, 5 + n] to the lesson's vectors, slot by slot (YOLO9000's parametrization)."""
    outputs = np.asarray(outputs, np.float64)
    vectors = np.empty_like(outputs)
    for index in np.ndindex(outputs.shape[:-1]):
        t = outputs[index]
        anchor_h, anchor_w = anchors[index[-1]]
        exponentials = [math.exp(v - max(t[5:])) for v in t[5:]]
        vectors[index] = [
            1 / (1 + math.exp(-t[0])),
            1 / (1 + math.exp(-t[1])),
            1 / (1 + math.exp(-t[2])),
            anchor_h * math.exp(t[3]),
            anchor_w * math.exp(t[4]),
            *(e / sum(exponentials) for e in exponentials),
        ]
    return vectors


def yolo_loss(
    targets: np.ndarray, outputs: np.ndarray, anchors, lambda_coord: float = 1.0, lambda_noobj: float = 1.0,
    sqrt_sizes: bool = False, form: str = "lesson",
) -> float:  # fmt: skip
    """The YOLO loss of a batch: per slot the lesson's loss with YOLO's weights, summed, averaged over images.

    form "lesson": squared errors throughout; "practical": -log p^_c (or
    -lambda_noobj log(1 - p^_c)) for p_c and -sum_i c_i log c^_i for the classes.
    """
    targets = np.asarray(targets, np.float64)
    vectors = yolo_activation(outputs, anchors)
    size = math.sqrt if sqrt_sizes else (lambda v: v)
    total = 0.0
    for index in np.ndindex(targets.shape[:-1]):
        y, y_hat = targets[index], vectors[index]
        if y[0] == 1:
            box = (y_hat[1] - y[1]) ** 2 + (y_hat[2] - y[2]) ** 2
            box += (size(y_hat[3]) - size(y[3])) ** 2 + (size(y_hat[4]) - size(y[4])) ** 2
            if form == "lesson":
                total += (
                    (y_hat[0] - 1) ** 2
                    + lambda_coord * box
                    + sum((y_hat[i] - y[i]) ** 2 for i in range(5, len(y)))
                )
            else:
                total += (
                    -math.log(y_hat[0])
                    + lambda_coord * box
                    - sum(y[i] * math.log(y_hat[i]) for i in range(5, len(y)))
                )
        elif form == "lesson":
            total += lambda_noobj * y_hat[0] ** 2
        else:
            total += -lambda_noobj * math.log(1 - y_hat[0])
    return total / targets.shape[0]
