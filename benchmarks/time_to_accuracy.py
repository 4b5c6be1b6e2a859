"""Time to 92%, 93% and 94% Fashion-MNIST test accuracy, measured the way Course 3 says to.

Course 3 keeps the test set for one unbiased estimate at the end: every
setting is chosen on a dev (here "validation") split, never on test. So the
benchmark has two modes.

`--choose` holds out a validation split from the 60,000 training images (10%,
assigned by a hash of each example's id, like every split in kerasdl), trains
each candidate recipe in `CANDIDATES` on the rest and scores it on the
validation split. For each target it names the most accurate candidate whose
training time, scaled to the full training set, fits the target's goal. The
test split is never loaded in this mode. `kerasdl.nn.recipes.TUNED_FOR_TARGET`
holds the candidates it chose (the README's "The fast recipe, measured" has
the validation figures).

The default mode measures. Each target's recipe (`recipe_for(target)`) runs
its fixed schedule on the full training set once per seed, and the figure is
its **final** test accuracy (with the flip test-time augmentation where the
recipe has it), not the best of many test evaluations. Beside it, in the
same run and the same way, trains the reference: the classic Keras example
CNN (keras/examples/mnist_cnn.py: conv 32, conv 64, max pool, dropout 0.25,
dense 128, dropout 0.5) with its own batch size of 128 and 12 epochs, Keras'
default `Adam()`, inputs scaled to [0, 1], no schedule, no augmentation.
The seeds run in turn, each seed training every recipe and then the
reference, so a slow minute of a shared machine falls on all of them.

Training seconds count `fit` from its first step to its last (tracing
included); after every epoch the clock stops while the test accuracy is
measured for the curve (`--out`: curves.json, and TensorBoard runs
`<side>/seed<k>` with "test_accuracy" per epoch). No setting is read from
those curves. The speedup for a target is the reference's mean
seconds to first reach it on its curve (generous to the reference: a
maximum over evaluations) over the recipe's mean training seconds; where a
seed of the reference never reaches it, the speedup is printed as a lower
bound.

Run (on 2 idle CPU cores: --choose about 25 minutes, the default about 60):

    python benchmarks/time_to_accuracy.py --choose
    python benchmarks/time_to_accuracy.py                      # 5 seeds
    python benchmarks/time_to_accuracy.py --targets 0.92 --seeds 3
    python benchmarks/time_to_accuracy.py --limit 2000 --seeds 1   # a smoke run

Output: one `name: value` line per figure.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from kerasdl.harness.cli import first
from kerasdl.harness.run import set_seeds
from kerasdl.nn.recipes import FastRecipe, build_fast_recipe, predict_logits, recipe_for
from kerasdl.training.benchmarking import benchmark_parser
from kerasdl.training.timing import EpochSeconds
from pipelines.augment import Augmenter
from pipelines.datasets import to_dataset
from pipelines.normalize import Standardizer
from pipelines.sources import ImageSource, fashion_mnist
from pipelines.splits import split_by_hash

GOAL_SECONDS = {0.92: 30.0, 0.93: 60.0, 0.94: 300.0}  # target test accuracy -> training seconds allowed
VALIDATION_SHARE = 0.1
REFERENCE_EPOCHS, REFERENCE_BATCH_SIZE = 12, 128  # the classic Keras example's own schedule

# What `--choose` compares for each target, all on the validation split. Several training steps per call
# (`steps_per_execution`) only saves Python's per-step work. Batch norm's passes cost a third to a half of a
# small network's step in float32 and more in bfloat16, where the convolutions run on the CPU's matrix units
# (benchmarks/mixed_precision.py): so the bfloat16 candidates drop it, or keep it only from the last stage
# on, whose activations are the smallest.
_BF16 = "mixed_bfloat16"
_SMALL = FastRecipe(
    filters=(32, 64), hidden_units=128, stem_stride=2, flip=True, flip_tta=True, peak_learning_rate=6e-3,
    steps_per_execution=16,
)  # fmt: skip
_WIDE = FastRecipe(filters=(32, 64, 128), hidden_units=256, flip=True, flip_tta=True, label_smoothing=0.1)
_WIDE_BF16 = dataclasses.replace(
    _WIDE, dtype_policy=_BF16, steps_per_execution=16, stages_without_batch_norm=2
)  # batch norm at the last stage and the hidden layer only
_SLIM_BF16 = dataclasses.replace(_WIDE_BF16, filters=(16, 64, 128))  # half the channels at 28x28
CANDIDATES = {
    0.92: [
        dataclasses.replace(_SMALL, epochs=4),
        dataclasses.replace(_SMALL, epochs=6, batch_norm=False),
        dataclasses.replace(_SMALL, epochs=6, batch_norm=False, dtype_policy=_BF16),
        dataclasses.replace(_SMALL, epochs=8, batch_norm=False, dtype_policy=_BF16),
        dataclasses.replace(_SLIM_BF16, epochs=2),
    ],
    0.93: [
        dataclasses.replace(_SMALL, epochs=6),
        dataclasses.replace(_SLIM_BF16, epochs=3),
        dataclasses.replace(_SLIM_BF16, epochs=4),
        dataclasses.replace(_SLIM_BF16, epochs=5),
        dataclasses.replace(_SLIM_BF16, epochs=6, batch_norm=False),
        dataclasses.replace(_WIDE_BF16, epochs=5, batch_norm=False),
    ],
    0.94: [
        dataclasses.replace(_WIDE, epochs=8),
        dataclasses.replace(_WIDE_BF16, epochs=12),
        dataclasses.replace(_SLIM_BF16, epochs=12),
        dataclasses.replace(_WIDE_BF16, epochs=20, batch_norm=False),
    ],
}


@dataclasses.dataclass
class Trial:
    """One training run: its final accuracy on the split it was scored on, its seconds, its curve."""

    accuracy: float
    seconds: float
    curve: list[tuple[float, float]]  # (training seconds, accuracy on the curve's split) per epoch


class AccuracyCurve(keras.callbacks.Callback):
    """After each epoch, the accuracy on (`inputs`, `labels`) at the training seconds `clock` has added
    up so far (the clock counts to the end of the epoch's last batch: this evaluation is not counted)."""

    def __init__(self, clock: EpochSeconds, inputs: np.ndarray, labels: np.ndarray):
        super().__init__()
        self.clock, self.inputs, self.labels = clock, inputs, labels
        self.points: list[tuple[float, float]] = []

    def on_epoch_end(self, epoch, logs=None):
        self.points.append((self.clock.total, accuracy(self.model, self.inputs, self.labels)))


def accuracy(model: keras.Model, inputs: np.ndarray, labels: np.ndarray, flip_tta: bool = False) -> float:
    """The share of `inputs` whose highest output is their label (with `flip_tta`, see `predict_logits`)."""
    return float(np.mean(np.argmax(predict_logits(model, inputs, flip_tta), axis=1) == labels))


def validation_split(train: ImageSource) -> tuple[ImageSource, ImageSource]:
    """(fit, validation): 90% / 10% of `train`, by a hash of each example's id."""
    parts = split_by_hash(
        train, {"fit": 1 - VALIDATION_SHARE, "validation": VALIDATION_SHARE}, salt="time-to-accuracy"
    )
    return parts["fit"], parts["validation"]


def train_recipe(recipe: FastRecipe, train: ImageSource, scored_on: ImageSource, seed: int,
                 curve: bool = False) -> Trial:  # fmt: skip
    """Trains `recipe` on `train` (standardized by `train`'s statistics) and scores it on `scored_on`."""
    standardizer = Standardizer.fit(train.images)
    set_seeds(seed)
    model, _, _, batch_size = build_fast_recipe(recipe, len(train))
    spec = recipe.augmenter_spec
    augment = Augmenter.from_spec(spec) if spec != "none" else None
    dataset = to_dataset(
        train, batch_size, shuffle=True, seed=seed, standardizer=standardizer, augment=augment
    )
    inputs = standardizer(scored_on.images)
    clock = EpochSeconds()
    callbacks = [clock, *([AccuracyCurve(clock, inputs, scored_on.labels)] if curve else [])]
    model.fit(dataset, epochs=recipe.epochs, callbacks=callbacks, shuffle=False, verbose=0)  # it reshuffles
    final = accuracy(model, inputs, scored_on.labels, recipe.flip_tta)
    return Trial(final, clock.total, callbacks[-1].points if curve else [])


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


def train_reference(train: ImageSource, test: ImageSource, seed: int, epochs: int) -> Trial:
    """The reference's fixed schedule on `train`, its test curve per epoch and its final test accuracy."""
    set_seeds(seed)
    model = reference_cnn()
    dataset = to_dataset(train, REFERENCE_BATCH_SIZE, shuffle=True, seed=seed)
    clock = EpochSeconds()
    curve = AccuracyCurve(clock, test.images.astype("float32"), test.labels)
    model.fit(dataset, epochs=epochs, callbacks=[clock, curve], shuffle=False, verbose=0)
    return Trial(curve.points[-1][1], clock.total, curve.points)


def choose(
    candidates: dict[float, list[FastRecipe]], fit: ImageSource, validation: ImageSource,
    seeds: list[int], full_size: int,
) -> dict[float, tuple[FastRecipe | None, list[dict]]]:  # fmt: skip
    """For each target, the most accurate candidate on `validation` among those whose mean training
    seconds, scaled from `fit`'s size to `full_size`, fit the target's goal (None if none fits),
    with every candidate's figures. Only `fit` and `validation` are given: the test split is not."""
    chosen = {}
    for target, recipes in candidates.items():
        rows = []
        for index, recipe in enumerate(recipes):
            trials = [train_recipe(recipe, fit, validation, seed) for seed in seeds]
            seconds = float(np.mean([t.seconds for t in trials])) * full_size / len(fit)
            rows.append({"index": index, "recipe": recipe, "seconds": seconds,
                         "accuracy": float(np.mean([t.accuracy for t in trials]))})  # fmt: skip
            print(f"  {percent(target)} candidate {index}: validation accuracy {rows[-1]['accuracy']:.4f}, "
                  f"{seconds:.1f} s (scaled to {full_size:,} images)", flush=True)  # fmt: skip
        within = [row for row in rows if row["seconds"] <= GOAL_SECONDS[target]]
        best = max(within, key=lambda row: row["accuracy"], default=None)
        chosen[target] = (best["recipe"] if best else None, rows)
    return chosen


def seconds_to(trials: list[Trial], target: float) -> tuple[float, bool]:
    """Mean seconds at which each trial's curve first reached `target` (its total seconds where it never
    did), and whether every trial reached it."""
    times, reached = [], True
    for trial in trials:
        hit = next((seconds for seconds, accuracy in trial.curve if accuracy >= target), None)
        reached &= hit is not None
        times.append(trial.seconds if hit is None else hit)
    return float(np.mean(times)), reached


def percent(target: float) -> str:
    return str(round(target * 100))


def summary(name: str, trials: list[Trial]) -> dict[str, object]:
    accuracies = [t.accuracy for t in trials]
    return {
        f"{name}_mean_final_test_accuracy": f"{np.mean(accuracies):.4f}",
        f"{name}_std": f"{np.std(accuracies, ddof=1) if len(trials) > 1 else 0.0:.4f}",
        f"{name}_mean_train_seconds": f"{np.mean([t.seconds for t in trials]):.1f}",
        f"{name}_seeds": len(trials),
    }


def save_curves(folder: Path, trials: dict[str, list[Trial]]) -> None:
    """curves.json (every trial's per-epoch curve) and the same curves for TensorBoard: one run per side
    and seed (`<side>/seed<k>`), scalars "test_accuracy" and "training_seconds" per epoch."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "curves.json").write_text(
        json.dumps({name: [dataclasses.asdict(t) for t in runs] for name, runs in trials.items()}, indent=1)
    )
    for name, runs in trials.items():
        for seed, trial in enumerate(runs):
            with tf.summary.create_file_writer(str(folder / name / f"seed{seed}")).as_default():
                for epoch, (seconds, accuracy) in enumerate(trial.curve, start=1):
                    tf.summary.scalar("test_accuracy", accuracy, step=epoch)
                    tf.summary.scalar("training_seconds", seconds, step=epoch)


def parse_targets(text: str) -> list[float]:
    targets = [float(t) for t in text.split(",")]
    unknown = [t for t in targets if t not in GOAL_SECONDS]
    if unknown:
        raise SystemExit(f"--targets: no goal for {unknown}; known targets: {sorted(GOAL_SECONDS)}")
    return targets


def main(argv=None) -> int:
    parser = benchmark_parser(__doc__)
    parser.add_argument(
        "--choose", action="store_true", help="choose each target's recipe on the validation split"
    )
    parser.add_argument("--targets", default="0.92,0.93,0.94", help="comma-separated test accuracies")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per recipe and for the reference")
    parser.add_argument(
        "--reference-epochs", type=int, default=REFERENCE_EPOCHS, help="the reference's schedule"
    )
    parser.add_argument("--limit", type=int, default=None, help="use only the first N train and test images")
    parser.add_argument("--out", default="logs/benchmarks/time_to_accuracy",
                        help="folder for curves.json and TensorBoard runs ('' for none)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.reference_epochs < 1:
        parser.error(
            f"--seeds and --reference-epochs must be >= 1; got {args.seeds}, {args.reference_epochs}"
        )
    targets, seeds = parse_targets(args.targets), list(range(args.seeds))
    train = first(fashion_mnist("train"), args.limit)

    if args.choose:
        fit, validation = validation_split(train)
        print(f"choosing on {len(validation):,} validation images, training on {len(fit):,}", flush=True)
        chosen = choose({t: CANDIDATES[t] for t in targets}, fit, validation, seeds, len(train))
        for target, (recipe, rows) in chosen.items():
            for row in rows:
                print(
                    f"candidate_{percent(target)}_{row['index']}_validation_accuracy: {row['accuracy']:.4f}"
                )
                print(f"candidate_{percent(target)}_{row['index']}_seconds: {row['seconds']:.1f}")
            index = next((row["index"] for row in rows if row["recipe"] == recipe), "none")
            print(f"chosen_{percent(target)}: {index}  # {recipe}")
        return 0

    test = first(fashion_mnist("test"), args.limit)
    trials: dict[str, list[Trial]] = {**{f"recipe_{percent(t)}": [] for t in targets}, "reference": []}
    for seed in seeds:
        for target in targets:
            trial = train_recipe(recipe_for(target), train, test, seed, curve=True)
            trials[f"recipe_{percent(target)}"].append(trial)
            print(f"  seed {seed} recipe {percent(target)}: test {trial.accuracy:.4f}, {trial.seconds:.1f} s",
                  flush=True)  # fmt: skip
        trial = train_reference(train, test, seed, args.reference_epochs)
        trials["reference"].append(trial)
        print(f"  seed {seed} reference: test {trial.accuracy:.4f}, {trial.seconds:.1f} s", flush=True)

    figures: dict[str, object] = {}
    for target in targets:
        runs = trials[f"recipe_{percent(target)}"]
        figures.update(summary(f"recipe_{percent(target)}", runs))
        mean_accuracy, mean_seconds = np.mean([t.accuracy for t in runs]), np.mean([t.seconds for t in runs])
        reference_seconds, reached = seconds_to(trials["reference"], target)
        figures[f"reference_seconds_to_{percent(target)}"] = f"{reference_seconds:.1f}" + (
            "" if reached else " (a lower bound: not every seed reached it)"
        )
        figures[f"speedup_{percent(target)}"] = (
            "" if reached else ">= "
        ) + f"{reference_seconds / mean_seconds:.2f}"
        met = mean_accuracy >= target and mean_seconds <= GOAL_SECONDS[target]
        goal = f">= {target:.0%} mean final accuracy in <= {GOAL_SECONDS[target]:.0f} s"
        figures[f"goal_{percent(target)}"] = f"{'met' if met else 'not met'} ({goal})"
    figures.update(summary("reference", trials["reference"]))
    for name, value in figures.items():
        print(f"{name}: {value}")
    if args.out:
        save_curves(Path(args.out), trials)
    return 0


if __name__ == "__main__":
    sys.exit(main())
