"""tf.data pipelines from in-memory sources, following the tf.data guide.

Order of stages (https://www.tensorflow.org/guide/data_performance): cache
the deterministic part, then shuffle and random ops (so every epoch sees new
randomness), batch before cheap element-wise maps (one op per batch, not per
image), parallel maps, prefetch.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from pipelines.normalize import Standardizer
from pipelines.sources import ImageSource

AUTOTUNE = tf.data.AUTOTUNE


def to_dataset(
    source: ImageSource,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    standardizer: Standardizer | None = None,
    augment: Callable[[tf.Tensor], tf.Tensor] | None = None,
    cache: bool = True,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Batches of (float32 images, int64 labels) from an `ImageSource`.

    Args:
        source: the examples.
        batch_size: examples per batch.
        shuffle: reshuffle every epoch (seeded by `seed`).
        seed: shuffle seed.
        standardizer: per-channel standardization from the *training* split
            (`Standardizer.fit`); None keeps the 0..255 float scale.
        augment: a batched augmentation, float32 [B, H, W, C] on the 0..255
            scale -> the same shape, applied after caching so each epoch
            differs.
        cache: cache the uint8 examples in memory after the first epoch.
        drop_remainder: drop the last partial batch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer. Received: batch_size={batch_size}")
    dataset = tf.data.Dataset.from_tensor_slices((source.images, source.labels))
    if cache:
        dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(min(len(source), 60_000), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=AUTOTUNE)

    def prepare(images, labels):
        images = tf.cast(images, tf.float32)
        if augment is not None:
            images = augment(images)
        if standardizer is not None:
            images = standardizer(images)
        return images, labels

    dataset = dataset.map(prepare, num_parallel_calls=AUTOTUNE)
    return dataset.prefetch(AUTOTUNE)
