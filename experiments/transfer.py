"""Transfer learning, the lesson's four ways, on a real source/target split of Fashion-MNIST.

Course 3, Week 2 and Course 4, Week 2 ("Transfer learning"). Task A: the
five classes T-shirt/top, Trouser, Pullover, Dress and Coat, with all their
30,000 training images. Task B: the other five classes (Sandal, Shirt,
Sneaker, Bag, Ankle boot) with only 100 labelled images each. A network
pretrained on A is reused for B in the four ways of the lesson, and
compared with training the same network on B from scratch:

    softmax   freeze everything, train a new softmax
    features  run the frozen network once, save the features to disk
              (<run>/features/*.npz), train a shallow net on them
    partial   freeze fewer layers: the last convolution, the hidden layer
              and the new softmax train
    finetune  train everything, starting from the pretrained weights
    scratch   the same network, random initialization, B's data only

Run:
    python -m experiments.transfer                    # 100 images per target class, 30 epochs per way
    python -m experiments.transfer --per-class 500 --pretrain-epochs 4
    python -m experiments.transfer --ways partial,finetune,scratch
    tensorboard --logdir logs/transfer

In TensorBoard: Text "summary" and HParams (Table view) hold the results
table (one row per way: target test accuracy, trained parameters, seconds).
Time Series overlays, after every epoch, "loss" and "error" (1 - accuracy)
of the runs <way>/train (task B's labelled images) and <way>/test (task B's
test set), and "gap" (test error - train error) of <way>/gaps; the
pretraining curves are under pretrain/ (task A: a fixed subset of its
training images, and its test set).

Pretraining and each way are phases of the run: `--resume` continues the
one that was training when the run stopped and does not train the finished
ways again.
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
from kerasdl.harness.curves import EpochCurves, epoch_history
from kerasdl.harness.run import Run, start_run
from kerasdl.nn.recipes import FastRecipe, fast_cnn
from kerasdl.nn.schedules import OneCycle
from kerasdl.training.transfer import (
    feature_extractor,
    head_model,
    precompute_features,
    shallow_classifier,
)
from pipelines.datasets import shuffled_batches
from pipelines.normalize import Standardizer
from pipelines.transfer_split import class_transfer_split

EXPERIMENT = "transfer"
WAYS = ("softmax", "features", "partial", "finetune", "scratch")
FEATURE_LAYER = "hidden_relu"  # the last hidden activation of the recipe network, before the logits
PARTIAL_FROM = "conv3"  # "freeze fewer layers": train from the last convolution on
SPLITS = ("train", "test")  # the curves of every fit: train error against test error


def build_parser():
    parser = cli.experiment_parser(EXPERIMENT, __doc__)
    parser.add_argument(
        "--per-class", type=int, default=100, help="labelled training images per target class"
    )
    parser.add_argument(
        "--pretrain-limit", type=int, default=None, help="cap on task A's training images (all)"
    )
    parser.add_argument("--pretrain-epochs", type=int, default=2, help="epochs of pretraining on task A")
    parser.add_argument("--epochs", type=int, default=30, help="epochs of training on task B, for every way")
    parser.add_argument(
        "--test-limit", type=int, default=None, help="cap on task B's test images (all 5,000)"
    )
    cli.add_train_eval_size_flag(
        parser,
        help="the pretraining's training error is measured after every epoch on task A's first N images",
    )
    cli.add_subset_flag(parser, "--ways", WAYS)
    cli.add_learning_rate_flag(parser, 1e-3, note="on task B")
    parser.add_argument("--finetune-learning-rate", type=float, default=3e-4,
                        help="Adam's rate for fine-tuning (smaller: keep what was pretrained)")  # fmt: skip
    cli.add_data_dir_flag(parser)
    return parser


def recipe_network(classes: int, seed: int) -> keras.Model:
    """The fast recipe's network (`kerasdl.nn.recipes.fast_cnn`) ending in a `classes`-way softmax."""
    keras.utils.set_random_seed(seed)
    recipe = FastRecipe()
    logits_model = fast_cnn(recipe.filters, recipe.batch_norm, recipe.hidden_units, classes=classes)
    outputs = keras.layers.Softmax(name="probabilities")(logits_model.output)
    return keras.Model(logits_model.input, outputs, name="recipe_network")


def batches(x: np.ndarray, y: np.ndarray) -> tf.data.Dataset:
    """(x, y) in fixed batches, for the curves' evaluation."""
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(500)


