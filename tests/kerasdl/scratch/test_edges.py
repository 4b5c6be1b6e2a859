"""kerasdl.scratch.edges: the lesson's worked example and the kernels' symmetries."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from kerasdl.scratch import edges


def test_lesson_worked_example_vertical_edge():
    image = np.zeros((6, 6))
    image[:, :3] = 10  # bright left half, dark right half
    out = edges.detect_edges(image, "vertical")
    expected = np.tile([0.0, 30.0, 30.0, 0.0], (4, 1))
    np.testing.assert_array_equal(out, expected)
    # Dark-to-bright flips the sign; the horizontal kernel sees nothing.
    np.testing.assert_array_equal(edges.detect_edges(image[:, ::-1], "vertical"), -expected)
    np.testing.assert_array_equal(edges.detect_edges(image, "horizontal"), np.zeros((4, 4)))


@pytest.mark.parametrize("name", edges.KERNEL_NAMES)
def test_matches_scipy_cross_correlation(name):
    image = np.random.default_rng(1).integers(0, 255, size=(12, 10)).astype(float)
    expected = signal.correlate2d(image, edges.edge_kernel(name), mode="valid")
    np.testing.assert_allclose(edges.detect_edges(image, name), expected)
    same = signal.correlate2d(image, edges.edge_kernel(name), mode="same", boundary="fill")
    np.testing.assert_allclose(edges.detect_edges(image[..., None], name, same=True), same)


def test_kernels():
    np.testing.assert_array_equal(edges.edge_kernel("sobel_vertical")[:, 0], [1, 2, 1])
    np.testing.assert_array_equal(edges.edge_kernel("scharr_vertical")[:, 0], [3, 10, 3])
    for name in edges.KERNEL_NAMES:
        kernel = edges.edge_kernel(name)
        assert kernel.sum() == 0  # flat regions give zero response
        partner = name.replace("vertical", "H").replace("horizontal", "vertical").replace("H", "horizontal")
        np.testing.assert_array_equal(kernel.T, edges.edge_kernel(partner))


def test_rejects_unknown_kernel_and_bad_image():
    with pytest.raises(ValueError, match="name='laplace'"):
        edges.edge_kernel("laplace")
    with pytest.raises(ValueError, match="shape"):
        edges.detect_edges(np.zeros((4, 4, 3)), "vertical")
