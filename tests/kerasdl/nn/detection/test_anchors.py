"""k-means anchors: 1 - IoU by the box-by-box reference, planted shapes recovered, better than hand-picked."""

import numpy as np
import pytest

from kerasdl.nn.detection.anchors import kmeans_anchors, mean_best_iou, shape_iou
from kerasdl.scratch import detection as scratch

PLANTED = np.array([[0.1, 0.3], [0.25, 0.25], [0.4, 0.12]])  # (h, w): wide, square, tall


def planted_shapes(seed: int = 0, per_shape: int = 200, noise: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shapes = np.repeat(PLANTED, per_shape, axis=0)
    return shapes * rng.uniform(1 - noise, 1 + noise, shapes.shape)


def test_shape_iou_is_the_iou_of_boxes_centred_at_one_point():
    rng = np.random.default_rng(0)
    shapes, anchors = rng.uniform(0.05, 1, (6, 2)), rng.uniform(0.05, 1, (3, 2))
    centred = lambda h, w: (-h / 2, -w / 2, h / 2, w / 2)  # noqa: E731
    expected = [[scratch.iou(centred(*s), centred(*a)) for a in anchors] for s in shapes]
    np.testing.assert_allclose(shape_iou(shapes, anchors), expected, rtol=1e-12)


def test_recovers_planted_shapes():
    anchors = kmeans_anchors(planted_shapes(), k=3, seed=0)
    order = np.argsort(PLANTED[:, 0] * PLANTED[:, 1])  # anchors come sorted by area
    np.testing.assert_allclose(anchors, PLANTED[order], rtol=0.02)


def test_beats_hand_picked_squares_on_mean_iou():
    shapes = planted_shapes(seed=1, noise=0.2)
    hand_picked = np.array([[0.15, 0.15], [0.25, 0.25], [0.35, 0.35]])
    assert mean_best_iou(shapes, kmeans_anchors(shapes, k=3)) > mean_best_iou(shapes, hand_picked) + 0.1


def test_ends_at_a_fixed_point_of_lloyds_iteration():
    shapes = planted_shapes(seed=2, noise=0.4)
    anchors = kmeans_anchors(shapes, k=4, seed=3)
    nearest = np.argmax(shape_iou(shapes, anchors), axis=1)  # the smallest 1 - IoU
    for j, anchor in enumerate(anchors):
        np.testing.assert_allclose(anchor, shapes[nearest == j].mean(axis=0), rtol=1e-12)


def test_same_seed_same_anchors():
    shapes = planted_shapes(seed=4, noise=0.4)
    np.testing.assert_array_equal(kmeans_anchors(shapes, 5, seed=7), kmeans_anchors(shapes, 5, seed=7))


@pytest.mark.parametrize(
    "shapes, k, message",
    [
        (np.ones((3, 2)), 4, r"k must be an integer in \[1, 3\]"),
        (np.ones((3, 3)), 2, r"shapes must be \[N, 2\] positive"),
        (-np.ones((3, 2)), 2, r"shapes must be \[N, 2\] positive"),
    ],
)
def test_bad_arguments(shapes, k, message):
    with pytest.raises(ValueError, match=message):
        kmeans_anchors(shapes, k)
