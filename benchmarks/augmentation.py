"""Augmentation pipeline speed: batched ops vs a per-image map, online pipeline vs tensors in memory.

Each ratio is measured within one run with `kerasdl.training.benchmarking`
(alternating timed blocks, median of the paired ratios), so that the load of
a shared machine hits both sides alike:

- `augment_batched_vs_per_image_fair_speedup`: seconds for one pass over the
  training images with the Augmenter called on one image at a time
  (`tf.map_fn` over the batch, a seed per image), divided by the seconds
  with it called once per batch, both inside `pipelines.datasets.to_dataset`:
  the same index batches, gather, cast and parallel map, so only the
  augmentation call differs (goal >= 10).
- `augment_batched_vs_per_image_speedup` (structural): the same Augmenter
  applied one image at a time in a parallel `map` before `batch()`, after
  a per-example `from_tensor_slices -> cache` chain. It differs from the
  batched side in pipeline structure too (per-example stages against one
  gather per batch), so part of this ratio is not the augmentation; it is
  printed beside the fair one so the difference is on record. Neither
  pipeline shuffles.
- `augment_batched_vs_tf_image_speedup`: the same, against the per-image
  pipeline a tf.data tutorial writes, `tf.image.stateless_random_crop` then
  `tf.image.stateless_random_flip_left_right` in the `map` (only for the
  crop-and-mirror spec; these two ops are cheaper per image than the
  Augmenter called on a batch of one).
- `online_pipeline_epoch_ratio`: seconds per training epoch with the full
  online pipeline (cache, shuffle, batch, augment, standardize, prefetch)
  divided by seconds per epoch on the same number of pre-augmented,
  standardized tensors held in memory, batched in a new order each epoch
  (`shuffled_batches`) (goal <= 1.05: the input pipeline is not the
  bottleneck). On a CPU-only machine the pipeline's threads share
  the cores with training, so any augmentation work shows up here.

A pass is timed from `iter()` on, as an epoch pays for it, so each pass
includes the fixed cost of starting the iterator (larger with the Augmenter
in the map than with only a cast; `batched_iterator_start_ms` prints it).
That is why the throughput passes go over the whole training split (60,000
images) by default: on a small subset the start-up would be a large share
of the batched pass (README, "Figures behind design choices").

Run:
    python benchmarks/augmentation.py            # about 5 minutes on 2 CPU cores
    python benchmarks/augmentation.py --images 20000 --epochs 9   # shorter

Output: one `name: value` line per figure.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from experiments.augmentation import DEFAULT_AUGMENT, build_model
from kerasdl.harness.cli import add_batch_size_flag, check_at_least, first
from kerasdl.harness.run import set_seeds
from kerasdl.training.benchmarking import alternating_blocks, benchmark_parser, paired_ratio, print_figures
from pipelines.augment import Augmenter
from pipelines.datasets import AUTOTUNE, shuffled_batches, to_dataset
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
    return _per_image(
        source,
        # uint8 in, as `to_dataset` gives the Augmenter whole batches.
        lambda image, image_seed: augmenter(image[None], image_seed)[0],
        batch_size,
        seed,
    )


class OneImageAtATime(Augmenter):
    """An Augmenter called on each image of a batch on its own (`tf.map_fn`), with a seed per image.

    Given to `to_dataset` in place of the Augmenter, it makes the fair
    per-image side: everything but the augmentation call is the batched
    side's pipeline.
    """

    def __init__(self, augmenter: Augmenter):  # only forwards: no ops of its own to set up
        self.augmenter = augmenter

    def __call__(self, images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        seeds = tf.random.experimental.stateless_split(seed, num=tf.shape(images)[0])
        return tf.map_fn(
            lambda pair: self.augmenter(pair[0][None], pair[1])[0],
            (images, seeds),
            fn_output_signature=tf.float32,
        )


def tf_image_dataset(source, crop_size: int, flip: float, batch_size: int, seed: int) -> tf.data.Dataset:
    """The tutorial's per-image pipeline: tf.image's stateless random crop and mirror in a parallel map."""
    if flip != 0.5:
        raise ValueError(f"tf.image mirrors with probability 0.5 only. Received: flip={flip}")

    def augment(image, image_seed):
        crop_seed, flip_seed = tf.unstack(tf.random.split(image_seed, 2))
        image = tf.image.stateless_random_crop(image, [crop_size, crop_size, image.shape[-1]], crop_seed)
        return tf.cast(tf.image.stateless_random_flip_left_right(image, flip_seed), tf.float32)

    return _per_image(source, augment, batch_size, seed)


def _per_image(source, augment: Callable, batch_size: int, seed: int) -> tf.data.Dataset:
    dataset = tf.data.Dataset.from_tensor_slices(source.images).cache()
    dataset = tf.data.Dataset.zip(dataset, tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True))
    dataset = dataset.map(
        lambda image, s: augment(image, tf.stack([tf.constant(seed, tf.int64), s])),
        num_parallel_calls=AUTOTUNE,
    )
    return dataset.batch(batch_size).prefetch(AUTOTUNE)


def is_crop_and_mirror(augmenter: Augmenter) -> bool:
    """Whether the spec is exactly an unpadded random crop and a 50% mirror (what tf.image can do)."""
    on = {name for name in augmenter.ops if augmenter.is_on(name)}
    return (
        on == {"crop", "flip"}
        and augmenter.ops["crop"].strength == 0
        and augmenter.ops["flip"].strength == 0.5
    )


def iterator_start_seconds(dataset: tf.data.Dataset, repeats: int = 5) -> float:
    """Median seconds `iter(dataset)` takes once the dataset has been through one pass."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        iterator = iter(dataset)
        times.append(time.perf_counter() - start)
        del iterator
    return float(np.median(times))


