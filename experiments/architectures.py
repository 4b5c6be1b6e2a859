"""Classic architectures on Fashion-MNIST: LeNet-5, a small VGG, a small ResNet, a small Inception net.

Course 4, Week 2 ("Classic networks", "ResNets", "Inception network"). The
same data, optimizer and epochs for each network from
`kerasdl.nn.architectures`; what differs is the architecture. The run logs, per
network, the test accuracy, the number of parameters and the seconds per
epoch, so the HParams dashboard can set accuracy against size and cost.

Run:
    python -m experiments.architectures                  # default profile: 12,000 images, 2 epochs
    python -m experiments.architectures --profile full   # all 60,000 images, 10 epochs
    python -m experiments.architectures --models lenet5,alexnet_small --epochs 3
    python -m experiments.architectures --resume --epochs 4   # continue the last run, longer
    tensorboard --logdir logs/architectures

In TensorBoard: HParams (Table view / Parallel coordinates) has one row per
network (hyperparameter "network") with test_accuracy, parameters and
seconds_per_epoch. Time Series overlays, after every epoch, "loss" and
"error" (1 - accuracy) of the runs <network>/train (a fixed subset of the
training images, in inference mode) and <network>/test, "gap" (test error -
train error) of <network>/gaps, and "seconds_per_epoch" (training only) of
<network>/train. Text "summary" is the results table.

Each network is one phase of the run: `--resume` continues the network that
was training when the run stopped and does not train the finished ones again.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from kerasdl.harness import cli
from kerasdl.harness.comparison import finish_comparison
from kerasdl.harness.curves import CurveLog, EpochCurves, epoch_history
from kerasdl.harness.run import Run, start_run
from kerasdl.nn.architectures import SMALL_BUILDERS
from kerasdl.training.timing import EpochSeconds
from pipelines.datasets import to_dataset
from pipelines.normalize import Standardizer
from pipelines.sources import ImageSource

EXPERIMENT = "architectures"
DEFAULT_MODELS = ("lenet5", "vgg_small", "resnet_small", "inception_small")
PROFILES = {"default": (12_000, 2), "full": (60_000, 10)}  # training images, epochs
SPLITS = ("train", "test")  # the curves of every network: train error against test error


def build_parser():
    parser = cli.experiment_parser(EXPERIMENT, __doc__)
    parser.add_argument(
        "--profile", choices=sorted(PROFILES), default="default",
        help="default: 12,000 training images, 2 epochs; full: 60,000 images, 10 epochs",
    )  # fmt: skip
    cli.add_subset_flag(parser, "--models", sorted(SMALL_BUILDERS), default=DEFAULT_MODELS,
                    help=f"comma-separated networks from {sorted(SMALL_BUILDERS)}")  # fmt: skip
    cli.add_train_test_flags(parser, limit=None, limit_help="training images (overrides the profile)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per network (overrides the profile)")
    cli.add_batch_size_flag(parser, 128)
    cli.add_learning_rate_flag(parser, 1e-3)
    return parser


@dataclass
class Data:
    """What every network sees: its own copy of the training batches, and the curves' two sets."""

    train: ImageSource
    standardizer: Standardizer
    batch_size: int
    seed: int
    train_eval: tf.data.Dataset
    test: tf.data.Dataset

    def fresh_train(self) -> tf.data.Dataset:
        """Shuffled training batches whose k-th epoch is the same for every network.

        A new copy per network: one shared dataset would give each network
        the passes after the previous network's, so a network would train on
        other batches when a resumed run skips the finished ones.
        """
        return to_dataset(
            self.train, self.batch_size, shuffle=True, seed=self.seed, standardizer=self.standardizer
        )


class EpochTimer(EpochSeconds):
    """Seconds of each training epoch (evaluation excluded), logged as the curve "seconds_per_epoch".

    Put it before `EpochCurves`, which saves the epoch's points.
    """

    def __init__(self, curves: CurveLog, subrun: str):
        super().__init__()
        self.curves, self.subrun = curves, subrun

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        self.curves.log(self.subrun, "seconds_per_epoch", epoch + 1, self.seconds[-1])


def train_network(run: Run, name: str, data: Data, args) -> dict:
    """Trains one network from the run's seed; returns its row of the comparison table."""
    keras.utils.set_random_seed(args.seed)
    model = SMALL_BUILDERS[name]()
    model.compile(
        keras.optimizers.Adam(args.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    print(f"== {name}: {model.count_params():,} parameters", flush=True)
    train = data.fresh_train()
    curves = EpochCurves(
        run.curves, {"train": data.train_eval, "test": data.test}, prefix=name, gap_splits=SPLITS
    )
    callbacks = [
        EpochTimer(run.curves, f"{name}/train"),  # before the curves, which save the epoch's points
        curves,
        *run.resume_callbacks(train, name=name),  # last: the backup follows the epoch's points
    ]
    # The dataset reshuffles itself every epoch; shuffle=False stops Keras warning that it cannot.
    model.fit(train, epochs=args.epochs, callbacks=callbacks, shuffle=False,
              verbose=1 if sys.stdout.isatty() else 2)  # fmt: skip
    # Read back from the run: every epoch, also those trained before a resume.
    history = epoch_history(run.curves, SPLITS, prefix=name)
    row = {
        "network": name,
        "parameters": model.count_params(),
        "test_accuracy": 1.0 - history["test"]["error"][-1],
        "seconds_per_epoch": float(np.median(run.curves.values(f"{name}/train", "seconds_per_epoch"))),
    }
    keras.backend.clear_session()
    return row


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    models = cli.parse_subset("--models", args.models, sorted(SMALL_BUILDERS))
    limit, epochs = PROFILES[args.profile]
    args.limit, args.epochs = args.limit or limit, args.epochs or epochs
    cli.check_at_least(args, 1, "epochs", "batch_size", "limit", "test_limit", "train_eval_size")
    train, test = cli.fashion_mnist_train_test(args.data_dir, args.limit, args.test_limit)

    run = start_run(EXPERIMENT, vars(args), safe_to_change={"epochs"})
    title = (
        f"{len(train):,} training images, {args.epochs} epochs, batch {args.batch_size}, "
        f"Adam {args.learning_rate}"
    )
    print(f"Run directory: {run.dir}\n{title}")
    standardizer = Standardizer.fit(train.images)
    data = Data(
        train=train,
        standardizer=standardizer,
        batch_size=args.batch_size,
        seed=args.seed,
        train_eval=to_dataset(cli.first(train, args.train_eval_size), 500, standardizer=standardizer),
        test=to_dataset(test, 500, standardizer=standardizer),
    )
    rows = [run.once(f"network/{name}", train_network, run, name, data, args) for name in models]
    finish_comparison(run, "network", rows, title=title, step=args.epochs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
