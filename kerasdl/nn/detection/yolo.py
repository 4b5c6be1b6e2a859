"""YOLO: an S x S grid of cells, A anchors per cell, each predicting the lesson's vector; the loss, decoding.

Course 4, Week 3 ("Bounding box predictions", "Anchor boxes", "YOLO
algorithm"; Redmon et al. 2016, and YOLO9000's anchors, 2017). The image is
cut into an S x S grid; each cell and anchor predicts the lesson's vector

    y = (p_c, b_x, b_y, b_h, b_w, c_1, ..., c_n)

so the network ends in a tensor [S, S, A, 5 + n] (a convolution with
A * (5 + n) filters, reshaped). An object belongs to the one cell holding its
centre, and to that cell's anchor whose shape has the highest IoU with the
object's (`kerasdl.nn.detection.anchors.shape_iou`). In that slot:

- p_c = 1 and c is the object's class, one-hot;
- b_x, b_y: the centre relative to the cell, in [0, 1) (the cell's
  top-left corner is (0, 0), its bottom-right (1, 1));
- b_h, b_w: the box's size in cell units ("can be bigger than 1").

Every other slot has p_c = 0, and the rest of its vector is "don't care".
Two objects with the same cell and anchor cannot both be encoded (a case
the lesson says YOLO does not handle well): the first keeps the slot and
`encode_targets` counts the others as dropped.

The network's raw outputs t become the vector by the YOLO9000
parametrization, which keeps each part in its range (`activate`):

    p_c = sigmoid(t_o),  b_x = sigmoid(t_x),  b_y = sigmoid(t_y),
    b_h = anchor_h exp(t_h),  b_w = anchor_w exp(t_w),  c = softmax(t_c)

The loss (`YoloLoss`) is the lesson's localization loss, summed over every
cell and anchor, with YOLO's two weights and its square-root sizes as options:

    L = sum_slots  1[p_c = 1] ( (p^_c - 1)^2 + lambda_coord ((b^_x - b_x)^2 + (b^_y - b_y)^2
                                + (s(b^_h) - s(b_h))^2 + (s(b^_w) - s(b_w))^2) + sum_i (c^_i - c_i)^2 )
                 + lambda_noobj 1[p_c = 0] p^_c^2

averaged over the images of a batch, with s(v) = v, or s(v) = sqrt(v) when
`sqrt_sizes=True`. With the defaults (lambda_coord = lambda_noobj = 1, s(v) = v)
it is exactly the lesson's L(y^, y) = sum_i (y^_i - y_i)^2 if y_1 = 1, else
(y^_1 - y_1)^2, summed over the slots; YOLO (2016) used lambda_coord = 5,
lambda_noobj = 0.5 and square roots, so that the many empty slots do not
swamp the few with objects and an error of a pixel counts more on a small box.

`form="practical"` follows the lesson's remark that "in practice" one uses
a logistic loss for p_c and the log-likelihood for the classes, keeping the
squared error for the box: (p^_c - 1)^2 becomes -log p^_c, lambda_noobj p^_c^2
becomes -lambda_noobj log(1 - p^_c), and sum_i (c^_i - c_i)^2 becomes
-sum_i c_i log c^_i, each computed from the logits t (stable at any t).
Squared errors on probabilities give small gradients to a confident wrong
answer; these do not, and train faster.

Decoding (`detect`): the score of a slot's box for class i is p_c c_i (the
probability that there is an object and that it is of class i); each box
takes its best class (or its k best, `classes_per_box`, one candidate
each), boxes scoring at most `score_threshold` are dropped,
and per-class non-max suppression (`kerasdl.nn.detection.nms`) keeps at most
`max_detections` per image. Boxes come back as corners (y_min, x_min,
y_max, x_max) in fractions of the image.

Example:

    anchors = kmeans_anchors(shapes_in_cells, k=3)
    targets, dropped = encode_targets(train.boxes, train.classes, 6, anchors, num_classes=10)
    model.compile("adam", YoloLoss(anchors))            # model outputs [B, 6, 6, 3, 15]
    boxes, scores, classes, valid = detect(model(images), anchors, score_threshold=0.3)
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kerasdl.nn.detection.anchors import shape_iou
from kerasdl.nn.detection.boxes import centre_to_corners
from kerasdl.nn.detection.nms import non_max_suppression

FORMS = ("lesson", "practical")
OBJECTNESS, BOX = 0, slice(1, 5)  # where p_c and (b_x, b_y, b_h, b_w) live in the lesson's vector


def _check_anchors(anchors) -> np.ndarray:
    anchors = np.asarray(anchors, dtype=np.float64)
    if anchors.ndim != 2 or anchors.shape[1] != 2 or len(anchors) < 1 or not np.all(anchors > 0):
        raise ValueError(
            "anchors must be [A, 2] positive (height, width) pairs in cell units. "
            f"Received: {anchors.tolist()}"
        )
    return anchors


# -- targets ----------------------------------------------------------------------------------------------


def encode_targets(boxes, classes, grid_size: int, anchors, num_classes: int) -> tuple[np.ndarray, int]:
    """The lesson's target tensor of each image (see the module docstring).

    Args:
        boxes: [N, K, 4] corner boxes (y_min, x_min, y_max, x_max) in fractions of the image.
        classes: [N, K] class indices, negative for padding slots.
        grid_size: S, the cells per side.
        anchors: [A, 2] anchor (height, width) in cell units.
        num_classes: n, the number of classes.

    Returns:
        (targets float32 [N, S, S, A, 5 + n], the number of objects dropped
        because their cell and anchor were taken by an earlier object).
    """
    anchors = _check_anchors(anchors)
    boxes, classes = np.asarray(boxes, np.float64), np.asarray(classes)
    if isinstance(grid_size, bool) or not isinstance(grid_size, int) or grid_size < 1:
        raise ValueError(f"grid_size must be a positive integer. Received: grid_size={grid_size!r}")
    if boxes.shape[:2] != classes.shape or boxes.shape[-1:] != (4,):
        raise ValueError(
            f"boxes must be [N, K, 4] and classes [N, K]. Received: {boxes.shape} and {classes.shape}"
        )
    if classes.size and classes.max() >= num_classes:
        raise ValueError(f"classes must be below num_classes={num_classes}. Received: max {classes.max()}")
    targets = np.zeros((len(boxes), grid_size, grid_size, len(anchors), 5 + num_classes), np.float32)
    image, slot = np.nonzero(classes >= 0)
    y_min, x_min, y_max, x_max = (boxes[image, slot, i] for i in range(4))
    centre_x, centre_y = (x_min + x_max) / 2 * grid_size, (y_min + y_max) / 2 * grid_size
    height, width = (y_max - y_min) * grid_size, (x_max - x_min) * grid_size
    column = np.clip(np.floor(centre_x), 0, grid_size - 1).astype(int)
    row = np.clip(np.floor(centre_y), 0, grid_size - 1).astype(int)
    anchor = np.argmax(shape_iou(np.stack([height, width], 1), anchors), axis=1) if len(image) else image
    dropped = 0
    for j in range(len(image)):
        cell = targets[image[j], row[j], column[j], anchor[j]]
        if cell[OBJECTNESS] == 1:
            dropped += 1
            continue
        cell[OBJECTNESS] = 1
        cell[BOX] = (centre_x[j] - column[j], centre_y[j] - row[j], height[j], width[j])
        cell[5 + classes[image[j], slot[j]]] = 1
    return targets, dropped


# -- from outputs to the lesson's vector to boxes ----------------------------------------------------------


def activate(outputs, anchors):
    """The lesson's vectors (p_c, b_x, b_y, b_h, b_w, c...) [..., A, 5 + n] from raw outputs of that shape."""
    outputs = ops.convert_to_tensor(outputs)
    anchors = ops.convert_to_tensor(_check_anchors(anchors), dtype=outputs.dtype)
    p_c = ops.sigmoid(outputs[..., 0:1])
    centre = ops.sigmoid(outputs[..., 1:3])
    size = anchors * ops.exp(outputs[..., 3:5])
    class_probabilities = ops.softmax(outputs[..., 5:], axis=-1)
    return ops.concatenate([p_c, centre, size, class_probabilities], axis=-1)


