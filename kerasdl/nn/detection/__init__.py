"""Object detection (Course 4, Week 3): IoU, NMS, anchors, YOLO, localization, sliding windows.

| module | the lesson's part |
|---|---|
| `boxes` | box formats (corners, the lesson's centre form), intersection over union |
| `nms` | non-max suppression, per class, in `keras.ops` (Keras 3 has none) |
| `anchors` | anchor shapes by k-means with 1 - IoU as the distance |
| `yolo` | the grid's target tensor, the YOLO loss, decoding to detections |
| `localization` | the (p_c, b_x, b_y, b_h, b_w, c_1..c_n, landmarks) head and its loss |
| `sliding_windows` | a classifier's dense layers as convolutions: every window in one pass |

mAP lives with test-time evaluation (`kerasdl.evaluation.detection_map`);
the canvases of Fashion-MNIST items in `pipelines.detection`.
"""

from kerasdl.nn.detection.anchors import kmeans_anchors, mean_best_iou, shape_iou
from kerasdl.nn.detection.boxes import area, centre_to_corners, corners_to_centre, iou, pairwise_iou
from kerasdl.nn.detection.localization import LocalizationHead, LocalizationLoss, localization_targets
from kerasdl.nn.detection.nms import non_max_suppression
from kerasdl.nn.detection.sliding_windows import convolutionalize, window_stride
from kerasdl.nn.detection.yolo import YoloLoss, activate, detect, encode_targets, vectors_to_boxes

__all__ = [
    "LocalizationHead", "LocalizationLoss", "YoloLoss", "activate", "area", "centre_to_corners",
    "convolutionalize", "corners_to_centre", "detect", "encode_targets", "iou", "kmeans_anchors",
    "localization_targets", "mean_best_iou", "non_max_suppression", "pairwise_iou", "shape_iou",
    "vectors_to_boxes", "window_stride",
]  # fmt: skip
