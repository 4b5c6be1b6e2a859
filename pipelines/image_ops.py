"""Batched image operations with per-image parameters, in plain TensorFlow.

Every function takes a whole batch `images` [N, H, W, C] (float32, 0..255
scale) and one parameter value per image, so a batch is transformed in a few
tensor ops with no per-image Python. Synthesis (`pipelines.synthesis`) and
augmentation (`pipelines.augment`) are built from these.

The geometric ops use ImageProjectiveTransformV3, which XLA cannot compile on
CPU (TF 2.21: "Detected unsupported operations ... on XLA_CPU_JIT"): run
them in the tf.data pipeline, not inside a model compiled with jit_compile.
"""

from __future__ import annotations

import math

import tensorflow as tf


def as_seed(seed) -> tf.Tensor:
    """A stateless-op seed: an int64 tensor of shape [2] (an int becomes [seed, 0])."""
    seed = tf.convert_to_tensor(seed)
    if not seed.dtype.is_integer:
        raise ValueError(f"seed must be integers. Received: seed={seed!r}")
    seed = tf.cast(seed, tf.int64)
    if seed.shape.rank == 0:
        seed = tf.stack([seed, tf.constant(0, tf.int64)])
    if seed.shape.as_list() != [2]:
        raise ValueError(
            f"seed must be an integer or a pair of integers. Received: seed with shape {seed.shape}"
        )
    return seed


def _per_image(value, n, name: str) -> tf.Tensor:
    value = tf.convert_to_tensor(value, tf.float32)
    if value.shape.rank == 0:
        return tf.fill([n], value)
    if value.shape.rank != 1:
        raise ValueError(f"{name} must be a scalar or one value per image. Received: shape={value.shape}")
    return value


def gaussian_kernel_matrices(sigma: tf.Tensor, size: int) -> tf.Tensor:
    """Row-normalized Gaussian blur matrices [N, size, size], one per sigma.

    Multiplying a row of pixels by the matrix blurs it; rows are
    renormalized so that the edges keep their brightness. sigma = 0 gives the
    identity.
    """
    sigma = tf.maximum(tf.convert_to_tensor(sigma, tf.float32), 1e-3)
    positions = tf.range(size, dtype=tf.float32)
    distance = positions[:, None] - positions[None, :]
    weights = tf.exp(-tf.square(distance)[None] / (2.0 * tf.square(sigma)[:, None, None]))
    return weights / tf.reduce_sum(weights, axis=-1, keepdims=True)


def gaussian_blur(images: tf.Tensor, sigma) -> tf.Tensor:
    """Separable Gaussian blur with one standard deviation (pixels) per image."""
    images = tf.convert_to_tensor(images, tf.float32)
    n, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    sigma = _per_image(sigma, n, "sigma")
    rows = gaussian_kernel_matrices(sigma, height)
    cols = gaussian_kernel_matrices(sigma, width)
    blurred = tf.einsum("nhk,nkwc->nhwc", rows, images)
    return tf.einsum("nwk,nhkc->nhwc", cols, blurred)


def adjust_contrast_exposure(images: tf.Tensor, contrast, exposure) -> tf.Tensor:
    """Scales each image's contrast about its mean, then its exposure.

    x -> exposure * (mean + contrast * (x - mean)), per image: contrast < 1
    flattens the image (and lifts a dark background towards grey), exposure
    < 1 darkens it.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    n = tf.shape(images)[0]
    contrast = _per_image(contrast, n, "contrast")[:, None, None, None]
    exposure = _per_image(exposure, n, "exposure")[:, None, None, None]
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return exposure * (mean + contrast * (images - mean))


def affine_matrices(
    angle, shift_y, shift_x, shear=0.0, scale=1.0, height: int = 1, width: int = 1
) -> tf.Tensor:
    """Output-to-input affine maps [N, 8] for ImageProjectiveTransformV3.

    The forward map, about the image centre, is: scale, shear (x += shear*y),
    rotate by `angle` (radians, counter-clockwise as seen on screen), then
    shift by (shift_y, shift_x) pixels. The returned rows are its inverse,
    which is what the op wants: for each output pixel, where to sample.
    """
    angle = tf.convert_to_tensor(angle, tf.float32)
    n = tf.shape(angle)[0]
    shift_y, shift_x = _per_image(shift_y, n, "shift_y"), _per_image(shift_x, n, "shift_x")
    shear, scale = _per_image(shear, n, "shear"), _per_image(scale, n, "scale")
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    cos, sin = tf.cos(angle), tf.sin(angle)
    # Forward linear part A = R(angle) @ Shear @ Scale, acting on (x, y) with y down;
    # "counter-clockwise on screen" means the y-down rotation by -angle.
    a00, a01 = cos * scale, (cos * shear + sin) * scale
    a10, a11 = -sin * scale, (-sin * shear + cos) * scale
    det = a00 * a11 - a01 * a10
    i00, i01, i10, i11 = a11 / det, -a01 / det, -a10 / det, a00 / det
    # input = A^-1 (output - centre - shift) + centre
    ox, oy = cx + shift_x, cy + shift_y
    b0 = cx - (i00 * ox + i01 * oy)
    b1 = cy - (i10 * ox + i11 * oy)
    zeros = tf.zeros_like(angle)
    return tf.stack([i00, i01, b0, i10, i11, b1, zeros, zeros], axis=1)


def apply_affine(
    images: tf.Tensor, matrices: tf.Tensor, fill_mode: str = "NEAREST", interpolation: str = "BILINEAR"
):
    """Resamples each image by its [8] output-to-input transform."""
    images = tf.convert_to_tensor(images, tf.float32)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=tf.cast(matrices, tf.float32),
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation=interpolation,
        fill_mode=fill_mode,
    )


def rotate_and_shift(
    images: tf.Tensor, angle_degrees, shift_y, shift_x, fill_mode: str = "NEAREST"
) -> tf.Tensor:
    """Rotates each image about its centre (degrees) and shifts it (pixels)."""
    images = tf.convert_to_tensor(images, tf.float32)
    n = tf.shape(images)[0]
    angle = _per_image(angle_degrees, n, "angle_degrees") * (math.pi / 180.0)
    matrices = affine_matrices(angle, shift_y, shift_x, height=images.shape[1], width=images.shape[2])
    return apply_affine(images, matrices, fill_mode=fill_mode)
