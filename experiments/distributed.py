"""Scale out: the main job's CNN on Fashion-MNIST, on a CPU, several GPUs, a TPU or several machines.

Course 2, Week 2 ("Mini-batch gradient descent") spread over replicas: each
replica computes the gradient of its share of the mini-batch, and their sum
is the gradient of the whole mini-batch, so one step on N replicas is one
step of the lesson's algorithm on the global batch, N times as wide. Course
3, Week 1 says why it matters: the faster an idea is tried, the more ideas
get tried.

The model is the main job's small CNN (`experiments.mismatch`: two
conv-BN-ReLU-pool stages and a dense head), trained with Adam on the first
`--limit` Fashion-MNIST training images (Debian's `dataset-fashion-mnist`,
60,000 training and 10,000 test images of 28x28 clothing, offline) by
`kerasdl.training.multiworker.MultiWorkerLoop`: kerasdl's own training loop
with TensorFlow's preemption handler, because Keras 3's `fit` does not run
under MultiWorkerMirroredStrategy in this stack. `--strategy` picks the
hardware (auto: the cluster in TF_CONFIG, else a TPU, else every GPU, else
the CPU); `--batch-size` is the global batch, split between the replicas;
`--mixed-precision` computes in 16 bits. A worker that gets SIGTERM makes
every worker save the step they reached and exit with code 42; the same
command (with `--resume` on one machine) continues at the next step.

Run:
    python -m experiments.distributed                          # the CPU (the default profile)
    python -m experiments.distributed --strategy mirrored      # every GPU of this machine
    python -m experiments.distributed --strategy tpu --mixed-precision --batch-size 1024
    export TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
                       "task": {"type": "worker", "index": 0}}'       # on host1; "index": 1 on host2
    python -m experiments.distributed --logdir /shared/logs   # on both hosts: a logdir they share
    python -m experiments.distributed --resume                 # continue a stopped run (one machine)
    tensorboard --logdir logs/distributed

In TensorBoard: Scalars "loss" and "error" (1 - accuracy) of the runs train
(the first --train-eval-size training images, in inference mode) and test
after every epoch, "gap" (test - train error) of the run gaps, and
"learning_rate"; Text "summary" has the strategy, the replicas, the batch
per replica, the dtype policy, the test error and the training throughput.
On a cluster, only the chief writes the run directory.
"""

from __future__ import annotations

import sys
import time

import keras

from experiments.mismatch import build_model
from kerasdl.harness import cli
from kerasdl.harness.curves import EpochCurves, epoch_history
from kerasdl.harness.run import start_run
from kerasdl.training.distribute import describe, make_strategy
from kerasdl.training.multiworker import MultiWorkerLoop
from pipelines.datasets import to_dataset
from pipelines.normalize import Standardizer

EXPERIMENT = "distributed"
SPLITS = ("train", "test")


def build_parser():
    parser = cli.experiment_parser(EXPERIMENT, __doc__)
    cli.add_train_test_flags(parser, limit=12_000, limit_help="training images")
    parser.add_argument("--epochs", type=int, default=3, help="passes over the training images")
    cli.add_batch_size_flag(parser, 128, help="global mini-batch size, split between the replicas")
    cli.add_learning_rate_flag(parser, 2e-3, note="scale it with the global batch (README)")
    parser.add_argument(
        "--width", type=int, default=32, help="filters in the first conv layer (doubles after)"
    )
    return parser


class StepClock:
    """Training throughput: global-batch images per second over every step but each epoch's first.

    The first step of an epoch also pays for the new iterator (and, in the
    first epoch, tracing), so it is left out.
    """

    def __init__(self, batch_size: int, steps_per_epoch: int):
        self.batch_size, self.steps_per_epoch = batch_size, steps_per_epoch
        self.seconds, self.steps = 0.0, 0
        self._last = None

    def __call__(self, step: int) -> None:
        now = time.perf_counter()
        if self._last is not None and (step - 1) % self.steps_per_epoch:
            self.seconds += now - self._last
            self.steps += 1
        self._last = now

    @property
    def images_per_second(self) -> float | None:
        return self.steps * self.batch_size / self.seconds if self.seconds else None


def summary_table(rows: dict[str, str]) -> str:
    return "\n".join(
        ["| setting | value |", "|---|---|", *(f"| {key} | {value} |" for key, value in rows.items())]
    )


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    cli.check_at_least(args, 1, "epochs", "batch_size", "width", "limit", "test_limit", "train_eval_size")
    # First: a multi-worker strategy sets up this process's TensorFlow runtime before anything runs on it.
    strategy = make_strategy(args.strategy, batch_size=args.batch_size)
    if args.batch_size < strategy.num_replicas_in_sync:
        cli.fail(
            f"--batch-size must be at least the {strategy.num_replicas_in_sync} replicas; "
            f"received {args.batch_size}"
        )
    train, test = cli.fashion_mnist_train_test(args.data_dir, args.limit, args.test_limit)
    run = start_run(EXPERIMENT, vars(args), safe_to_change={"epochs"}, multiworker_loop=True)
    print(
        f"Run directory: {run.dir}\n{len(train):,} training images, {args.epochs} epochs; "
        f"{describe(strategy, args.batch_size)}"
    )

    standardizer = Standardizer.fit(train.images)
    batches = to_dataset(train, args.batch_size, shuffle=True, seed=args.seed, standardizer=standardizer)
    evaluate_sets = {
        "train": to_dataset(cli.first(train, args.train_eval_size), 500, standardizer=standardizer),
        "test": to_dataset(test, 500, standardizer=standardizer),
    }
    with strategy.scope():
        model = build_model(train.image_shape, train.num_classes, args.width, stem_stride=1)
        optimizer = keras.optimizers.Adam(args.learning_rate)
    loop = MultiWorkerLoop(
        model,
        optimizer,
        "sparse_categorical_crossentropy",
        metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")],
        strategy=strategy,
    )
    curves = EpochCurves(run.curves, evaluate_sets, gap_splits=SPLITS, evaluator=loop)
    clock = StepClock(args.batch_size, int(batches.cardinality()))
    with run.phase("train"):
        loop.fit(
            batches,
            args.epochs,
            checkpoint_dir=run.backup_dir_for("model"),
            on_epoch_end=curves.on_epoch_end,
            on_step_end=clock,
            verbose=1 if sys.stdout.isatty() else 2,
        )

    history = epoch_history(run.curves, SPLITS)  # every epoch, also those before a restart
    metrics = {
        "test_error": history["test"]["error"][-1],
        "test_loss": history["test"]["loss"][-1],
        "train_error": history["train"]["error"][-1],
        "replicas": strategy.num_replicas_in_sync,
        "images_per_second": clock.images_per_second,  # None when this session trained no timed step
    }
    rows = {
        "strategy": describe(strategy, args.batch_size),
        "dtype policy": model.dtype_policy.name,
        "epochs": str(args.epochs),
        "test error": f"{metrics['test_error']:.4f}",
        "train error": f"{metrics['train_error']:.4f}",
        "images per second (training)": "-"
        if clock.images_per_second is None
        else f"{clock.images_per_second:,.0f}",
    }
    run.finish(
        metrics=metrics,
        details={"history": history},
        summary=summary_table(rows),
        step=args.epochs,
        echo=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
