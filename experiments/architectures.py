"""Classic architectures on Fashion-MNIST: LeNet-5, a small VGG, a small ResNet, a small Inception net.

Course 4, Week 2 ("Classic networks", "ResNets", "Inception network"). The
same data, optimizer and epochs for each network from
`kerasdl.nn.architectures`; what differs is the architecture. The run logs, per
network, the test accuracy, the number of parameters and the seconds per
epoch, so the HParams dashboard can set accuracy against size and cost.

Run:
    python -m experiments.architectures                  # ~5 min on 2 CPU cores (12,000 images, 2 epochs)
    python -m experiments.architectures --profile full   # all 60,000 images, 10 epochs
    python -m experiments.architectures --models lenet5,alexnet_small --epochs 3
    tensorboard --logdir logs/architectures

In TensorBoard: HParams (Table view / Parallel coordinates) has one row
per network (hyperparameter "network") with test_accuracy, parameters and seconds_per_epoch; Time
Series overlays "epoch_accuracy" and "epoch_loss" of <model>/train and
<model>/validation (the test set); "seconds_per_epoch" per network; Text
"summary" is the results table.
"""

from __future__ import annotations

import json
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from kerasdl.harness.comparison import finish_comparison
from kerasdl.harness.run import experiment_parser, fail, parse_subset, start_run
from kerasdl.nn.architectures import SMALL_BUILDERS
from pipelines.datasets import to_dataset
from pipelines.normalize import Standardizer
from pipelines.sources import SourceCorruptError, SourceMissingError, fashion_mnist

EXPERIMENT = "architectures"
DEFAULT_MODELS = ("lenet5", "vgg_small", "resnet_small", "inception_small")
PROGRESS = "networks.json"  # the rows of the networks done so far, saved after each
PROFILES = {"default": (12_000, 2), "full": (60_000, 10)}  # training images, epochs


def build_parser():
    parser = experiment_parser(EXPERIMENT, __doc__)
    parser.add_argument(
        "--profile", choices=sorted(PROFILES), default="default",
        help="default: 12,000 training images, 2 epochs; full: 60,000 images, 10 epochs",
    )  # fmt: skip
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS),
                        help=f"comma-separated networks from {sorted(SMALL_BUILDERS)}")  # fmt: skip
    parser.add_argument("--limit", type=int, default=None, help="training images (overrides the profile)")
    parser.add_argument("--test-limit", type=int, default=10_000, help="test images to evaluate on")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per network (overrides the profile)")
    parser.add_argument("--batch-size", type=int, default=128, help="mini-batch size")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="Adam's learning rate")
    parser.add_argument("--data-dir", default=None, help="folder with the Fashion-MNIST IDX files")
    return parser


class EpochTimer(keras.callbacks.Callback):
    """Seconds of each training epoch (evaluation excluded), also logged as a scalar."""

    def __init__(self, writer):
        super().__init__()
        self.writer, self.seconds = writer, []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._end = time.perf_counter()  # the last batch's end: validation comes after

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(self._end - self._start)
        with self.writer.as_default():
            tf.summary.scalar("seconds_per_epoch", self.seconds[-1], step=epoch)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    models = parse_subset("--models", args.models, sorted(SMALL_BUILDERS))
    limit, epochs = PROFILES[args.profile]
    limit, epochs = args.limit or limit, args.epochs or epochs
    if limit < 1 or epochs < 1 or args.test_limit < 1:
        fail("--limit, --test-limit and --epochs must be >= 1")
    try:
        train, test = (
            fashion_mnist("train", data_dir=args.data_dir),
            fashion_mnist("test", data_dir=args.data_dir),
        )
    except (SourceMissingError, SourceCorruptError) as error:
        fail(str(error))
    train, test = (
        train.take(np.arange(min(limit, len(train)))),
        test.take(np.arange(min(args.test_limit, len(test)))),
    )

    run = start_run(EXPERIMENT, vars(args))
    standardizer = Standardizer.fit(train.images)
    train_data = to_dataset(train, args.batch_size, shuffle=True, seed=args.seed, standardizer=standardizer)
    test_data = to_dataset(test, 500, standardizer=standardizer)
    # --resume: networks finished before the interruption are not trained again.
    done = (
        json.loads((run.dir / PROGRESS).read_text()) if run.resumed and (run.dir / PROGRESS).exists() else {}
    )
    rows = []
    for name in models:
        if name in done:
            rows.append(done[name])
            continue
        keras.utils.set_random_seed(args.seed)
        model = SMALL_BUILDERS[name]()
        model.compile(
            keras.optimizers.Adam(args.learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        print(f"== {name}: {model.count_params():,} parameters", flush=True)
        writer = run.writer(name)
        timer = EpochTimer(writer)
        board = keras.callbacks.TensorBoard(str(run.dir / name), write_graph=False)
        # Backups last, after the callbacks that write the epoch's points; one backup folder per network.
        callbacks = [timer, board, *run.resume_callbacks(train_data, name=name)]
        model.fit(train_data, validation_data=test_data, epochs=epochs, callbacks=callbacks, shuffle=False,
                  verbose=1 if sys.stdout.isatty() else 2)  # fmt: skip
        # From evaluation, not fit's history: a fit resumed after its last epoch trains (and records) nothing.
        _, accuracy = model.evaluate(test_data, verbose=0)
        rows.append({
            "network": name,
            "parameters": model.count_params(),
            "test_accuracy": float(accuracy),
            # The epochs timed in this process: after a resume, those run since.
            "seconds_per_epoch": float(np.median(timer.seconds)) if timer.seconds else float("nan"),
        })  # fmt: skip
        done[name] = rows[-1]
        run.save_json(PROGRESS, done)
        keras.backend.clear_session()

    title = (
        f"{len(train):,} training images, {epochs} epochs, batch {args.batch_size}, Adam {args.learning_rate}"
    )
    finish_comparison(run, "network", rows, title=title, step=epochs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
