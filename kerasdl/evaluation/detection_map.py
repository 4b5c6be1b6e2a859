"""Mean average precision of a detector (mAP@0.5), interpolated over COCO's 101 points or VOC's all points.

Course 4, Week 3 ("Intersection over union", "Non-max suppression"): a
detection is correct when its IoU with an object of its class is at least
the threshold (0.5, the lesson's "correct if IoU >= 0.5"). Average precision
summarises, per class, how precision falls as recall rises when the
detections are taken in descending score; mAP is its mean over the classes
(those with at least one object; a class with objects but no detections has
AP 0).

Matching, per image and class, in descending score (stable for equal
scores): a detection takes the not-yet-matched object of its class with the
highest IoU, provided that IoU >= `iou_threshold`, and is then a true
positive; otherwise it is a false positive. Objects never matched are the
misses. This is pycocotools' `COCOeval` rule. (The VOC devkit differs in one
corner: it matches each detection to the highest-IoU object even when that
one is taken, counting the detection false, and needs IoU > 0.5 strictly;
the two differ only when a detection overlaps two objects of its class by
0.5 or more.)

Over all images, the detections of a class in descending score give, after
each, recall = TP / objects and precision = TP / (TP + FP). Then

- "coco_101" (COCO's AP at one IoU threshold; AP50 in COCO's tables):
  precision is made non-increasing (p(r) = max precision at recall >= r),
  read at the 101 recalls 0, 0.01, ..., 1 (0 beyond the largest recall
  reached), and averaged. Equal to pycocotools' `COCOeval` stats[1] within
  1e-4 (tests/kerasdl/evaluation/test_detection_map.py), given at most 100
  detections per image and class (COCO's maxDets; none are dropped here).
- "voc_all_points" (PASCAL VOC from 2010): the area under the same
  non-increasing precision envelope, summed over every recall step:
  AP = sum_k (r_k - r_{k-1}) p(r_k).

Both use float64 IoUs of the corner boxes (y_min, x_min, y_max, x_max).

Example:

    boxes, scores, classes, valid = detect(model.predict(images), anchors, score_threshold=0.01)
    result = mean_average_precision(dev.boxes, dev.classes, boxes, scores, classes, valid)
    result.mean_ap, result.per_class
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

INTERPOLATIONS = ("coco_101", "voc_all_points")
COCO_RECALLS = np.linspace(0.0, 1.0, 101)


@dataclass(frozen=True)
class ClassCurve:
    """The precision-recall curve of one class, detection by detection in descending score.

    Attributes:
        precision, recall: float64 [detections of the class].
        objects: the number of objects of the class.
        average_precision: AP under the chosen interpolation.
    """

    precision: np.ndarray
    recall: np.ndarray
    objects: int
    average_precision: float


@dataclass(frozen=True)
class DetectionMAP:
    """mAP and its parts.

    Attributes:
        mean_ap: the mean AP over the classes with at least one object (NaN if none has).
        per_class: class index -> AP, for the classes with at least one object.
        curves: class index -> its `ClassCurve`.
        interpolation: "coco_101" or "voc_all_points".
        iou_threshold: the IoU a true positive needs.
    """

    mean_ap: float
    per_class: dict[int, float]
    curves: dict[int, ClassCurve] = field(repr=False)
    interpolation: str
    iou_threshold: float

    def table(self, class_names=None) -> str:
        """A Markdown table of AP per class, then the mean."""
        name = (lambda c: class_names[c]) if class_names is not None else str
        title = f"AP@{self.iou_threshold:g} ({self.interpolation})"
        lines = [f"| class | objects | {title} |", "|---|---:|---:|"]
        for c, ap in sorted(self.per_class.items()):
            lines.append(f"| {name(c)} | {self.curves[c].objects} | {ap:.3f} |")
        lines.append(
            f"| **mean** | {sum(c.objects for c in self.curves.values())} | **{self.mean_ap:.3f}** |"
        )
        return "\n".join(lines)


def pairwise_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """float64 IoU [N, M] of corner boxes [N, 4] and [M, 4]; 0 where either box has no area."""
    a, b = np.asarray(boxes_a, np.float64)[:, None, :], np.asarray(boxes_b, np.float64)[None, :, :]
    height = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    width = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    intersection = np.clip(height, 0, None) * np.clip(width, 0, None)
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - intersection
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, intersection / np.where(union > 0, union, 1), 0.0)


def match_image(true_boxes, pred_boxes, pred_scores, iou_threshold: float) -> np.ndarray:
    """Which detections of one image and class are true positives (module docstring), in their given order.

    Returns:
        bool [detections], True for a true positive.
    """
    order = np.argsort(-np.asarray(pred_scores, np.float64), kind="mergesort")
    ious = pairwise_iou(np.asarray(pred_boxes).reshape(-1, 4), np.asarray(true_boxes).reshape(-1, 4))
    matched = np.zeros(ious.shape[1], bool)
    true_positive = np.zeros(len(order), bool)
    for d in order:
        best, best_iou = -1, min(iou_threshold, 1 - 1e-10)
        for g in range(ious.shape[1]):
            if matched[g] or ious[d, g] < best_iou:
                continue
            best, best_iou = g, ious[d, g]
        if best >= 0:
            matched[best] = True
            true_positive[d] = True
    return true_positive


def interpolated_ap(precision: np.ndarray, recall: np.ndarray, interpolation: str) -> float:
    """AP from a precision-recall curve in descending score (module docstring)."""
    if interpolation not in INTERPOLATIONS:
        raise ValueError(
            f"interpolation must be one of {INTERPOLATIONS}. Received: interpolation={interpolation!r}"
        )
    if interpolation == "voc_all_points":
        recall = np.concatenate([[0.0], recall, [1.0]])
        envelope = np.concatenate([[0.0], precision, [0.0]])
        envelope = np.maximum.accumulate(envelope[::-1])[::-1]
        steps = np.nonzero(recall[1:] != recall[:-1])[0]
        return float(np.sum((recall[steps + 1] - recall[steps]) * envelope[steps + 1]))
    envelope = np.maximum.accumulate(np.asarray(precision, np.float64)[::-1])[::-1]
    positions = np.searchsorted(recall, COCO_RECALLS, side="left")
    values = np.zeros(len(COCO_RECALLS))
    reached = positions < len(envelope)
    values[reached] = envelope[positions[reached]]
    return float(values.mean())


def _image_arrays(boxes, classes, scores=None, valid=None):
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    classes = np.asarray(classes).reshape(-1).astype(np.int64)
    keep = classes >= 0
    if valid is not None:
        keep &= np.asarray(valid, bool).reshape(-1)
    scores = None if scores is None else np.asarray(scores, np.float64).reshape(-1)[keep]
    return boxes[keep], classes[keep], scores


def mean_average_precision(
    true_boxes,
    true_classes,
    pred_boxes,
    pred_scores,
    pred_classes,
    pred_valid=None,
    iou_threshold: float = 0.5,
    interpolation: str = "coco_101",
) -> DetectionMAP:
    """mAP of detections against the objects, image by image (module docstring).

    Each argument holds one entry per image: padded arrays ([N, K, ...]) or
    lists of per-image arrays.

    Args:
        true_boxes: [N][K, 4] corner boxes of the objects.
        true_classes: [N][K] their classes; negative entries are padding.
        pred_boxes: [N][M, 4] corner boxes of the detections.
        pred_scores: [N][M] their scores.
        pred_classes: [N][M] their classes; negative entries are padding.
        pred_valid: optional [N][M] bool; False entries are padding (`detect`'s `valid`).
        iou_threshold: the IoU a true positive needs (0.5: mAP@0.5).
        interpolation: "coco_101" or "voc_all_points".
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(
            f"interpolation must be one of {INTERPOLATIONS}. Received: interpolation={interpolation!r}"
        )
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"iou_threshold must be in (0, 1]. Received: iou_threshold={iou_threshold}")
    images = len(true_boxes)
    if not len(true_classes) == len(pred_boxes) == len(pred_scores) == len(pred_classes) == images:
        raise ValueError(
            "Every argument needs one entry per image. Received: "
            f"{[len(a) for a in (true_boxes, true_classes, pred_boxes, pred_scores, pred_classes)]}"
        )
    objects: dict[int, int] = {}
    scores: dict[int, list[np.ndarray]] = {}
    hits: dict[int, list[np.ndarray]] = {}
    for i in range(images):
        t_boxes, t_classes, _ = _image_arrays(true_boxes[i], true_classes[i])
        valid = None if pred_valid is None else pred_valid[i]
        p_boxes, p_classes, p_scores = _image_arrays(pred_boxes[i], pred_classes[i], pred_scores[i], valid)
        for c in np.union1d(t_classes, p_classes).tolist():
            objects[c] = objects.get(c, 0) + int(np.sum(t_classes == c))
            mine = p_classes == c
            order = np.argsort(-p_scores[mine], kind="mergesort")
            scores.setdefault(c, []).append(p_scores[mine][order])
            hits.setdefault(c, []).append(
                match_image(
                    t_boxes[t_classes == c], p_boxes[mine][order], p_scores[mine][order], iou_threshold
                )
            )
    curves, per_class = {}, {}
    for c in sorted(objects):
        if objects[c] == 0:
            continue  # a class without objects has no AP (COCO leaves it out of the mean)
        all_scores, all_hits = np.concatenate(scores[c]), np.concatenate(hits[c])
        order = np.argsort(-all_scores, kind="mergesort")
        true_positives = np.cumsum(all_hits[order]).astype(np.float64)
        false_positives = np.cumsum(~all_hits[order]).astype(np.float64)
        recall = true_positives / objects[c]
        precision = true_positives / (true_positives + false_positives + np.spacing(1))
        ap = interpolated_ap(precision, recall, interpolation)
        curves[c] = ClassCurve(precision, recall, objects[c], ap)
        per_class[c] = ap
    mean_ap = float(np.mean(list(per_class.values()))) if per_class else float("nan")
    return DetectionMAP(mean_ap, per_class, curves, interpolation, float(iou_threshold))
