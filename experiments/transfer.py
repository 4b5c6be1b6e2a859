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
    python -m experiments.transfer                    # ~3-5 min on 2 CPU cores
    python -m experiments.transfer --per-class 500 --pretrain-epochs 4
    tensorboard --logdir logs/transfer

In TensorBoard: Text "summary" and HParams (Table view) hold the results
table (one row per way: target test accuracy, trained parameters, seconds);
Time Series overlays "epoch_accuracy" of <way>/train and <way>/validation
(task B's test set) and shows the pretraining curves under pretrain/.
"""

from __future__ import annotations

import sys
import time

import keras
import numpy as np

from kerasdl.harness.comparison import finish_comparison
from kerasdl.harness.run import experiment_parser, fail, parse_subset, start_run
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
from pipelines.sources import SourceCorruptError, SourceMissingError, fashion_mnist
from pipelines.transfer_split import class_transfer_split

EXPERIMENT = "transfer"
WAYS = ("softmax", "features", "partial", "finetune", "scratch")
FEATURE_LAYER = "hidden_relu"  # the last hidden activation of the recipe network, before the logits
PARTIAL_FROM = "conv3"  # "freeze fewer layers": train from the last convolution on


def build_parser():
    parser = experiment_parser(EXPERIMENT, __doc__)
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
    parser.add_argument("--ways", default=",".join(WAYS), help=f"comma-separated subset of {WAYS}")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="Adam's rate on task B")
    parser.add_argument("--finetune-learning-rate", type=float, default=3e-4,
                        help="Adam's rate for fine-tuning (smaller: keep what was pretrained)")  # fmt: skip
    parser.add_argument("--data-dir", default=None, help="folder with the Fashion-MNIST IDX files")
    return parser


def recipe_network(classes: int, seed: int) -> keras.Model:
    """The fast recipe's network (`kerasdl.nn.recipes.fast_cnn`) ending in a `classes`-way softmax."""
    keras.utils.set_random_seed(seed)
    recipe = FastRecipe()
    logits_model = fast_cnn(recipe.filters, recipe.batch_norm, recipe.hidden_units, classes=classes)
    outputs = keras.layers.Softmax(name="probabilities")(logits_model.output)
    return keras.Model(logits_model.input, outputs, name="recipe_network")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    ways = parse_subset("--ways", args.ways, WAYS)
    if min(args.per_class, args.pretrain_epochs, args.epochs) < 1:
        fail("--per-class, --pretrain-epochs and --epochs must be >= 1")
    try:
        train, test = fashion_mnist("train", args.data_dir), fashion_mnist("test", args.data_dir)
    except (SourceMissingError, SourceCorruptError) as error:
        fail(str(error))
    split = class_transfer_split(train, test, source_classes=(0, 1, 2, 3, 4), per_class=args.per_class)
    pretrain = split.pretrain
    if args.pretrain_limit:
        pretrain = pretrain.take(np.arange(min(args.pretrain_limit, len(pretrain))))
    target_test = split.target_test
    if args.test_limit:
        target_test = target_test.take(np.arange(min(args.test_limit, len(target_test))))

    run = start_run(EXPERIMENT, vars(args))
    verbose = 1 if sys.stdout.isatty() else 2
    # Task A's statistics normalize everything: the pretrained network expects them.
    standardizer = Standardizer.fit(pretrain.images)
    x_a, y_a = standardizer(pretrain.images), pretrain.labels
    x_b, y_b = standardizer(split.target_train.images), split.target_train.labels
    x_test, y_test = standardizer(target_test.images), target_test.labels
    a_test = split.pretrain_test
    print(f"Task A: {len(x_a):,} images of {pretrain.class_names}")
    print(f"Task B: {len(x_b):,} images of {split.target_train.class_names}; test {len(x_test):,}")

    base = recipe_network(5, args.seed)
    steps = args.pretrain_epochs * -(-len(x_a) // 256)
    schedule = OneCycle(FastRecipe().peak_learning_rate, steps, warmup_steps=steps // 10)
    base.compile(
        keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    board = keras.callbacks.TensorBoard(str(run.dir / "pretrain"), write_graph=False)
    a_validation = (standardizer(a_test.images), a_test.labels)
    # Backups last, after TensorBoard's epoch points; one backup folder per fit.
    pretrain_data = shuffled_batches(x_a, y_a, 256, args.seed)
    base.fit(pretrain_data, epochs=args.pretrain_epochs, validation_data=a_validation, shuffle=False,
             callbacks=[board, *run.resume_callbacks(pretrain_data, name="pretrain")],
             verbose=verbose)  # fmt: skip

    rows = []
    for way in ways:
        keras.utils.set_random_seed(args.seed + 1)
        started = time.perf_counter()
        inputs_train, inputs_test = x_b, x_test
        if way == "features":
            extractor = feature_extractor(base, FEATURE_LAYER)
            inputs_train = precompute_features(extractor, x_b, run.dir / "features" / "target_train.npz")
            inputs_test = precompute_features(extractor, x_test, run.dir / "features" / "target_test.npz")
            model = shallow_classifier(inputs_train.shape[1], 5, hidden_units=64)
        elif way == "scratch":
            model = recipe_network(5, args.seed + 1)
        else:
            trainable_from = {"softmax": None, "partial": PARTIAL_FROM, "finetune": "all"}[way]
            model = head_model(base, FEATURE_LAYER, 5, trainable_from=trainable_from)
        rate = args.finetune_learning_rate if way == "finetune" else args.learning_rate
        model.compile(
            keras.optimizers.Adam(rate), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        print(
            f"== {way}: {sum(int(np.prod(w.shape)) for w in model.trainable_weights):,} trainable parameters"
        )
        board = keras.callbacks.TensorBoard(str(run.dir / way), write_graph=False)
        train_data = shuffled_batches(inputs_train, y_b, 32, args.seed + 1)
        callbacks = [board, *run.resume_callbacks(train_data, name=way)]
        model.fit(train_data, epochs=args.epochs, validation_data=(inputs_test, y_test), shuffle=False,
                  validation_freq=max(1, args.epochs // 6), callbacks=callbacks, verbose=verbose)  # fmt: skip
        _, accuracy = model.evaluate(inputs_test, y_test, batch_size=500, verbose=0)
        rows.append({
            "way": way,
            "target_test_accuracy": float(accuracy),
            "trained_parameters": sum(int(np.prod(w.shape)) for w in model.trainable_weights),
            "seconds": time.perf_counter() - started,
        })  # fmt: skip

    title = (
        f"Pretrained on {len(x_a):,} images of task A ({args.pretrain_epochs} epochs); task B: "
        f"{args.per_class} labelled images per class, {args.epochs} epochs, {len(x_test):,} test images"
    )
    finish_comparison(run, "way", rows, title=title, step=args.epochs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
