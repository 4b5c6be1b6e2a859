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
    python -m experiments.multitask                   # ~3-4 min on 2 CPU cores
    python -m experiments.multitask --missing 0.6 --limit 30000 --epochs 4
    tensorboard --logdir logs/multitask

In TensorBoard: Text "summary" and HParams (Table view) compare the two
approaches (per-task test accuracy on the labelled test entries, their
mean, parameters, seconds); Time Series has the multi-task network's
per-task accuracies ("epoch_task<j>_accuracy") under multi_task/ and each
single-task network's under single_task_<attribute>/.
"""

from __future__ import annotations

import sys
import time

import keras
import numpy as np

from kerasdl.harness.comparison import finish_comparison
from kerasdl.harness.run import experiment_parser, fail, start_run
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
from pipelines.sources import SourceCorruptError, SourceMissingError, fashion_mnist

EXPERIMENT = "multitask"


def build_parser():
    parser = experiment_parser(EXPERIMENT, __doc__)
    parser.add_argument("--limit", type=int, default=12_000, help="training images (all: 60000)")
    parser.add_argument("--test-limit", type=int, default=10_000, help="test images")
    parser.add_argument("--epochs", type=int, default=3, help="epochs for every network")
    parser.add_argument("--missing", type=float, default=0.3, help="share of training labels hidden ('?')")
    parser.add_argument("--batch-size", type=int, default=128, help="mini-batch size")
    parser.add_argument("--learning-rate", type=float, default=2e-3, help="Adam's learning rate")
    parser.add_argument("--data-dir", default=None, help="folder with the Fashion-MNIST IDX files")
    return parser


def train_network(x, y, x_test, y_test, tasks: int, args, run, name: str) -> tuple[keras.Model, float]:
    """The recipe's body with `tasks` logits, trained with the masked loss; returns it and its seconds.

    Logs to `<run>/<name>/` and backs up into `<run>/backup/<name>/`, so `--resume` continues an
    interrupted network and restores a finished one (its `fit` then trains nothing). The data is a
    seeded, reshuffling `tf.data` pipeline given to the backup, so resumed epochs see the same order.
    """
    recipe = FastRecipe()
    model = fast_cnn(recipe.filters, recipe.batch_norm, recipe.hidden_units, classes=tasks)
    metrics = [MaskedBinaryAccuracy(task=j, from_logits=True) for j in range(tasks)]
    model.compile(
        keras.optimizers.Adam(args.learning_rate),
        loss=MaskedBinaryCrossentropy(from_logits=True),
        metrics=metrics,
    )
    board = keras.callbacks.TensorBoard(str(run.dir / name), write_graph=False)
    train = shuffled_batches(x, y, args.batch_size, args.seed)
    started = time.perf_counter()
    # Backups last, after TensorBoard's epoch points.
    model.fit(train, epochs=args.epochs, validation_data=(x_test, y_test), shuffle=False,
              callbacks=[board, *run.resume_callbacks(train, name=name)],
              verbose=1 if sys.stdout.isatty() else 2)  # fmt: skip
    return model, time.perf_counter() - started


def masked_accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Accuracy per column over the labelled entries (threshold 0 on the logits)."""
    predictions = (model.predict(x, batch_size=500, verbose=0) > 0).astype(np.int64)
    labelled = y != MISSING
    return np.array(
        [np.mean(predictions[labelled[:, j], j] == y[labelled[:, j], j]) for j in range(y.shape[1])]
    )


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if min(args.limit, args.test_limit, args.epochs) < 1 or not 0 <= args.missing < 1:
        fail("--limit, --test-limit and --epochs must be >= 1 and --missing in [0, 1)")
    try:
        train, test = fashion_mnist("train", args.data_dir), fashion_mnist("test", args.data_dir)
    except (SourceMissingError, SourceCorruptError) as error:
        fail(str(error))
    train = train.take(np.arange(min(args.limit, len(train))))
    test = test.take(np.arange(min(args.test_limit, len(test))))

    run = start_run(EXPERIMENT, vars(args))
    standardizer = Standardizer.fit(train.images)
    x, x_test = standardizer(train.images), standardizer(test.images)
    y = hide_labels(fashion_attributes(train.labels), args.missing, seed=args.seed)
    y_test = fashion_attributes(test.labels)
    shares = ", ".join(
        f"{a} {share:.0%}" for a, share in zip(ATTRIBUTES, np.mean(y == MISSING, 0), strict=True)
    )
    print(f"Training labels missing: {np.mean(y == MISSING):.1%} ({shares})")

    keras.utils.set_random_seed(args.seed)
    multi, multi_seconds = train_network(x, y, x_test, y_test, len(ATTRIBUTES), args, run, "multi_task")
    multi_accuracy = masked_accuracy(multi, x_test, y_test)
    single_accuracy, single_seconds, single_parameters = [], 0.0, 0
    for j, attribute in enumerate(ATTRIBUTES):
        keras.utils.set_random_seed(args.seed)
        model, seconds = train_network(x, y[:, j : j + 1], x_test, y_test[:, j : j + 1], 1, args,
                                       run, f"single_task_{attribute}")  # fmt: skip
        single_accuracy.append(masked_accuracy(model, x_test, y_test[:, j : j + 1])[0])
        single_seconds += seconds
        single_parameters += model.count_params()

    rows = []
    for approach, accuracy, parameters, seconds in (
        ("multi_task", multi_accuracy, multi.count_params(), multi_seconds),
        ("single_task", np.array(single_accuracy), single_parameters, single_seconds),
    ):
        row = {"approach": approach}
        row.update({f"{a}_accuracy": float(acc) for a, acc in zip(ATTRIBUTES, accuracy, strict=True)})
        row.update({"mean_accuracy": float(np.mean(accuracy)), "parameters": parameters, "seconds": seconds})
        rows.append(row)
    title = (
        f"{len(x):,} training images, {np.mean(y == MISSING):.0%} of their labels missing ('?'), "
        f"{args.epochs} epochs; test accuracy over the labelled entries of {len(x_test):,} test images"
    )
    finish_comparison(run, "approach", rows, title=title, step=args.epochs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