@dataclass
class TaskB:
    """Task B's standardized images and labels: the few labelled ones and the test set."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def pretrain(run: Run, args, x_a: np.ndarray, y_a: np.ndarray, a_test: tuple) -> keras.Model:
    """The recipe network trained on task A with the recipe's one-cycle schedule (the phase "pretrain")."""
    base = recipe_network(5, args.seed)
    steps = args.pretrain_epochs * -(-len(x_a) // 256)
    schedule = OneCycle(FastRecipe().peak_learning_rate, steps, warmup_steps=steps // 10)
    base.compile(
        keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    size = args.train_eval_size
    evaluated = {"train": batches(x_a[:size], y_a[:size]), "test": batches(*a_test)}
    curves = EpochCurves(run.curves, evaluated, prefix="pretrain", gap_splits=SPLITS)
    data = shuffled_batches(x_a, y_a, 256, args.seed)
    with run.phase("pretrain"):  # a pretraining that had finished trains no more and restores its weights
        base.fit(data, epochs=args.pretrain_epochs, shuffle=False,
                 callbacks=[curves, *run.resume_callbacks(data, name="pretrain")],  # backups last
                 verbose=1 if sys.stdout.isatty() else 2)  # fmt: skip
    return base


def transfer_model(
    run: Run, way: str, base: keras.Model, task: TaskB, seed: int
) -> tuple[keras.Model, TaskB]:
    """The network of one way and the data it takes (the images, or for "features" the saved features)."""
    if way == "features":
        extractor = feature_extractor(base, FEATURE_LAYER)
        # Saved with a fingerprint of the extractor's weights: reloaded only for the same pretrained network
        # and as many images, so a run whose pretraining or data changed computes them again.
        task = TaskB(
            precompute_features(extractor, task.x_train, run.dir / "features" / "target_train.npz"),
            task.y_train,
            precompute_features(extractor, task.x_test, run.dir / "features" / "target_test.npz"),
            task.y_test,
        )
        return shallow_classifier(task.x_train.shape[1], 5, hidden_units=64), task
    if way == "scratch":
        return recipe_network(5, seed), task
    trainable_from = {"softmax": None, "partial": PARTIAL_FROM, "finetune": "all"}[way]
    return head_model(base, FEATURE_LAYER, 5, trainable_from=trainable_from), task


def train_way(run: Run, way: str, base: keras.Model, task: TaskB, args) -> dict:
    """Trains one way on task B; returns its row of the comparison table."""
    keras.utils.set_random_seed(args.seed + 1)
    started = time.perf_counter()
    model, task = transfer_model(run, way, base, task, args.seed + 1)
    rate = args.finetune_learning_rate if way == "finetune" else args.learning_rate
    model.compile(keras.optimizers.Adam(rate), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    trained = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    print(f"== {way}: {trained:,} trainable parameters", flush=True)
    evaluated = {"train": batches(task.x_train, task.y_train), "test": batches(task.x_test, task.y_test)}
    # About six points per way: the target's test set costs more to evaluate than an epoch on 500 images.
    curves = EpochCurves(run.curves, evaluated, prefix=way, gap_splits=SPLITS, every=max(1, args.epochs // 6))
    data = shuffled_batches(task.x_train, task.y_train, 32, args.seed + 1)
    model.fit(data, epochs=args.epochs, shuffle=False,
              callbacks=[curves, *run.resume_callbacks(data, name=way)],  # backups last
              verbose=1 if sys.stdout.isatty() else 2)  # fmt: skip
    history = epoch_history(run.curves, SPLITS, prefix=way)  # every epoch, also those before a resume
    return {
        "way": way,
        "target_test_accuracy": 1.0 - history["test"]["error"][-1],
        "trained_parameters": trained,
        "seconds": time.perf_counter() - started,
    }


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    ways = cli.parse_subset("--ways", args.ways, WAYS)
    cli.check_at_least(
        args, 1, "per_class", "pretrain_epochs", "epochs", "train_eval_size", "pretrain_limit", "test_limit"
    )
    train, test = cli.fashion_mnist_train_test(args.data_dir)
    split = class_transfer_split(train, test, source_classes=(0, 1, 2, 3, 4), per_class=args.per_class)
    source = cli.first(split.pretrain, args.pretrain_limit)
    target_test = cli.first(split.target_test, args.test_limit)

    run = start_run(EXPERIMENT, vars(args), safe_to_change={"epochs"})
    # Task A's statistics normalize everything: the pretrained network expects them.
    standardizer = Standardizer.fit(source.images)
    x_a, y_a = standardizer(source.images), source.labels
    task = TaskB(
        standardizer(split.target_train.images),
        split.target_train.labels,
        standardizer(target_test.images),
        target_test.labels,
    )
    print(f"Task A: {len(x_a):,} images of {source.class_names}")
    print(
        f"Task B: {len(task.x_train):,} images of {split.target_train.class_names}; test {len(task.x_test):,}"
    )
    title = (
        f"Pretrained on {len(x_a):,} images of task A ({args.pretrain_epochs} epochs); task B: "
        f"{args.per_class} labelled images per class, {args.epochs} epochs, {len(task.x_test):,} test images"
    )
    print(f"Run directory: {run.dir}\n{title}")

    a_test = (standardizer(split.pretrain_test.images), split.pretrain_test.labels)
    base = pretrain(run, args, x_a, y_a, a_test)
    rows = [run.once(f"way/{way}", train_way, run, way, base, task, args) for way in ways]
    finish_comparison(run, "way", rows, title=title, step=args.epochs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
