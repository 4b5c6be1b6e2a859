"""Time to 92% and 93% Fashion-MNIST test accuracy: the fast recipe vs a plain CNN, in one run.

Course 2's and Course 4's levers (batch norm, Adam with a one-cycle
learning rate, batch size, a small VGG-style network, flips) are bundled in
`kerasdl.nn.recipes`. A one-cycle schedule is planned for a target, so the
recipe is trained once per target with the settings `recipe_for(target)`
tuned for it (6 epochs for 92%, 16 epochs with flips for 93%). The
reference is the classic Keras example CNN (keras/examples/mnist_cnn.py:
conv 32, conv 64, max pool, dropout 0.25, dense 128, dropout 0.5) with
Keras' default settings: `Adam()`, `fit`'s batch size of 32, inputs scaled
to [0, 1], no schedule, no augmentation. Both train one after the other in
this process; the test accuracy is measured every `--eval-every` epochs
with the clock paused, and the script prints how many seconds of training
(evaluation excluded, compilation included) each needed to reach each
target, and the ratio. A target not reached within the epoch cap is printed
as ">= <seconds trained>" and the ratio as a bound. Each run stops once it
has reached its targets. After training the recipe it also prints where
the recipe's time goes (`profile_*`: images per second of the input
pipeline alone, and of training steps as tuned, with XLA and without batch
norm; `--profile-steps 0` skips it).

The two sides run one after the other, not interleaved, so the machine
must be otherwise idle for the seconds (and the ratio) to mean anything.

Run (about 15 minutes on 2 idle CPU cores, most of it the reference, which
trains until it reaches 93% or its `--reference-epochs` cap):

    python benchmarks/time_to_accuracy.py
    python benchmarks/time_to_accuracy.py --only recipe
    python benchmarks/time_to_accuracy.py --limit 2000 --reference-epochs 1   # a smoke run

Output: one `name: value` line per figure.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from kerasdl.harness.cli import first
from kerasdl.harness.run import set_seeds
from kerasdl.nn.recipes import FastRecipe, build_fast_recipe, recipe_for
from kerasdl.training.benchmarking import benchmark_parser
from pipelines.augment import Augmenter
from pipelines.datasets import to_dataset
from pipelines.normalize import Standardizer
from pipelines.sources import fashion_mnist

TARGETS = (0.92, 0.93)


class TimeToAccuracy(keras.callbacks.Callback):
    """Pauses the clock at the end of each (short) epoch, measures test accuracy, and records
    the training seconds at which each target is first reached."""

    def __init__(self, test_images: np.ndarray, test_labels: np.ndarray, targets=TARGETS):
        super().__init__()
        self.test = tf.data.Dataset.from_tensor_slices(test_images).batch(1000).cache()
        self.labels = test_labels
        self.targets = targets
        self.reached: dict[float, float] = {}
        self.trained_seconds = 0.0
        self.history: list[tuple[float, float]] = []

    @property
    def best(self) -> float:
        """The highest test accuracy measured so far."""
        return max((accuracy for _, accuracy in self.history), default=float("nan"))

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
        if all(t in self.reached for t in self.targets):
            self.model.stop_training = True


def reference_cnn() -> keras.Model:
    """The classic Keras example CNN (mnist_cnn.py), compiled with Keras' default Adam()."""
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Rescaling(1 / 255),
        layers.Conv2D(32, 3, activation="relu"), layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(), layers.Dropout(0.25), layers.Flatten(),
        layers.Dense(128, activation="relu"), layers.Dropout(0.5), layers.Dense(10, activation="softmax"),
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


def profile(recipe: FastRecipe, dataset, steps: int) -> dict[str, float]:
    """Where the recipe's time goes: its input pipeline alone, and training steps with and without
    XLA and batch norm (fresh models, the recipe's batch size, interleaved with nothing else)."""
    figures = {
        "profile_input_pipeline_images_per_second": images_per_second(lambda batch: None, dataset, steps)
    }
    for label, changes in (("recipe", {}), ("xla", {"jit_compile": True}),
                           ("no_batchnorm", {"batch_norm": False})):  # fmt: skip
        model, *_ = build_fast_recipe(dataclasses.replace(recipe, **changes))
        figures[f"profile_{label}_train_images_per_second"] = images_per_second(
            lambda batch, model=model: model.train_on_batch(*batch), dataset, steps
        )
    return figures


def run(name, model, train_dataset, steps_per_chunk, chunks, test, targets):
    print(f"== {name}: {model.count_params()} parameters", flush=True)
    timer = TimeToAccuracy(*test, targets=targets)
    started = time.perf_counter()
    model.fit(train_dataset, epochs=chunks, steps_per_epoch=steps_per_chunk, callbacks=[timer], verbose=0)
    return timer, time.perf_counter() - started


