"""Time to 92% and 93% Fashion-MNIST test accuracy: the fast recipe vs a plain CNN, in one run.

Course 2's and Course 4's levers (batch norm, Adam with a one-cycle
learning rate, batch size, a small VGG-style network) are bundled in
`kerasdl.recipes`; this script trains that recipe and a reference CNN
with Keras' default settings (Adam(), batch size 32, inputs scaled to
[0, 1]) one after the other in the same process, evaluates the
test accuracy every `--eval-every` epochs, and prints how many seconds of
training (evaluation excluded, compilation included) each needed to reach
each target, and the ratio. A target not reached within the epoch cap is
printed as ">= <seconds trained>" and the ratio as a bound.

Run (the defaults take about 15 minutes on 2 CPU cores; numbers from a
loaded, shared machine are noisy: compare ratios from one run):

    python benchmarks/time_to_accuracy.py
    python benchmarks/time_to_accuracy.py --only recipe --recipe-epochs 4

Output: one `name: value` line per figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from kerasdl.experiment import set_seeds
from kerasdl.recipes import FastRecipe, build_fast_recipe
from pipelines.augment import Augmenter
from pipelines.datasets import to_dataset
from pipelines.normalize import Standardizer
from pipelines.sources import fashion_mnist

TARGETS = (0.92, 0.93)


class TimeToAccuracy(keras.callbacks.Callback):
    """Pauses the clock at the end of each (short) epoch, measures test accuracy, and records
    the training seconds at which each target is first reached."""

    def __init__(self, test_images: np.ndarray, test_labels: np.ndarray, targets=TARGETS, stop_at_last=True):
        super().__init__()
        self.test = tf.data.Dataset.from_tensor_slices(test_images).batch(1000).cache()
        self.labels = test_labels
        self.targets, self.stop_at_last = targets, stop_at_last
        self.reached: dict[float, float] = {}
        self.trained_seconds = 0.0
        self.history: list[tuple[float, float]] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.trained_seconds += time.perf_counter() - self._start
        logits = np.concatenate([self.model(batch, training=False).numpy() for batch in self.test])
        accuracy = float(np.mean(np.argmax(logits, axis=1) == self.labels))
        self.history.append((self.trained_seconds, accuracy))
        print(f"  trained {self.trained_seconds:7.1f} s  test accuracy {accuracy:.4f}", flush=True)
        for target in self.targets:
            if accuracy >= target and target not in self.reached:
                self.reached[target] = self.trained_seconds
        if self.stop_at_last and all(t in self.reached for t in self.targets):
            self.model.stop_training = True


def reference_cnn() -> keras.Model:
    """The plain CNN of keras-io's mnist_convnet with a 128-unit hidden layer, default Keras settings."""
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Rescaling(1 / 255),
        layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax"),
    ], name="reference_cnn")  # fmt: skip
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def images_per_second(step, dataset, steps: int) -> float:
    """Images per second of `step(batch)` over `steps` batches, after two warm-up batches."""
    iterator = iter(dataset)
    for _ in range(2):
        step(next(iterator))
    count, started = 0, time.perf_counter()
    for _ in range(steps):
        images, _ = batch = next(iterator)
        step(batch)
        count += int(images.shape[0])
    return count / (time.perf_counter() - started)


def profile(dataset, steps: int) -> dict[str, float]:
    """Where the recipe's time goes: the input pipeline alone, and training steps with and without
    XLA and batch norm (fresh models, the recipe's batch size, interleaved with nothing else)."""
    figures = {
        "profile_input_pipeline_images_per_second": images_per_second(lambda batch: None, dataset, steps)
    }
    for label, changes in (("recipe", {}), ("xla", {"jit_compile": True}),
                           ("no_batchnorm", {"batch_norm": False})):  # fmt: skip
        model, *_ = build_fast_recipe(dataclasses.replace(FastRecipe(), **changes))
        figures[f"profile_{label}_train_images_per_second"] = images_per_second(
            lambda batch, model=model: model.train_on_batch(*batch), dataset, steps
        )
    return figures


