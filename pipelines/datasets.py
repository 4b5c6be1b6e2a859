"""tf.data pipelines from in-memory sources, following the tf.data guide.

Order of stages (https://www.tensorflow.org/guide/data_performance): cache
the deterministic part, then shuffle and random ops (so every epoch sees new
randomness), batch before cheap element-wise maps (one op per batch, not per
image), parallel maps, prefetch.

For sources in memory, the cached part is the uint8 examples as one
tensor; a folder bigger than memory (`pipelines.streaming`) is read from
disk, or from its decoded cache, batch by batch in the parallel map.
Either way, shuffling and batching work on indices, one pass at a time
(`index_batches`): each pass draws a permutation, and each element of the
dataset is a whole batch, gathered from the tensor or read. The
usual `from_tensor_slices -> cache -> shuffle -> batch` chain does the same
work one example at a time; on a 2-core CPU its per-example stages, not
the augmentation, were the slowest part of a batched augmentation pipeline
(README, "Figures behind design choices").

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

from kerasdl.training.io import atomic_write_bytes
from pipelines.augment import Augmenter
from pipelines.normalize import Standardizer
from pipelines.sources import ImageSource
from pipelines.streaming import StreamedImages

AUTOTUNE = tf.data.AUTOTUNE


def index_batches(
    count: int, batch_size: int, *, shuffle: bool = False, seed: int = 0, drop_remainder: bool = False
) -> tf.data.Dataset:
    """Batches of example indices for one pass over `count` examples, with a stateless seed per batch.

    Each element is (int32 indices [<= batch_size], int64 seed [2]). Every
    iterator (every pass, every epoch of `fit`) draws one new random number
    from `tf.data.Dataset.random(seed, rerandomize_each_iteration=True)`;
    with `shuffle` the pass's order is the permutation it seeds, and batch k
    of the pass gets the seed (that number, k) for its random ops. So each
    pass differs, and a dataset built again with the same `seed` (under the
    same global seed, which `start_run` sets) repeats the passes in order,
    which is what `kerasdl.training.backup` relies on to resume mid-run.

    The number of batches is known (`cardinality()`), as for `batch()`;
    no examples give no batches.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a non-negative integer. Received: count={count!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer. Received: batch_size={batch_size!r}")
    steps = count // batch_size if drop_remainder else -(-count // batch_size)

    def one_pass(pass_seed: tf.Tensor) -> tf.data.Dataset:
        order = tf.range(count)
        if shuffle:
            order = tf.random.experimental.stateless_shuffle(
                order, tf.stack([pass_seed, tf.constant(-1, tf.int64)])
            )
        return tf.data.Dataset.range(steps).map(
            lambda step: (order[step * batch_size : (step + 1) * batch_size], tf.stack([pass_seed, step]))
        )

    passes = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
    return passes.flat_map(one_pass).apply(tf.data.experimental.assert_cardinality(steps))


def host_tensors(*arrays: np.ndarray) -> tuple[tf.Tensor, ...]:
    """The arrays as tensors in host memory, where tf.data's functions run.

    Eager `tf.constant` would put them on the first GPU when there is one;
    `from_tensor_slices`, which this replaced, kept them on the host.
    """
    with tf.device("/CPU:0"):
        return tuple(tf.constant(array) for array in arrays)


def to_dataset(
    source: ImageSource,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    standardizer: Standardizer | None = None,
    augment: Augmenter | Callable[[tf.Tensor], tf.Tensor] | None = None,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Batches of (float32 images, int64 labels) from an `ImageSource`.

    Stages: the uint8 examples held as tensors (the cache) -> a seeded
    order per pass (`index_batches`) -> one parallel map per batch (gather
    the batch, augment it, cast, standardize) -> prefetch.

    An `Augmenter` gets a new stateless seed for every batch (see
    `index_batches`): each epoch's augmentations differ, and a dataset built
    again with the same `seed` (under the same global seed, which
    `start_run` sets) repeats them epoch by epoch.

    Args:
        source: the examples.
        batch_size: examples per batch.
        shuffle: reshuffle every epoch (seeded by `seed`).
        seed: shuffle and augmentation seed.
        standardizer: per-channel standardization from the *training* split
            (`Standardizer.fit`); None keeps the 0..255 float scale.
        augment: an `Augmenter` (seeded per batch), or any batched function
            float32 [B, H, W, C] on the 0..255 scale -> float32 batch, applied
            after the cache so each epoch differs.
        drop_remainder: drop the last partial batch.
    """
    if augment is not None and not callable(augment):
        raise ValueError(f"augment must be an Augmenter or a callable. Received: augment={augment!r}")
    batches = index_batches(
        len(source), batch_size, shuffle=shuffle, seed=seed, drop_remainder=drop_remainder
    )  # it checks batch_size, before the examples are copied into tensors
    gather_images, (labels,) = _image_gatherer(source.images), host_tensors(source.labels)

    def prepare(indices, batch_seed):
        batch = gather_images(indices)
        if isinstance(augment, Augmenter):  # it takes the uint8 pixels: it cuts its windows before casting
            batch = augment(batch, batch_seed)
        else:
            batch = tf.cast(batch, tf.float32)
            if augment is not None:
                batch = augment(batch)
        if standardizer is not None:
            batch = standardizer(batch)
        return batch, tf.gather(labels, indices)

    return batches.map(prepare, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def _image_gatherer(images) -> Callable[[tf.Tensor], tf.Tensor]:
    """indices [B] -> uint8 images [B, H, W, C]: a gather from a host tensor, or a read from disk.

    Images streamed from disk (`StreamedImages`) are read by the decoder the
    in-memory path used (or from their decoded cache) inside the parallel
    map, so tf.data decodes several batches at once while the model trains.
    """
    if not isinstance(images, StreamedImages):
        (tensor,) = host_tensors(images)
        return lambda indices: tf.gather(tensor, indices)
    shape = [None, *images.image_shape]

    def read(indices):
        batch = tf.numpy_function(images.read, [indices], tf.uint8, stateful=False, name="read_images")
        return tf.ensure_shape(batch, shape)

    return read


def shuffled_batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int) -> tf.data.Dataset:
    """Batches of in-memory arrays (x, y) in a seeded order drawn anew every epoch.

    For inputs that are not an `ImageSource` (precomputed features, several
    labels per image). Give it to the backup (`run.resume_callbacks(dataset=...)`)
    and a resumed `fit` sees the orders an uninterrupted one would have.
    """
    if len(x) != len(y):
        raise ValueError(f"x and y must hold the same examples. Received: {len(x)} and {len(y)}")
    batches = index_batches(len(x), batch_size, shuffle=True, seed=seed)
    x, y = host_tensors(x, y)
    return batches.map(
        lambda indices, _: (tf.gather(x, indices), tf.gather(y, indices)), num_parallel_calls=AUTOTUNE
    ).prefetch(AUTOTUNE)


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