def seconds(timer: TimeToAccuracy, target: float) -> str:
    """The training seconds to `target`, or a lower bound when it was not reached."""
    reached = timer.reached.get(target)
    return f"{reached:.1f}" if reached is not None else f">= {timer.trained_seconds:.1f} (not reached)"


def speedup(recipe: TimeToAccuracy, reference: TimeToAccuracy, target: float) -> str:
    """The reference's seconds to `target` over the recipe's, or the bound the runs allow."""
    ours, theirs = recipe.reached.get(target), reference.reached.get(target)
    if ours is None:
        return f"n/a (recipe did not reach {target:.0%})"
    if theirs is None:
        return f">= {reference.trained_seconds / ours:.2f} (reference did not reach {target:.0%})"
    return f"{theirs / ours:.2f}"


def main(argv=None) -> int:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--reference-epochs", type=int, default=20, help="cap on the reference's epochs")
    parser.add_argument("--eval-every", type=float, default=0.5, help="epochs between test evaluations")
    parser.add_argument(
        "--only", choices=("both", "recipe", "reference"), default="both", help="what to train"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for weights, shuffling and flips")
    parser.add_argument("--profile-steps", type=int, default=30, help="batches per profile figure (0: skip)")
    parser.add_argument(
        "--limit", type=int, default=None, help="use only the first N train and test images (smoke runs)"
    )
    args = parser.parse_args(argv)
    if not args.eval_every > 0 or args.reference_epochs < 1:
        parser.error(f"need --eval-every > 0 and --reference-epochs >= 1; got {args.eval_every}, "
                     f"{args.reference_epochs}")  # fmt: skip

    train, test = fashion_mnist("train"), fashion_mnist("test")
    if args.limit:
        train, test = first(train, args.limit), first(test, args.limit)
    standardizer = Standardizer.fit(train.images)
    recipe_timers: dict[float, TimeToAccuracy] = {}
    if args.only in ("both", "recipe"):
        recipe_test = (standardizer(test.images), test.labels)
        datasets = {}
        for target in TARGETS:
            recipe = recipe_for(target)
            set_seeds(args.seed)
            model, _, _, batch_size = build_fast_recipe(recipe, len(train))
            augment = Augmenter.from_spec(recipe.augmenter_spec) if recipe.flip else None
            dataset = datasets[target] = to_dataset(
                train, batch_size, shuffle=True, seed=args.seed, standardizer=standardizer, augment=augment
            ).repeat()
            steps = max(1, round(args.eval_every * len(train) / batch_size))
            chunks = int(np.ceil(recipe.epochs / args.eval_every))
            name = f"recipe_for_{int(target * 100)} ({recipe.epochs} epochs, flip={recipe.flip})"
            timer, wall = run(name, model, dataset, steps, chunks, recipe_test, targets=(target,))
            recipe_timers[target] = timer
            print(f"recipe_for_{int(target * 100)}_best_test_accuracy: {timer.best:.4f}")
            print(f"recipe_for_{int(target * 100)}_wall_seconds: {wall:.1f}", flush=True)
        if args.profile_steps:
            fastest = TARGETS[0]  # the recipe for the first target: the default settings, no flips
            for key, value in profile(recipe_for(fastest), datasets[fastest], args.profile_steps).items():
                print(f"{key}: {value:.0f}", flush=True)
        for target, timer in recipe_timers.items():
            print(f"recipe_seconds_to_{int(target * 100)}: {seconds(timer, target)}")
    if args.only in ("both", "reference"):
        set_seeds(args.seed)
        model = reference_cnn()
        dataset = to_dataset(train, 32, shuffle=True, seed=args.seed).repeat()
        steps = max(1, round(args.eval_every * len(train) / 32))
        chunks = int(np.ceil(args.reference_epochs / args.eval_every))
        test_set = (test.images.astype("float32"), test.labels)
        reference, wall = run("reference (the Keras example CNN, default settings)", model, dataset, steps,
                              chunks, test_set, targets=TARGETS)  # fmt: skip
        print(f"reference_best_test_accuracy: {reference.best:.4f}")
        print(f"reference_wall_seconds: {wall:.1f}")
        for target in TARGETS:
            print(f"reference_seconds_to_{int(target * 100)}: {seconds(reference, target)}")
        for target, timer in recipe_timers.items():
            print(f"speedup_to_{int(target * 100)}: {speedup(timer, reference, target)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
