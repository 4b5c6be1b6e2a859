"""Hand-designed edge-detection kernels, the lesson's first convolution.

Course 4, Week 1 ("Edge detection example", "More edge detection"). A 3x3
kernel with positive weights on the left, zeros in the middle and negative
weights on the right responds to a bright-to-dark vertical edge; its
transpose responds to horizontal edges. Sobel puts more weight on the
central row (1, 2, 1), Scharr more still (3, 10, 3). The lesson's worked
example: a 6x6 image whose left half is 10 and right half 0, convolved with
the vertical kernel, gives a 4x4 output whose two middle columns are 30 —
the detected edge.

    vertical = [[1, 0, -1],      sobel = [[1, 0, -1],     scharr = [[ 3, 0,  -3],
                [1, 0, -1],               [2, 0, -2],               [10, 0, -10],
                [1, 0, -1]]               [1, 0, -1]]               [ 3, 0,  -3]]

"Horizontal" versions are the transposes. In deep learning these numbers are
not designed by hand but learned as the weights of a Conv2D layer.
"""

from __future__ import annotations

import numpy as np

from kerasdl.scratch.conv import conv_forward, same_padding

_VERTICAL = {
    "vertical": np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]], dtype=np.float64),
    "sobel": np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float64),
    "scharr": np.array([[3, 0, -3], [10, 0, -10], [3, 0, -3]], dtype=np.float64),
}
KERNEL_NAMES = (
    "vertical",
    "horizontal",
    "sobel_vertical",
    "sobel_horizontal",
    "scharr_vertical",
    "scharr_horizontal",
)


def edge_kernel(name: str) -> np.ndarray:
    """The 3x3 kernel called `name` (one of `KERNEL_NAMES`)."""
    if name not in KERNEL_NAMES:
        raise ValueError(f"Unknown edge kernel. Expected one of {KERNEL_NAMES}. Received: name={name!r}")
    family, _, direction = name.partition("_")
    if family in ("vertical", "horizontal"):
        family, direction = "vertical", family
    kernel = _VERTICAL[family]
    return kernel.copy() if direction == "vertical" else kernel.T.copy()


def detect_edges(image: np.ndarray, name: str, same: bool = False) -> np.ndarray:
    """Convolves a one-channel image [H, W] (or [H, W, 1]) with the kernel `name`.

    Args:
        image: the image, any numeric dtype.
        name: the kernel, one of `KERNEL_NAMES`.
        same: pad by (f - 1) / 2 so the output has the input's size; by default
            a "valid" convolution of size (H - 2) x (W - 2).

    Returns:
        The response map [H', W'] (float64): large positive values at
        bright-to-dark edges, large negative values at dark-to-bright ones.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim != 2:
        raise ValueError(f"image must be [H, W] or [H, W, 1]. Received: shape={image.shape}")
    kernel = edge_kernel(name)
    pad = same_padding(3) if same else 0
    Z, _ = conv_forward(image[None, :, :, None], kernel[:, :, None, None], np.zeros(1), stride=1, pad=pad)
    return Z[0, :, :, 0]
