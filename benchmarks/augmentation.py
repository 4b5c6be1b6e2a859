"""Augmentation pipeline speed: batched ops vs a per-image map, online pipeline vs tensors in memory.

Two ratios, each measured within one run with `kerasdl.benchmarking`
(alternating timed blocks, median of the paired ratios), so that the load of
a shared machine hits both sides alike:

- `augment_batched_vs_per_image_speedup`: time of one pass over the data
  with the same ops applied one image at a time in a parallel `map` before
  `batch()`, divided by the time with the Augmenter applied to whole batches
  after `batch()` (what `pipelines.datasets.to_dataset` does) (goal >= 10).
  Neither pipeline shuffles, so only the augmentation differs.
- `online_pipeline_epoch_ratio`: seconds per training epoch with the full
  online pipeline (cache, shuffle, batch, augment, standardize, prefetch)
  divided by seconds per epoch on the same number of pre-augmented,
  standardized tensors held in memory (goal <= 1.05: the input pipeline is
  not the bottleneck). On a CPU-only machine the pipeline's threads share
  the cores with training, so any augmentation work shows up here.

Run:
    python benchmarks/augmentation.py            # about 3 minutes on 2 CPU cores
    python benchmarks/augmentation.py --images 30000 --epochs 9

Output: one `name: value` line per figure.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from experiments.augmentation import DEFAULT_AUGMENT, build_model
from kerasdl.benchmarking import alternating_blocks, paired_ratio
from kerasdl.experiment import set_seeds
from pipelines.augment import Augmenter
from pipelines.datasets import AUTOTUNE, to_dataset
from pipelines.normalize import Standardizer
from pipelines.sources import fashion_mnist


def one_pass(dataset: tf.data.Dataset) -> Callable[[], None]:
    """A function that iterates the dataset once (the work a training epoch asks of it)."""

    def run() -> None:
        for _ in dataset:
            pass

    return run


def per_image_dataset(source, augmenter: Augmenter, batch_size: int, seed: int) -> tf.data.Dataset:
    """The same ops, one image per call: map (parallel) before batch, one seed per image."""
    dataset = tf.data.Dataset.from_tensor_slices(source.images).cache()
    dataset = tf.data.Dataset.zip(dataset, tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True))
    # uint8 in, as `to_dataset` gives the Augmenter whole batches.
    dataset = dataset.map(
        lambda image, s: augmenter(image[None], tf.stack([tf.constant(seed, tf.int64), s]))[0],
        num_parallel_calls=AUTOTUNE,
    )
    return dataset.batch(batch_size).prefetch(AUTOTUNE)


def one_epoch(dataset: tf.data.Dataset, crop: int, seed: int) -> Callable[[], None]:
    """A function that trains a fresh model (built once) for one more epoch on the dataset."""
    set_seeds(seed)
    model = build_model(crop, 1, 10, 32)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy")
    return lambda: model.fit(dataset, epochs=1, verbose=0, shuffle=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=8_000, help="training images used by both measurements")
    parser.add_argument("--batch-size", type=int, default=128, help="mini-batch size")
    parser.add_argument(
        "--epochs", type=int, default=5, help="timed epochs per pipeline, alternating (after a warm-up)"
    )
    parser.add_argument(
        "--repeats", type=int, default=9, help="timed passes per pipeline for the throughput ratio"
    )
    parser.add_argument(
        "--augment", default=DEFAULT_AUGMENT, help="augmentation spec (see pipelines.augment)"
    )
    parser.add_argument("--crop-size", type=int, default=24, help="crop side the model takes")
    parser.add_argument("--seed", type=int, default=0, help="seed")
    args = parser.parse_args(argv)

    source = fashion_mnist("train").take(np.arange(args.images))
    augmenter = Augmenter.from_spec(args.augment, crop_size=(args.crop_size, args.crop_size))
    standardizer = Standardizer.fit(source.images)

    batched = to_dataset(source, args.batch_size, seed=args.seed, augment=augmenter)
    per_image = per_image_dataset(source, augmenter, args.batch_size, args.seed)
    passes = alternating_blocks(
        {"batched": one_pass(batched), "per_image": one_pass(per_image)},
        calls=1,
        repeats=args.repeats,
        warmup=1,
    )
    print(f"augment_batched_images_per_second: {len(source) / np.median(passes['batched']):.0f}")
    print(f"augment_per_image_images_per_second: {len(source) / np.median(passes['per_image']):.0f}")
    print(f"augment_batched_vs_per_image_speedup: {paired_ratio(passes['per_image'], passes['batched']):.1f}")

    online = to_dataset(
        source, args.batch_size, shuffle=True, seed=args.seed, standardizer=standardizer, augment=augmenter
    )
    images, labels = zip(*online.as_numpy_iterator(), strict=True)
    in_memory = tf.data.Dataset.from_tensor_slices((np.concatenate(images), np.concatenate(labels)))
    in_memory = (
        in_memory.cache().shuffle(len(source), seed=args.seed).batch(args.batch_size).prefetch(AUTOTUNE)
    )
    epochs = alternating_blocks(
        {
            "online": one_epoch(online, args.crop_size, args.seed),
            "in_memory": one_epoch(in_memory, args.crop_size, args.seed),
        },
        calls=1,
        repeats=args.epochs,
        warmup=1,
    )
    print(f"online_pipeline_seconds_per_epoch: {np.median(epochs['online']):.2f}")
    print(f"in_memory_seconds_per_epoch: {np.median(epochs['in_memory']):.2f}")
    print(f"online_pipeline_epoch_ratio: {paired_ratio(epochs['online'], epochs['in_memory']):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