def one_epoch(dataset: tf.data.Dataset, crop: int, seed: int) -> Callable[[], None]:
    """A function that trains a fresh model (built once) for one more epoch on the dataset."""
    set_seeds(seed)
    model = build_model(crop, 1, 10, 32)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy")
    return lambda: model.fit(dataset, epochs=1, verbose=0, shuffle=False)


def throughput_figures(source, augmenter: Augmenter, args) -> dict[str, str]:
    """Passes over `source`: batched augmentation against per-image pipelines; the iterator's start."""
    batched = to_dataset(source, args.batch_size, seed=args.seed, augment=augmenter)
    fair = to_dataset(source, args.batch_size, seed=args.seed, augment=OneImageAtATime(augmenter))
    pipelines = {
        "batched": one_pass(batched),
        "per_image_fair": one_pass(fair),
        "per_image": one_pass(per_image_dataset(source, augmenter, args.batch_size, args.seed)),
    }
    if is_crop_and_mirror(augmenter):
        tutorial = tf_image_dataset(source, args.crop_size, 0.5, args.batch_size, args.seed)
        pipelines["tf_image"] = one_pass(tutorial)
    passes = alternating_blocks(pipelines, calls=1, repeats=args.repeats, warmup=1)
    figures = {
        f"augment_{name}_images_per_second": f"{len(source) / np.median(seconds):.0f}"
        for name, seconds in passes.items()
    }
    for baseline in ("per_image_fair", "per_image", "tf_image"):
        if baseline in passes:
            speedup = paired_ratio(passes[baseline], passes["batched"])
            figures[f"augment_batched_vs_{baseline}_speedup"] = f"{speedup:.1f}"
    figures["batched_iterator_start_ms"] = f"{1000 * iterator_start_seconds(batched):.1f}"
    return figures


def epoch_figures(source, augmenter: Augmenter, args) -> dict[str, str]:
    """Training epochs on the online pipeline against epochs on the same augmented tensors in memory."""
    standardizer = Standardizer.fit(source.images)
    online = to_dataset(
        source, args.batch_size, shuffle=True, seed=args.seed, standardizer=standardizer, augment=augmenter
    )
    images, labels = zip(*online.as_numpy_iterator(), strict=True)
    in_memory = shuffled_batches(np.concatenate(images), np.concatenate(labels), args.batch_size, args.seed)
    epochs = alternating_blocks(
        {
            "online": one_epoch(online, args.crop_size, args.seed),
            "in_memory": one_epoch(in_memory, args.crop_size, args.seed),
        },
        calls=1,
        repeats=args.epochs,
        warmup=1,
    )
    return {
        "online_pipeline_seconds_per_epoch": f"{np.median(epochs['online']):.2f}",
        "in_memory_seconds_per_epoch": f"{np.median(epochs['in_memory']):.2f}",
        "online_pipeline_epoch_ratio": f"{paired_ratio(epochs['online'], epochs['in_memory']):.3f}",
    }


def main(argv=None) -> int:
    parser = benchmark_parser(__doc__)
    parser.add_argument(
        "--images",
        type=int,
        default=60_000,
        help="training images per pass and per epoch (60,000: all of them)",
    )
    add_batch_size_flag(parser, 128)
    parser.add_argument(
        "--epochs", type=int, default=5, help="timed epochs per pipeline, alternating (after a warm-up)"
    )
    parser.add_argument(
        "--repeats", type=int, default=7, help="timed passes per pipeline for the throughput ratios"
    )
    parser.add_argument(
        "--augment", default=DEFAULT_AUGMENT, help="augmentation spec (see pipelines.augment)"
    )
    parser.add_argument("--crop-size", type=int, default=24, help="crop side the model takes")
    parser.add_argument("--seed", type=int, default=0, help="seed")
    args = parser.parse_args(argv)
    check_at_least(args, 1, "images", "batch_size", "epochs", "repeats")

    source = first(fashion_mnist("train"), args.images)
    augmenter = Augmenter.from_spec(args.augment, crop_size=(args.crop_size, args.crop_size))
    print_figures(throughput_figures(source, augmenter, args))
    print_figures(epoch_figures(source, augmenter, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
