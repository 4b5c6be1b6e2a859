"""Convolution and pooling in NumPy, forward and backward, as the lessons write them.

Course 4, Week 1 ("Convolutional Neural Networks: Step by Step"). Shapes
follow the course: activations are [m, n_H, n_W, n_C] (channels last, like
Keras), kernels are [f, f, n_C_prev, n_C], biases [1, 1, 1, n_C].

The "convolution" of deep learning is a cross-correlation: the kernel is not
flipped. Output size, for input size n, kernel f, padding p and stride s:

    n_out = floor((n + 2p - f) / s) + 1

These functions are the oracles of the Keras blocks and readable teaching
code; the loops run over output positions only (the batch and channels are
vectorized), so they are fast enough for tests on small volumes.

Example:

    >>> import numpy as np
    >>> from kerasdl.scratch import conv
    >>> conv.output_size(n=6, f=3, p=0, s=1)
    4
    >>> Z, cache = conv.conv_forward(np.ones((1, 6, 6, 1)), np.ones((3, 3, 1, 1)), np.zeros((1, 1, 1, 1)),
    ...                              stride=1, pad=0)
    >>> Z.shape
    (1, 4, 4, 1)
"""

from __future__ import annotations

from typing import Any

import numpy as np

POOL_MODES = ("max", "average")


def output_size(n: int, f: int, p: int = 0, s: int = 1) -> int:
    """floor((n + 2p - f) / s) + 1, the output length of a convolution or pooling.

    Args:
        n: input length (height or width).
        f: kernel (filter) length.
        p: zero padding added on each side.
        s: stride.

    Raises:
        ValueError: when the kernel does not fit in the padded input, or an
            argument is out of range.
    """
    if f < 1 or s < 1 or p < 0 or n < 1:
        raise ValueError(f"Expected n >= 1, f >= 1, p >= 0, s >= 1. Received: n={n}, f={f}, p={p}, s={s}")
    if n + 2 * p < f:
        raise ValueError(f"The kernel is larger than the padded input. Received: n={n}, f={f}, p={p}")
    return (n + 2 * p - f) // s + 1


def same_padding(f: int) -> int:
    """p = (f - 1) / 2, the padding of a "same" convolution with stride 1 (odd f)."""
    if f < 1 or f % 2 == 0:
        raise ValueError(f"'same' padding (f - 1) / 2 needs an odd kernel size. Received: f={f}")
    return (f - 1) // 2


def zero_pad(X: np.ndarray, pad: int) -> np.ndarray:
    """Pads the height and width of every image of X [m, n_H, n_W, n_C] with `pad` zeros."""
    if pad < 0:
        raise ValueError(f"pad must be >= 0. Received: pad={pad}")
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="constant", constant_values=0)


def conv_single_step(a_slice_prev: np.ndarray, W: np.ndarray, b: np.ndarray | float) -> float:
    """One filter on one window: Z = sum(a_slice * W) + b.

    Args:
        a_slice_prev: a window [f, f, n_C_prev] of the previous activation.
        W: one filter [f, f, n_C_prev].
        b: its bias (a scalar or a [1, 1, 1] array).
    """
    return float(np.sum(a_slice_prev * W) + np.asarray(b).reshape(()))


def _windows(n_H: int, n_W: int, f: int, stride: int):
    """Yields (h, w, vertical slice, horizontal slice) for every output position."""
    for h in range(n_H):
        for w in range(n_W):
            yield h, w, slice(h * stride, h * stride + f), slice(w * stride, w * stride + f)


def conv_forward(
    A_prev: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0
) -> tuple[np.ndarray, dict[str, Any]]:
    """Convolution over a volume: Z[i, h, w, c] = sum(A_pad[i, window(h, w), :] * W[..., c]) + b[c].

    Args:
        A_prev: [m, n_H_prev, n_W_prev, n_C_prev].
        W: [f, f, n_C_prev, n_C].
        b: [1, 1, 1, n_C] (or anything that reshapes to [n_C]).
        stride: s.
        pad: p, zeros added on each side of height and width.

    Returns:
        Z [m, n_H, n_W, n_C] with n_H = floor((n_H_prev + 2p - f) / s) + 1, and
        the cache `conv_backward` needs.
    """
    m, n_H_prev, n_W_prev, n_C_prev = A_prev.shape
    f, f2, w_C_prev, n_C = W.shape
    if f != f2 or w_C_prev != n_C_prev:
        raise ValueError(
            f"W must be [f, f, n_C_prev={n_C_prev}, n_C]. "
            f"Received: W.shape={W.shape}, A_prev.shape={A_prev.shape}"
        )
    n_H = output_size(n_H_prev, f, pad, stride)
    n_W = output_size(n_W_prev, f, pad, stride)
    A_pad = zero_pad(A_prev, pad)
    kernel = W.reshape(-1, n_C)
    Z = np.empty((m, n_H, n_W, n_C), dtype=np.result_type(A_prev, W))
    for h, w, vs, hs in _windows(n_H, n_W, f, stride):
        Z[:, h, w, :] = A_pad[:, vs, hs, :].reshape(m, -1) @ kernel
    Z += np.asarray(b).reshape(n_C)
    return Z, {"A_prev": A_prev, "W": W, "b": b, "stride": stride, "pad": pad}