def run(name, model, train_dataset, steps_per_chunk, chunks, test):
    print(f"== {name}: {model.count_params()} parameters", flush=True)
    timer = TimeToAccuracy(*test)
    started = time.perf_counter()
    model.fit(train_dataset, epochs=chunks, steps_per_epoch=steps_per_chunk, callbacks=[timer], verbose=0)
    return timer, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--recipe-epochs", type=int, default=FastRecipe().epochs, help="the recipe's schedule length"
    )
    parser.add_argument("--reference-epochs", type=int, default=12, help="cap on the reference's epochs")
    parser.add_argument("--eval-every", type=float, default=0.5, help="epochs between test evaluations")
    parser.add_argument("--flip", action="store_true", help="add the recipe's flip augmentation")
    parser.add_argument(
        "--only", choices=("both", "recipe", "reference"), default="both", help="what to train"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for weights and shuffling")
    parser.add_argument("--profile-steps", type=int, default=30, help="batches per profile figure (0: skip)")
    args = parser.parse_args()

    train, test = fashion_mnist("train"), fashion_mnist("test")
    standardizer = Standardizer.fit(train.images)
    results = {}
    if args.only in ("both", "recipe"):
        set_seeds(args.seed)
        recipe = FastRecipe(epochs=args.recipe_epochs, flip=args.flip)
        model, _, _, batch_size = build_fast_recipe(recipe, len(train))
        augment = Augmenter.from_spec(recipe.augmenter_spec) if recipe.flip else None
        dataset = to_dataset(train, batch_size, shuffle=True, seed=args.seed, standardizer=standardizer,
                             augment=augment).repeat()  # fmt: skip
        steps = max(1, round(args.eval_every * len(train) / batch_size))
        chunks = int(np.ceil(args.recipe_epochs / args.eval_every))
        results["recipe"] = run(
            "recipe", model, dataset, steps, chunks, (standardizer(test.images), test.labels)
        )
        if args.profile_steps:
            for key, value in profile(dataset, args.profile_steps).items():
                print(f"{key}: {value:.0f}", flush=True)
    if args.only in ("both", "reference"):
        set_seeds(args.seed)
        model = reference_cnn()
        dataset = to_dataset(train, 32, shuffle=True, seed=args.seed).repeat()
        steps = max(1, round(args.eval_every * len(train) / 32))
        chunks = int(np.ceil(args.reference_epochs / args.eval_every))
        results["reference"] = run("reference", model, dataset, steps, chunks,
                                   (test.images.astype("float32"), test.labels))  # fmt: skip

    for name, (timer, wall) in results.items():
        best = max(accuracy for _, accuracy in timer.history)
        print(f"{name}_best_test_accuracy: {best:.4f}")
        print(f"{name}_wall_seconds: {wall:.1f}")
        for target in TARGETS:
            seconds = timer.reached.get(target)
            shown = (
                f"{seconds:.1f}" if seconds is not None else f">= {timer.trained_seconds:.1f} (not reached)"
            )
            print(f"{name}_seconds_to_{int(target * 100)}: {shown}")
    if len(results) == 2:
        recipe_timer, reference_timer = results["recipe"][0], results["reference"][0]
        for target in TARGETS:
            ours, theirs = recipe_timer.reached.get(target), reference_timer.reached.get(target)
            key = f"speedup_to_{int(target * 100)}"
            if ours is None:
                print(f"{key}: n/a (recipe did not reach {target:.0%})")
            elif theirs is None:
                bound = reference_timer.trained_seconds / ours
                print(f"{key}: >= {bound:.2f} (reference did not reach {target:.0%})")
            else:
                print(f"{key}: {theirs / ours:.2f}")


if __name__ == "__main__":
    main()
