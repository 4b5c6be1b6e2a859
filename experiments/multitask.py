"""Multi-task learning with missing labels vs one network per task, on Fashion-MNIST.

Course 3, Week 2 ("Multi-task learning"). Each image gets four binary
labels derived from its class (`kerasdl.nn.multitask.fashion_attributes`):
footwear, upper body, has sleeves, carried. "Has sleeves" is unknown ('?')
for dresses, and a further share of the training labels (--missing) is
hidden at random, as when labellers skip questions. One network with four
sigmoid outputs learns all four tasks with the masked loss

    J = 1/m sum_i sum_{j : y_j^(i) != ?} L(yhat_j^(i), y_j^(i)),

and is compared with four networks of the same body, one per task, each
trained on its own labels (same masked loss, one column). The lesson's
claim: the shared low-level features let one network do as well as four
with a quarter of the parameters and training time.

Run:
    python -m experiments.multitask                   # 12,000 images, 3 epochs per network
    python -m experiments.multitask --missing 0.6 --limit 30000 --epochs 4
    tensorboard --logdir logs/multitask

In TensorBoard: Text "summary" and HParams (Table view) compare the two
approaches (per-task test accuracy on the labelled test entries, their
mean, parameters, seconds). Time Series overlays, after every epoch, "loss"
(the masked loss J) and "error" (1 - accuracy over the labelled entries of
all the network's tasks) of the runs <network>/train (a fixed subset of the
training images) and <network>/test, and "gap" (test error - train error)
of <network>/gaps, for multi_task and each single_task_<attribute>.

Each network is one phase of the run: `--resume` continues the network that
was training when the run stopped and does not train the finished ones again.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from kerasdl.harness import cli
from kerasdl.harness.comparison import finish_comparison
from kerasdl.harness.curves import EpochCurves
from kerasdl.harness.run import Run, start_run
from kerasdl.nn.multitask import (
    ATTRIBUTES,
    MISSING,
    MaskedBinaryAccuracy,
    MaskedBinaryCrossentropy,
    fashion_attributes,
    hide_labels,
)
from kerasdl.nn.recipes import FastRecipe, fast_cnn
from pipelines.datasets import shuffled_batches
from pipelines.normalize import Standardizer

EXPERIMENT = "multitask"
SPLITS = ("train", "test")  # the curves of every network: train error against test error


def build_parser():
    parser = cli.experiment_parser(EXPERIMENT, __doc__)
    cli.add_train_test_flags(parser, limit=12_000, limit_help="training images (all: 60000)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs for every network")
    parser.add_argument("--missing", type=float, default=0.3, help="share of training labels hidden ('?')")
    cli.add_batch_size_flag(parser, 128)
    cli.add_learning_rate_flag(parser, 2e-3)
    return parser


@dataclass
class TaskData:
    """Standardized images and their attribute labels (-1 = '?'), for training and for test."""

    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def columns(self, first: int, stop: int) -> TaskData:
        """The same images with the labels of tasks first..stop-1 only."""
        return TaskData(self.x, self.y[:, first:stop], self.x_test, self.y_test[:, first:stop])


def batches(x: np.ndarray, y: np.ndarray) -> tf.data.Dataset:
    """(x, y) in fixed batches, for the curves' evaluation."""
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(500)