def vectors_to_boxes(vectors):
    """Corner boxes in fractions of the image [B, S*S*A, 4], p_c [B, S*S*A] and class scores [B, S*S*A, n].

    Args:
        vectors: the lesson's vectors [B, S, S, A, 5 + n] (targets, or `activate`d outputs).
    """
    vectors = ops.convert_to_tensor(vectors)
    _, rows, columns, anchors, width = vectors.shape
    column = ops.cast(ops.arange(columns), vectors.dtype)[None, None, :, None]
    row = ops.cast(ops.arange(rows), vectors.dtype)[None, :, None, None]
    centre_x = (column + vectors[..., 1]) / columns
    centre_y = (row + vectors[..., 2]) / rows
    box = ops.stack([centre_x, centre_y, vectors[..., 3] / rows, vectors[..., 4] / columns], axis=-1)
    slots = rows * columns * anchors
    return (
        ops.reshape(centre_to_corners(box), (-1, slots, 4)),
        ops.reshape(vectors[..., 0], (-1, slots)),
        ops.reshape(vectors[..., 5:], (-1, slots, width - 5)),
    )


def detect(
    outputs,
    anchors,
    score_threshold: float = 0.5,
    iou_threshold: float = 0.5,
    max_detections: int = 20,
    activated: bool = False,
    classes_per_box: int = 1,
):
    """Detections of a batch: score threshold, then per-class non-max suppression (module docstring).

    Args:
        outputs: raw outputs [B, S, S, A, 5 + n], or the lesson's vectors with `activated=True`.
        anchors: [A, 2] anchor (height, width) in cell units.
        score_threshold: boxes scoring at most this (p_c times the class probability) are dropped.
        iou_threshold: NMS discards a box whose IoU with a better box of its class is above this.
        max_detections: detections per image (then padding).
        activated: `outputs` are already the lesson's vectors.
        classes_per_box: each box is a candidate for its k most probable
            classes, each scored p_c c_i (1: its best class only). With k > 1
            an item the network hesitates about is also proposed, at a lower
            score, under its second class; per-class NMS keeps both, as the
            lesson's "non-max suppression independently for each class" does
            when the class scores are kept per class.

    Returns:
        (boxes [B, M, 4] corners in fractions of the image, scores [B, M],
        classes int32 [B, M], valid bool [B, M]) with M = max_detections,
        in descending score; entries where `valid` is False are padding.
    """
    if isinstance(classes_per_box, bool) or not isinstance(classes_per_box, int) or classes_per_box < 1:
        raise ValueError(f"classes_per_box must be a positive integer. Received: {classes_per_box!r}")
    vectors = outputs if activated else activate(outputs, anchors)
    boxes, p_c, class_probabilities = vectors_to_boxes(vectors)
    k = min(classes_per_box, class_probabilities.shape[-1])
    if k == 1:
        classes = ops.cast(ops.argmax(class_probabilities, axis=-1), "int32")
        scores = p_c * ops.max(class_probabilities, axis=-1)
    else:  # the k best classes of every box, as k candidates in a row: [B, N * k]
        best, best_classes = ops.top_k(class_probabilities, k)
        slots = ops.shape(boxes)[1] * k
        boxes = ops.reshape(ops.repeat(boxes[:, :, None, :], k, axis=2), (-1, slots, 4))
        scores = ops.reshape(p_c[..., None] * best, (-1, slots))
        classes = ops.reshape(ops.cast(best_classes, "int32"), (-1, slots))
    indices, valid = non_max_suppression(
        boxes, scores, max_detections, iou_threshold, score_threshold, classes=classes
    )
    gather = ops.broadcast_to(indices[..., None], (*ops.shape(indices), 4))
    return (
        ops.take_along_axis(boxes, gather, axis=1),
        ops.where(valid, ops.take_along_axis(scores, indices, axis=1), 0.0),
        ops.take_along_axis(classes, indices, axis=1),
        valid,
    )


