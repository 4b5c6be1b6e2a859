"""tf.data pipelines from in-memory sources, following the tf.data guide.

Order of stages (https://www.tensorflow.org/guide/data_performance): cache
the deterministic part, then shuffle and random ops (so every epoch sees new
randomness), batch before cheap element-wise maps (one op per batch, not per
image), parallel maps, prefetch.

Course 4, Week 2 ("Data augmentation"): augmentation runs *online*, in
parallel with training (`to_dataset(..., augment=Augmenter(...))`: tf.data
prepares the next batches on other threads while the model trains), or
*offline*, as an augmented copy written to disk once
(`write_augmented` / `read_augmented`).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf

from kerasdl.io import atomic_write_bytes
from pipelines.augment import Augmenter
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
    augment: Augmenter | Callable[[tf.Tensor], tf.Tensor] | None = None,
    cache: bool = True,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Batches of (float32 images, int64 labels) from an `ImageSource`.

    Stages: from_tensor_slices (uint8) -> cache -> shuffle -> batch ->
    one parallel map (cast, augment the whole batch, standardize) ->
    prefetch.

    An `Augmenter` gets a new stateless seed for every batch, drawn from
    `tf.data.Dataset.random(seed, rerandomize_each_iteration=True)`: each
    epoch's augmentations differ, and a dataset built again with the same
    `seed` (under the same global seed, which `start_run` sets) repeats
    them epoch by epoch.

    Args:
        source: the examples.
        batch_size: examples per batch.
        shuffle: reshuffle every epoch (seeded by `seed`).
        seed: shuffle and augmentation seed.
        standardizer: per-channel standardization from the *training* split
            (`Standardizer.fit`); None keeps the 0..255 float scale.
        augment: an `Augmenter` (seeded per batch), or any batched function
            float32 [B, H, W, C] on the 0..255 scale -> float32 batch, applied
            after caching so each epoch differs.
        cache: cache the uint8 examples in memory after the first epoch.
        drop_remainder: drop the last partial batch.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer. Received: batch_size={batch_size}")
    if augment is not None and not callable(augment):
        raise ValueError(f"augment must be an Augmenter or a callable. Received: augment={augment!r}")
    dataset = tf.data.Dataset.from_tensor_slices((source.images, source.labels))
    if cache:
        dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(min(len(source), 60_000), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=AUTOTUNE)
    seeded = isinstance(augment, Augmenter)
    if seeded:
        batch_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        dataset = tf.data.Dataset.zip(dataset, batch_seeds)

    def prepare(images, labels, batch_seed=None):
        if seeded:  # the Augmenter takes the uint8 pixels: it cuts its windows before casting
            images = augment(images, tf.stack([tf.constant(seed, tf.int64), batch_seed]))
        else:
            images = tf.cast(images, tf.float32)
            if augment is not None:
                images = augment(images)
        if standardizer is not None:
            images = standardizer(images)
        return images, labels

    if seeded:
        dataset = dataset.map(lambda batch, s: prepare(*batch, s), num_parallel_calls=AUTOTUNE)
    else:
        dataset = dataset.map(prepare, num_parallel_calls=AUTOTUNE)
    return dataset.prefetch(AUTOTUNE)


def shuffled_batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int) -> tf.data.Dataset:
    """Batches of in-memory arrays (x, y) in a seeded order drawn anew every epoch.

    For inputs that are not an `ImageSource` (precomputed features, several
    labels per image). Give it to the backup (`run.resume_callbacks(dataset=...)`)
    and a resumed `fit` sees the orders an uninterrupted one would have.
    """
    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(AUTOTUNE)


def write_augmented(
    source: ImageSource,
    augmenter: Augmenter,
    path: str | os.PathLike,
    copies: int = 1,
    seed: int = 0,
    batch_size: int = 512,
) -> Path:
    """Writes `copies` augmented versions of every example to one .npz file, atomically.

    Course 4, Week 2: augmentation "on the hard disk", done once before
    training instead of online. The file holds uint8 images (augmented,
    rounded), labels, ids "<id>#aug<k>" and class names; `read_augmented`
    loads it back as an `ImageSource`. Copy k of batch b uses the seed
    (seed, k * batches + b), so the file is reproducible.
    """
    if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
        raise ValueError(f"copies must be a positive integer. Received: copies={copies!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer. Received: batch_size={batch_size!r}")
    batches = -(-len(source) // batch_size)
    apply = tf.function(augmenter, reduce_retracing=True)
    images, labels, ids = [], [], []
    for copy in range(copies):
        for b in range(batches):
            chunk = slice(b * batch_size, (b + 1) * batch_size)
            augmented = apply(source.images[chunk], tf.constant([seed, copy * batches + b], tf.int64))
            images.append(np.round(augmented.numpy()).astype(np.uint8))
        labels.append(source.labels)
        ids.append(np.char.add(source.ids.astype(str), f"#aug{copy}"))
    buffer = io.BytesIO()
    np.savez(
        buffer,
        images=np.concatenate(images),
        labels=np.concatenate(labels),
        ids=np.concatenate(ids),
        class_names=np.array(source.class_names),
        name=np.array(f"{source.name}+augmented"),
    )
    return atomic_write_bytes(path, buffer.getvalue())


def read_augmented(path: str | os.PathLike) -> ImageSource:
    """Loads a file written by `write_augmented` as an `ImageSource`."""
    with np.load(path, allow_pickle=False) as data:
        return ImageSource(
            name=str(data["name"]),
            images=data["images"],
            labels=data["labels"].astype(np.int64),
            ids=data["ids"],
            class_names=tuple(str(c) for c in data["class_names"]),
        )
