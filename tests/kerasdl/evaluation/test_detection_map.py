"""mAP@0.5 against pycocotools' COCOeval on the same boxes, and a precision-recall table worked by hand."""

import contextlib
import io

import numpy as np
import pytest

from kerasdl.evaluation.detection_map import interpolated_ap, match_image, mean_average_precision

IMAGE = 100.0  # pixels: boxes are in pixels here, as COCO's are


def coco_map(true_boxes, true_classes, pred_boxes, pred_scores, pred_classes, classes: int):
    """(AP@0.5 over the categories, {class: AP}) from pycocotools, boxes converted to COCO's [x, y, w, h]."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(box):
        y_min, x_min, y_max, x_max = (float(v) for v in box)
        return [x_min, y_min, x_max - x_min, y_max - y_min]

    annotations, results = [], []
    for i in range(len(true_boxes)):
        for box, c in zip(true_boxes[i], true_classes[i], strict=True):
            if c >= 0:
                w, h = xywh(box)[2:]
                annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": int(c) + 1,
                                    "bbox": xywh(box), "area": w * h, "iscrowd": 0})  # fmt: skip
        for box, score, c in zip(pred_boxes[i], pred_scores[i], pred_classes[i], strict=True):
            results.append(
                {"image_id": i + 1, "category_id": int(c) + 1, "bbox": xywh(box), "score": float(score)}
            )
    ground_truth = COCO()
    ground_truth.dataset = {
        "images": [{"id": i + 1} for i in range(len(true_boxes))],
        "annotations": annotations,
        "categories": [{"id": c + 1} for c in range(classes)],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        ground_truth.createIndex()
        evaluation = COCOeval(ground_truth, ground_truth.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    precision = evaluation.eval["precision"][
        0, :, :, 0, 2
    ]  # IoU 0.5, every recall, class, area all, 100 dets
    per_class = {c: float(precision[:, c].mean()) for c in range(classes) if precision[0, c] > -1}
    return float(evaluation.stats[1]), per_class


def random_detections(seed: int, images: int = 25, classes: int = 3):
    """Objects, and detections near them (some duplicated, some with the wrong class) plus false alarms."""
    rng = np.random.default_rng(seed)
    true_boxes, true_classes, pred_boxes, pred_scores, pred_classes = [], [], [], [], []
    for _ in range(images):
        n = int(rng.integers(0, 6))
        corner, size = rng.uniform(0, 70, (n, 2)), rng.uniform(8, 30, (n, 2))
        boxes = np.concatenate([corner, corner + size], axis=1)
        labels = rng.integers(0, classes, n)
        found = []
        for box, label in zip(boxes, labels, strict=True):
            for _copy in range(int(rng.choice([0, 1, 1, 1, 2]))):
                jitter = rng.normal(0, 0.15, 4) * np.r_[box[2:] - box[:2], box[2:] - box[:2]]
                wrong = rng.uniform() < 0.1
                found.append((box + jitter, rng.integers(0, classes) if wrong else label))
        for _alarm in range(int(rng.integers(0, 3))):
            corner = rng.uniform(0, 80, 2)
            found.append((np.r_[corner, corner + rng.uniform(5, 20, 2)], rng.integers(0, classes)))
        true_boxes.append(boxes)
        true_classes.append(labels)
        pred_boxes.append(np.array([b for b, _ in found]).reshape(-1, 4))
        pred_classes.append(np.array([c for _, c in found], dtype=int))
        pred_scores.append(rng.uniform(size=len(found)))
    return true_boxes, true_classes, pred_boxes, pred_scores, pred_classes


@pytest.mark.parametrize("seed", range(4))
def test_coco_101_equals_pycocotools(seed):
    pytest.importorskip("pycocotools")
    data = random_detections(seed)
    expected, expected_per_class = coco_map(*data, classes=3)
    result = mean_average_precision(*data, iou_threshold=0.5, interpolation="coco_101")
    assert result.mean_ap == pytest.approx(expected, abs=1e-4)
    assert result.per_class == pytest.approx(expected_per_class, abs=1e-4)
    assert 0.2 < result.mean_ap < 0.95  # neither trivial nor hopeless, so the comparison means something


# One class, three objects (A and B in image 0, C in image 1), five detections in descending score:
#   score  image  best IoU with   verdict   TP  FP  precision  recall
#   0.9    0      A (1.0)         TP        1   0   1/1        1/3
#   0.8    0      A (1.0), taken  FP        1   1   1/2        1/3
#   0.7    1      C (1.0)         TP        2   1   2/3        2/3
#   0.6    1      none            FP        2   2   2/4        2/3
#   0.5    0      B (0.8)         TP        3   2   3/5        3/3
# Precision envelope (max at recall >= r): 1 up to recall 1/3, 2/3 up to 2/3, 3/5 up to 1.
OBJECTS = [np.array([[0, 0, 10, 10], [20, 20, 30, 30]]), np.array([[50, 50, 60, 60]])]
DETECTIONS = {  # image: (boxes, scores)
    0: (np.array([[0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 28]]), np.array([0.9, 0.8, 0.5])),
    1: (np.array([[50, 50, 60, 60], [80, 80, 90, 90]]), np.array([0.7, 0.6])),
}
VOC_BY_HAND = (1 / 3) * 1 + (1 / 3) * (2 / 3) + (1 / 3) * (3 / 5)
# COCO reads the envelope at recall 0, 0.01, ..., 1: 34 points (0..0.33) at 1, 33 (0.34..0.66) at 2/3,
# 34 (0.67..1) at 3/5.
COCO_BY_HAND = (34 * 1 + 33 * (2 / 3) + 34 * (3 / 5)) / 101
HAND_WORKED = (  # mean_average_precision's arguments: objects, their classes, detections, scores, classes
    OBJECTS,
    [np.zeros(2, int), np.zeros(1, int)],
    [DETECTIONS[0][0], DETECTIONS[1][0]],
    [DETECTIONS[0][1], DETECTIONS[1][1]],
    [np.zeros(3, int), np.zeros(2, int)],
)


@pytest.mark.parametrize(
    "interpolation, expected", [("voc_all_points", VOC_BY_HAND), ("coco_101", COCO_BY_HAND)]
)
def test_the_hand_worked_table(interpolation, expected):
    result = mean_average_precision(*HAND_WORKED, interpolation=interpolation)
    assert result.mean_ap == pytest.approx(expected, abs=1e-12)
    curve = result.curves[0]
    np.testing.assert_allclose(curve.precision, [1, 1 / 2, 2 / 3, 2 / 4, 3 / 5])
    np.testing.assert_allclose(curve.recall, [1 / 3, 1 / 3, 2 / 3, 2 / 3, 1])


def test_coco_101_of_the_hand_worked_table_equals_pycocotools():
    pytest.importorskip("pycocotools")
    expected, _ = coco_map(*HAND_WORKED, classes=1)
    assert expected == pytest.approx(COCO_BY_HAND, abs=1e-12)


def test_padded_arrays_and_masks_as_detect_returns_them():
    true_boxes = np.zeros((2, 3, 4))
    true_classes = np.full((2, 3), -1)
    true_boxes[0, :2], true_classes[0, :2] = OBJECTS[0], 0
    true_boxes[1, :1], true_classes[1, :1] = OBJECTS[1], 0
    boxes, scores, classes = np.zeros((2, 4, 4)), np.zeros((2, 4)), np.zeros((2, 4), int)
    valid = np.zeros((2, 4), bool)
    for i, (b, s) in DETECTIONS.items():
        boxes[i, : len(s)], scores[i, : len(s)], valid[i, : len(s)] = b, s, True
    result = mean_average_precision(
        true_boxes, true_classes, boxes, scores, classes, valid, interpolation="voc_all_points"
    )
    assert result.mean_ap == pytest.approx(VOC_BY_HAND)


def test_a_missed_class_scores_zero_and_a_class_without_objects_is_left_out():
    objects = [np.array([[0, 0, 10, 10], [20, 20, 30, 30]])]
    detections = [np.array([[0, 0, 10, 10], [50, 50, 60, 60]])]
    result = mean_average_precision(
        objects, [np.array([0, 1])], detections, [np.array([0.9, 0.8])], [np.array([0, 2])]
    )
    assert result.per_class == pytest.approx({0: 1.0, 1: 0.0})  # class 2 has a detection but no object: no AP
    assert result.mean_ap == pytest.approx(0.5)


def test_a_detection_matches_an_object_with_iou_at_the_threshold():
    assert match_image([[0, 0, 10, 10]], [[0, 0, 10, 20]], [1.0], 0.5).tolist() == [True]  # IoU 0.5 exactly
    assert match_image([[0, 0, 10, 10]], [[0, 0, 10, 21]], [1.0], 0.5).tolist() == [False]


def test_an_empty_curve_has_ap_zero():
    assert interpolated_ap(np.array([]), np.array([]), "coco_101") == 0.0
    assert interpolated_ap(np.array([]), np.array([]), "voc_all_points") == 0.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"interpolation": "eleven_points"}, "interpolation must be one of"),
        ({"iou_threshold": 0}, "iou_threshold"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mean_average_precision([], [], [], [], [], **kwargs)