def conv_backward(dZ: np.ndarray, cache: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The gradients of `conv_forward` given dZ = dJ/dZ.

    For every output position (h, w) and filter c:

        dA_pad[i, window(h, w), :] += W[..., c] * dZ[i, h, w, c]
        dW[..., c]                 += A_pad[i, window(h, w), :] * dZ[i, h, w, c]
        db[c]                      += dZ[i, h, w, c]

    Returns:
        dA_prev [m, n_H_prev, n_W_prev, n_C_prev], dW like W, db [1, 1, 1, n_C].
    """
    A_prev, W, stride, pad = cache["A_prev"], cache["W"], cache["stride"], cache["pad"]
    m, n_H_prev, n_W_prev, n_C_prev = A_prev.shape
    f, _, _, n_C = W.shape
    _, n_H, n_W, _ = dZ.shape
    A_pad = zero_pad(A_prev, pad)
    dA_pad = np.zeros_like(A_pad, dtype=np.result_type(A_prev, dZ))
    dW = np.zeros_like(W, dtype=np.result_type(W, dZ))
    kernel_t = W.reshape(-1, n_C).T
    for h, w, vs, hs in _windows(n_H, n_W, f, stride):
        d = dZ[:, h, w, :]  # [m, n_C]
        dA_pad[:, vs, hs, :] += (d @ kernel_t).reshape(m, f, f, n_C_prev)
        dW += (A_pad[:, vs, hs, :].reshape(m, -1).T @ d).reshape(W.shape)
    db = dZ.sum(axis=(0, 1, 2)).reshape(1, 1, 1, n_C)
    dA_prev = dA_pad[:, pad : pad + n_H_prev, pad : pad + n_W_prev, :]
    return dA_prev, dW, db


def pool_forward(
    A_prev: np.ndarray, f: int = 2, stride: int = 2, mode: str = "max"
) -> tuple[np.ndarray, dict[str, Any]]:
    """Max or average pooling over each f x f window, channel by channel (no padding, no weights).

    Output size floor((n - f) / s) + 1; the number of channels does not change.
    """
    if mode not in POOL_MODES:
        raise ValueError(f"mode must be one of {POOL_MODES}. Received: mode={mode!r}")
    m, n_H_prev, n_W_prev, n_C = A_prev.shape
    n_H = output_size(n_H_prev, f, 0, stride)
    n_W = output_size(n_W_prev, f, 0, stride)
    reduce = np.max if mode == "max" else np.mean
    A = np.empty((m, n_H, n_W, n_C), dtype=A_prev.dtype)
    for h, w, vs, hs in _windows(n_H, n_W, f, stride):
        A[:, h, w, :] = reduce(A_prev[:, vs, hs, :], axis=(1, 2))
    return A, {"A_prev": A_prev, "f": f, "stride": stride, "mode": mode}


def create_mask_from_window(x: np.ndarray) -> np.ndarray:
    """True where x [f, f] holds its maximum: max pooling sends the gradient there."""
    return x == np.max(x)


def distribute_value(dz: float, shape: tuple[int, int]) -> np.ndarray:
    """Spreads dz evenly over a window: average pooling's backward for one window."""
    n_H, n_W = shape
    return np.full(shape, dz / (n_H * n_W))


def pool_backward(dA: np.ndarray, cache: dict[str, Any]) -> np.ndarray:
    """The gradient of `pool_forward` with respect to its input.

    Max pooling routes each window's gradient to the position of its maximum
    (the first one on ties, like TensorFlow's MaxPoolGrad); average pooling
    spreads it evenly over the f x f window (`distribute_value`).
    """
    A_prev, f, stride, mode = cache["A_prev"], cache["f"], cache["stride"], cache["mode"]
    m, _, _, n_C = A_prev.shape
    _, n_H, n_W, _ = dA.shape
    dA_prev = np.zeros_like(A_prev, dtype=np.result_type(A_prev, dA))
    for h, w, vs, hs in _windows(n_H, n_W, f, stride):
        d = dA[:, h, w, :]  # [m, n_C]
        if mode == "max":
            window = A_prev[:, vs, hs, :].reshape(m, f * f, n_C)
            first_max = np.argmax(window, axis=1)  # [m, n_C]
            mask = np.zeros_like(window, dtype=bool)
            np.put_along_axis(mask, first_max[:, None, :], True, axis=1)
            dA_prev[:, vs, hs, :] += (mask * d[:, None, :]).reshape(m, f, f, n_C)
        else:
            dA_prev[:, vs, hs, :] += d[:, None, None, :] / (f * f)
    return dA_prev


def conv_multiplications(n_H: int, n_W: int, n_C: int, f: int, n_C_prev: int) -> int:
    """Multiplications of a convolution: one f x f x n_C_prev dot product per output number.

    Course 4, Week 2 ("Inception network motivation"): 28x28x192 -> 5x5 conv,
    32 filters -> 28x28x32 costs 28 * 28 * 32 * 5 * 5 * 192 = 120,422,400
    multiplications; a 1x1 bottleneck to 16 channels first costs 2,408,448 +
    10,035,200 = 12,443,648, about a tenth.

    Args:
        n_H, n_W, n_C: the output volume.
        f: kernel size.
        n_C_prev: input channels.
    """
    return n_H * n_W * n_C * f * f * n_C_prev
