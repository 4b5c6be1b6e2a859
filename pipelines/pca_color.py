"""PCA colour augmentation ("fancy PCA"), fitted once on the training set.

AlexNet (Krizhevsky, Sutskever and Hinton 2012, section 4.1), cited in
Course 4, Week 2 ("Data augmentation: colour shifting ... PCA colour
augmentation"): compute the principal components of the RGB pixel values of
the whole training set, then add to every pixel of each training image

    delta = [p1, p2, p3] @ [alpha1 * lambda1, alpha2 * lambda2, alpha3 * lambda3]^T,

where p_i and lambda_i are the i-th eigenvector and eigenvalue of the 3x3
covariance of the pixel values (scaled to [0, 1], as the reference
implementations do) and alpha_i ~ N(0, sigma) is drawn once per image (the
paper uses sigma = 0.1). Colours shift more along the directions in which
the training set's colours vary most, so an image's illumination changes
while its identity does not.

On grayscale images there is no colour to shift: the covariance is 1x1, its
only "component" is brightness itself. `PCAColor.fit` says so in a warning
and the fitted object leaves images unchanged, rather than quietly running a
brightness jitter under a colour name.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from pipelines.image_ops import as_seed

GRAYSCALE_MESSAGE = (
    "PCA colour augmentation does nothing on grayscale images (1 channel): there is no colour, "
    "the pixel covariance is 1x1 and its only principal component is brightness. "
    "Use color_shift (a brightness shift on one channel) or contrast instead."
)


@dataclass(frozen=True)
class PCAColor:
    """The training set's RGB principal components and the AlexNet perturbation.

    Build it with `PCAColor.fit(train_images)`, once, on the training split
    only; apply it to training batches with `__call__`.

    Attributes:
        eigenvalues: [C] variances along the components, largest first, of
            pixel values on the [0, 1] scale.
        eigenvectors: [C, C] unit components, one per column (p_i = [:, i]).
        mean: [C] mean pixel value on the [0, 1] scale (kept for reference).
    """

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    mean: np.ndarray

    @property
    def channels(self) -> int:
        return len(self.mean)

    @property
    def does_nothing(self) -> bool:
        """True for grayscale fits, which leave images unchanged (see the module docstring)."""
        return self.channels < 2

    @classmethod
    def fit(cls, images: np.ndarray, chunk: int = 8192) -> PCAColor:
        """Eigen-decomposes the pixel covariance of `images` [N, H, W, C] (0..255).

        Accumulates sum(x) and sum(x x^T) in float64 over chunks, so the whole
        training set costs the memory of one chunk.
        """
        images = np.asarray(images)
        if images.ndim != 4 or len(images) == 0:
            raise ValueError(f"images must be a non-empty [N, H, W, C] array. Received: shape={images.shape}")
        channels = images.shape[-1]
        if channels < 2:
            warnings.warn(GRAYSCALE_MESSAGE, stacklevel=2)
        total = np.zeros(channels)
        outer = np.zeros((channels, channels))
        for start in range(0, len(images), chunk):
            pixels = images[start : start + chunk].reshape(-1, channels).astype(np.float64) / 255.0
            total += pixels.sum(axis=0)
            outer += pixels.T @ pixels
        count = images.size // channels
        mean = total / count
        covariance = outer / count - np.outer(mean, mean)
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        order = np.argsort(eigenvalues)[::-1]
        return cls(
            eigenvalues=np.maximum(eigenvalues[order], 0.0).astype(np.float32),
            eigenvectors=eigenvectors[:, order].astype(np.float32),
            mean=mean.astype(np.float32),
        )

    def perturbation(self, batch_size, seed, sigma: float = 0.1) -> tf.Tensor:
        """The per-image colour offsets [B, C] on the 0..255 scale: 255 * P @ (alpha * lambda)."""
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or sigma < 0:
            raise ValueError(f"sigma must be a non-negative number. Received: sigma={sigma!r}")
        alphas = tf.random.stateless_normal([batch_size, self.channels], as_seed(seed), stddev=sigma)
        scaled = alphas * self.eigenvalues[None, :]
        return 255.0 * tf.matmul(scaled, self.eigenvectors, transpose_b=True)

    def __call__(self, images, seed, sigma: float = 0.1) -> tf.Tensor:
        """Adds one PCA colour offset per image to float images [B, H, W, C] (0..255)."""
        images = tf.cast(images, tf.float32)
        if images.shape[-1] != self.channels:
            raise ValueError(
                f"images have {images.shape[-1]} channels but the PCA was fitted on {self.channels}. "
                f"Received: shape={images.shape}"
            )
        if self.does_nothing:
            return images
        offsets = self.perturbation(tf.shape(images)[0], seed, sigma)
        return images + offsets[:, None, None, :]

    def to_config(self) -> dict:
        """JSON-ready components, saved with the run's config."""
        return {k: getattr(self, k).tolist() for k in ("eigenvalues", "eigenvectors", "mean")}