# -- the loss ----------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="kerasdl")
class YoloLoss(keras.losses.Loss):
    """The lesson's loss over every cell and anchor, with YOLO's weights as options (module docstring).

    Args:
        anchors: [A, 2] anchor (height, width) in cell units, as the targets were encoded with.
        lambda_coord: the weight of the box errors of slots with an object.
        lambda_noobj: the weight of the p_c error of slots without one.
        sqrt_sizes: compare sqrt(b_h), sqrt(b_w) instead of b_h, b_w.
        form: "lesson" (squared errors throughout) or "practical" (logistic
            loss on p_c, log-likelihood on the classes).
        name: the loss's name.

    Call arguments:
        y_true: targets [B, S, S, A, 5 + n] (`encode_targets`).
        y_pred: raw outputs t [B, S, S, A, 5 + n].
    """

    def __init__(
        self,
        anchors,
        lambda_coord: float = 1.0,
        lambda_noobj: float = 1.0,
        sqrt_sizes: bool = False,
        form: str = "lesson",
        name: str = "yolo_loss",
        **kwargs,
    ):
        self.anchors = _check_anchors(anchors).tolist()
        for weight, value in (("lambda_coord", lambda_coord), ("lambda_noobj", lambda_noobj)):
            if not value >= 0:
                raise ValueError(f"{weight} must be a number >= 0. Received: {weight}={value}")
        if not isinstance(sqrt_sizes, bool):
            raise ValueError(f"sqrt_sizes must be True or False. Received: sqrt_sizes={sqrt_sizes!r}")
        if form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}. Received: form={form!r}")
        kwargs.setdefault("reduction", "sum_over_batch_size")
        super().__init__(name=name, **kwargs)
        self.lambda_coord = float(lambda_coord)
        self.lambda_noobj = float(lambda_noobj)
        self.sqrt_sizes = sqrt_sizes
        self.form = form

    def call(self, y_true, y_pred):
        predicted = activate(y_pred, self.anchors)
        y_true = ops.cast(y_true, predicted.dtype)
        has_object = y_true[..., 0]
        size_true, size_predicted = y_true[..., 3:5], predicted[..., 3:5]
        if self.sqrt_sizes:
            size_true, size_predicted = ops.sqrt(size_true), ops.sqrt(size_predicted)
        box_error = ops.sum(ops.square(predicted[..., 1:3] - y_true[..., 1:3]), axis=-1) + ops.sum(
            ops.square(size_predicted - size_true), axis=-1
        )
        if self.form == "lesson":
            class_error = ops.sum(ops.square(predicted[..., 5:] - y_true[..., 5:]), axis=-1)
            with_object = ops.square(predicted[..., 0] - 1.0) + self.lambda_coord * box_error + class_error
            without_object = self.lambda_noobj * ops.square(predicted[..., 0])
        else:
            logits = ops.cast(y_pred, predicted.dtype)
            log_likelihood = ops.sum(y_true[..., 5:] * ops.log_softmax(logits[..., 5:], axis=-1), axis=-1)
            # -log sigmoid(t) = softplus(-t), -log(1 - sigmoid(t)) = softplus(t)
            with_object = ops.softplus(-logits[..., 0]) + self.lambda_coord * box_error - log_likelihood
            without_object = self.lambda_noobj * ops.softplus(logits[..., 0])
        per_slot = ops.where(has_object > 0.5, with_object, without_object)
        return ops.sum(ops.reshape(per_slot, (ops.shape(per_slot)[0], -1)), axis=-1)

    def get_config(self):
        return {
            "name": self.name,
            "reduction": self.reduction,
            "anchors": self.anchors,
            "lambda_coord": self.lambda_coord,
            "lambda_noobj": self.lambda_noobj,
            "sqrt_sizes": self.sqrt_sizes,
            "form": self.form,
        }
