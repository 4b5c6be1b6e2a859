"""kerasdl.nn.detection.boxes against hand-computed boxes, Keras' compute_iou and the NumPy reference."""

import keras
import numpy as np
import pytest
from keras import ops

from kerasdl.nn.detection import boxes
from kerasdl.scratch import detection as scratch
from tests.backends.gaps import rtol64

numpy = ops.convert_to_numpy


def random_boxes(rng, n, flip=False):
    centre, size = rng.uniform(0, 1, (n, 2)), rng.uniform(0.0, 0.5, (n, 2))
    corners = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    return corners[:, [2, 1, 0, 3]] if flip else corners


class TestIoU:
    @pytest.mark.parametrize(
        "a, b, expected",
        [
            ((0, 0, 2, 2), (1, 1, 3, 3), 1 / 7),  # I = 1, union = 4 + 4 - 1
            ((0, 0, 2, 2), (0, 0, 2, 2), 1.0),
            ((0, 0, 4, 4), (1, 1, 2, 2), 1 / 16),  # one inside the other
            ((0, 0, 1, 1), (0, 1, 1, 2), 0.0),  # sharing an edge
            ((0, 0, 1, 1), (5, 5, 6, 6), 0.0),
            ((0, 0, 1, 2), (0, 0, 1, 1), 0.5),
            ((2, 2, 0, 0), (1, 1, 3, 3), 1 / 7),  # corners given in the other order
            ((0, 0, 0, 2), (0, 0, 0, 2), 0.0),  # no area: 0, even with itself
        ],
    )
    def test_hand_computed(self, a, b, expected):
        assert float(boxes.iou(np.array(a, "float64"), np.array(b, "float64"))) == pytest.approx(expected)
        assert scratch.iou(a, b) == pytest.approx(expected)

    def test_pairwise_equals_keras_compute_iou(self):
        rng = np.random.default_rng(0)
        a, b = random_boxes(rng, 7).astype("float32"), random_boxes(rng, 5).astype("float32")
        expected = keras.utils.bounding_boxes.compute_iou(a, b, bounding_box_format="yxyx")
        np.testing.assert_allclose(numpy(boxes.pairwise_iou(a, b)), numpy(expected), atol=1e-6)

    def test_pairwise_equals_the_numpy_reference_box_by_box(self):
        rng = np.random.default_rng(1)
        a, b = random_boxes(rng, 6, flip=True), random_boxes(rng, 4)
        expected = [[scratch.iou(x, y) for y in b] for x in a]
        np.testing.assert_allclose(numpy(boxes.pairwise_iou(a, b)), expected, rtol=rtol64(1e-12))

    def test_broadcasts_over_a_batch(self):
        rng = np.random.default_rng(2)
        a, b = random_boxes(rng, 6).reshape(2, 3, 4), random_boxes(rng, 8).reshape(2, 4, 4)
        result = numpy(boxes.pairwise_iou(a, b))
        assert result.shape == (2, 3, 4)
        for i in range(2):
            np.testing.assert_allclose(result[i], numpy(boxes.pairwise_iou(a[i], b[i])))


class TestFormats:
    def test_centre_to_corners_by_hand(self):
        # b_x = 0.5, b_y = 0.25, b_h = 0.2, b_w = 0.4 -> y from 0.15 to 0.35, x from 0.3 to 0.7
        np.testing.assert_allclose(
            numpy(boxes.centre_to_corners(np.array([0.5, 0.25, 0.2, 0.4]))), [0.15, 0.3, 0.35, 0.7]
        )

    def test_round_trip(self):
        corners = random_boxes(np.random.default_rng(3), 10)
        np.testing.assert_allclose(numpy(boxes.centre_to_corners(boxes.corners_to_centre(corners))), corners)

    def test_area_and_normalize(self):
        flipped = np.array([[3.0, 4.0, 1.0, 1.0]])
        np.testing.assert_allclose(numpy(boxes.area(flipped)), [6.0])
        np.testing.assert_allclose(numpy(boxes.normalize_corners(flipped)), [[1.0, 1.0, 3.0, 4.0]])
