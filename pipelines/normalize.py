"""Input normalization with statistics from the training split only.

Course 2, Week 1 ("Normalizing inputs"): subtract the mean, divide by the
standard deviation, and use the *same* mu and sigma, computed on the training
set, for the dev and test sets. Computing them on dev or test would leak
those sets into training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Standardizer:
    """Per-channel standardization x -> (x - mean) / std.

    Build it with `Standardizer.fit(train_images)`; apply it to every split
    with `__call__` (NumPy or TensorFlow tensors, any float or uint8 input on
    the 0..255 scale).

    Attributes:
        mean: per-channel mean of the training images, shape [C].
        std: per-channel standard deviation, shape [C] (floored at 1e-6 so a
            constant channel does not divide by zero).
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, images: np.ndarray, chunk_values: int = 2**24) -> Standardizer:
        """Computes the per-channel mean and std of `images` [N, H, W, C].

        Accumulates in float64 over chunks of about `chunk_values` pixel
        values (128 MB in float64, whatever the image size), so the whole
        split costs no more memory than one chunk, and images streamed from
        disk (`pipelines.streaming.StreamedImages`) are read in one pass, a
        chunk at a time.
        """
        if not hasattr(images, "shape"):
            images = np.asarray(images)
        if len(images.shape) != 4 or len(images) == 0:
            raise ValueError(f"images must be a non-empty [N, H, W, C] array. Received: shape={images.shape}")
        channels = images.shape[-1]
        chunk = max(1, chunk_values // int(np.prod(images.shape[1:])))
        total = np.zeros(channels)
        total_sq = np.zeros(channels)
        for start in range(0, len(images), chunk):
            block = np.asarray(images[start : start + chunk]).astype(np.float64).reshape(-1, channels)
            total += block.sum(axis=0)
            total_sq += np.square(block).sum(axis=0)
        count = int(np.prod(images.shape[:3]))
        mean = total / count
        std = np.sqrt(np.maximum(total_sq / count - np.square(mean), 0.0))
        return cls(mean=mean.astype(np.float32), std=np.maximum(std, 1e-6).astype(np.float32))

    def __call__(self, images):
        """Standardizes a NumPy array or a tensor (cast to float32)."""
        if isinstance(images, np.ndarray):
            return (images.astype(np.float32) - self.mean) / self.std
        import tensorflow as tf

        return (tf.cast(images, tf.float32) - self.mean) / self.std

    def to_config(self) -> dict:
        """JSON-ready statistics, saved with the run's config."""
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_config(cls, config: dict) -> Standardizer:
        return cls(mean=np.asarray(config["mean"], np.float32), std=np.asarray(config["std"], np.float32))