def train_network(run: Run, name: str, data: TaskData, args) -> dict:
    """The recipe's body with one logit per task, trained with the masked loss from the run's seed.

    Returns the network's test accuracy per task (over the labelled entries),
    its parameters and its training seconds. Backs up into
    `<run>/backup/<name>/`; the data is a seeded, reshuffling `tf.data`
    pipeline given to the backup, so resumed epochs see the same order.
    """
    keras.utils.set_random_seed(args.seed)
    recipe = FastRecipe()
    tasks = data.y.shape[1]
    model = fast_cnn(recipe.filters, recipe.batch_norm, recipe.hidden_units, classes=tasks)
    model.compile(
        keras.optimizers.Adam(args.learning_rate),
        loss=MaskedBinaryCrossentropy(from_logits=True),
        # Named "accuracy": the curves' error is 1 - the accuracy over every labelled entry.
        metrics=[MaskedBinaryAccuracy(from_logits=True, name="accuracy")],
    )
    size = args.train_eval_size
    evaluated = {"train": batches(data.x[:size], data.y[:size]), "test": batches(data.x_test, data.y_test)}
    curves = EpochCurves(run.curves, evaluated, prefix=name, gap_splits=SPLITS)
    train = shuffled_batches(data.x, data.y, args.batch_size, args.seed)
    started = time.perf_counter()
    model.fit(train, epochs=args.epochs, shuffle=False,
              callbacks=[curves, *run.resume_callbacks(train, name=name)],  # backups last
              verbose=1 if sys.stdout.isatty() else 2)  # fmt: skip
    return {
        "accuracy": masked_accuracy(model, data.x_test, data.y_test).tolist(),
        "parameters": model.count_params(),
        "seconds": time.perf_counter() - started,
    }


def masked_accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Accuracy per column over the labelled entries (threshold 0 on the logits)."""
    predictions = (model.predict(x, batch_size=500, verbose=0) > 0).astype(np.int64)
    labelled = y != MISSING
    return np.array(
        [np.mean(predictions[labelled[:, j], j] == y[labelled[:, j], j]) for j in range(y.shape[1])]
    )


def comparison_row(approach: str, accuracy: list[float], parameters: int, seconds: float) -> dict:
    """One row of the table: per-task accuracy, their mean, parameters and seconds."""
    row = {"approach": approach}
    row.update({f"{a}_accuracy": float(acc) for a, acc in zip(ATTRIBUTES, accuracy, strict=True)})
    row.update({"mean_accuracy": float(np.mean(accuracy)), "parameters": parameters, "seconds": seconds})
    return row


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    cli.check_at_least(args, 1, "epochs", "batch_size", "limit", "test_limit", "train_eval_size")
    if not 0 <= args.missing < 1:
        cli.fail(f"--missing must be in [0, 1); received {args.missing}")
    train, test = cli.fashion_mnist_train_test(args.data_dir, args.limit, args.test_limit)

    run = start_run(EXPERIMENT, vars(args), safe_to_change={"epochs"})
    standardizer = Standardizer.fit(train.images)
    data = TaskData(
        x=standardizer(train.images),
        y=hide_labels(fashion_attributes(train.labels), args.missing, seed=args.seed),
        x_test=standardizer(test.images),
        y_test=fashion_attributes(test.labels),
    )
    title = (
        f"{len(data.x):,} training images, {np.mean(data.y == MISSING):.0%} of their labels missing ('?'), "
        f"{args.epochs} epochs; test accuracy over the labelled entries of {len(data.x_test):,} test images"
    )
    print(f"Run directory: {run.dir}\n{title}")
    shares = ", ".join(
        f"{a} {share:.0%}" for a, share in zip(ATTRIBUTES, np.mean(data.y == MISSING, 0), strict=True)
    )
    print(f"Training labels missing: {np.mean(data.y == MISSING):.1%} ({shares})")

    multi = run.once("network/multi_task", train_network, run, "multi_task", data, args)
    singles = [
        run.once(f"network/{name}", train_network, run, name, data.columns(j, j + 1), args)
        for j, name in enumerate(f"single_task_{attribute}" for attribute in ATTRIBUTES)
    ]
    rows = [
        comparison_row("multi_task", multi["accuracy"], multi["parameters"], multi["seconds"]),
        comparison_row(
            "single_task",
            [single["accuracy"][0] for single in singles],
            sum(single["parameters"] for single in singles),
            sum(single["seconds"] for single in singles),
        ),
    ]
    finish_comparison(run, "approach", rows, title=title, step=args.epochs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
