"""Augmentation pipeline speed: batched ops vs a per-image map, online pipeline vs tensors in memory.

Two ratios, each measured within one run (numbers from a loaded, shared
machine are noisy; compare ratios, not seconds):

- `augment_batched_vs_per_image_speedup`: images per second (best of
  interleaved passes) through the Augmenter applied to whole batches after
  `batch()` (what `pipelines.datasets.to_dataset` does) divided by the same
  ops applied one image at a time in a parallel `map` before `batch()`
  (goal >= 10). Neither pipeline shuffles, so only the augmentation differs.
- `online_pipeline_epoch_ratio`: seconds per training epoch (fastest of the
  timed epochs) with the full online pipeline (cache, shuffle, batch,
  augment, standardize, prefetch) divided by seconds per epoch on the same
  number of pre-augmented, standardized tensors held in memory (goal <=
  1.05: the input pipeline is not the bottleneck). On a CPU-only machine the
  pipeline's threads share the cores with training, so any augmentation
  work shows up here.

Run:
    python benchmarks/augmentation.py            # about 3 minutes on 2 CPU cores
    python benchmarks/augmentation.py --images 30000 --epochs 3

Output: one `name: value` line per figure.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from experiments.augmentation import DEFAULT_AUGMENT, build_model
from kerasdl.experiment import set_seeds
from pipelines.augment import Augmenter
from pipelines.datasets import AUTOTUNE, to_dataset
from pipelines.normalize import Standardizer
from pipelines.sources import fashion_mnist


def images_per_second(datasets: dict[str, tf.data.Dataset], count: int, rounds: int) -> dict[str, float]:
    """Best throughput of each dataset over `rounds` interleaved passes, after one warm-up pass each.

    Interleaving and keeping the best pass make the ratio robust to other
    processes loading the shared machine for a while.
    """
    best = dict.fromkeys(datasets, 0.0)
    for dataset in datasets.values():  # warm-up: fills the caches, traces the functions
        for _ in dataset:
            pass
    for _ in range(rounds):
        for name, dataset in datasets.items():
            start = time.perf_counter()
            for _ in dataset:
                pass
            best[name] = max(best[name], count / (time.perf_counter() - start))
    return best


def per_image_dataset(source, augmenter: Augmenter, batch_size: int, seed: int) -> tf.data.Dataset:
    """The same ops, one image per call: map (parallel) before batch, one seed per image."""
    dataset = tf.data.Dataset.from_tensor_slices(source.images).cache()
    dataset = tf.data.Dataset.zip(dataset, tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True))
    dataset = dataset.map(
        lambda image, s: augmenter(
            tf.cast(image, tf.float32)[None], tf.stack([tf.constant(seed, tf.int64), s])
        )[0],
        num_parallel_calls=AUTOTUNE,
    )
    return dataset.batch(batch_size).prefetch(AUTOTUNE)


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def seconds_per_epoch(dataset: tf.data.Dataset, epochs: int, crop: int, seed: int) -> float:
    """Fastest epoch of a fresh model, the first (tracing) epoch excluded (robust to load spikes)."""
    set_seeds(seed)
    model = build_model(crop, 1, 10, 32)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy")
    timer = EpochTimer()
    model.fit(dataset, epochs=epochs + 1, callbacks=[timer], verbose=0, shuffle=False)
    return float(np.min(timer.seconds[1:]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--images", type=int, default=12_000, help="training images used by both measurements"
    )
    parser.add_argument("--batch-size", type=int, default=128, help="mini-batch size")
    parser.add_argument(
        "--epochs", type=int, default=2, help="timed epochs per pipeline (after one warm-up epoch)"
    )
    parser.add_argument(
        "--augment", default=DEFAULT_AUGMENT, help="augmentation spec (see pipelines.augment)"
    )
    parser.add_argument("--crop-size", type=int, default=24, help="crop side the model takes")
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved timed passes per pipeline (best kept)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed")
    args = parser.parse_args(argv)

    source = fashion_mnist("train").take(np.arange(args.images))
    augmenter = Augmenter.from_spec(args.augment, crop_size=(args.crop_size, args.crop_size))
    standardizer = Standardizer.fit(source.images)

    batched = to_dataset(source, args.batch_size, seed=args.seed, augment=augmenter)
    per_image = per_image_dataset(source, augmenter, args.batch_size, args.seed)
    rates = images_per_second({"batched": batched, "per_image": per_image}, len(source), args.rounds)
    batched_rate, per_image_rate = rates["batched"], rates["per_image"]
    print(f"augment_batched_images_per_second: {batched_rate:.0f}")
    print(f"augment_per_image_images_per_second: {per_image_rate:.0f}")
    print(f"augment_batched_vs_per_image_speedup: {batched_rate / per_image_rate:.1f}")

    online = to_dataset(
        source, args.batch_size, shuffle=True, seed=args.seed, standardizer=standardizer, augment=augmenter
    )
    images, labels = zip(*online.as_numpy_iterator(), strict=True)
    in_memory = tf.data.Dataset.from_tensor_slices((np.concatenate(images), np.concatenate(labels)))
    in_memory = (
        in_memory.cache().shuffle(len(source), seed=args.seed).batch(args.batch_size).prefetch(AUTOTUNE)
    )
    online_seconds = seconds_per_epoch(online, args.epochs, args.crop_size, args.seed)
    memory_seconds = seconds_per_epoch(in_memory, args.epochs, args.crop_size, args.seed)
    print(f"online_pipeline_seconds_per_epoch: {online_seconds:.2f}")
    print(f"in_memory_seconds_per_epoch: {memory_seconds:.2f}")
    print(f"online_pipeline_epoch_ratio: {online_seconds / memory_seconds:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
