"""One worker of a 2-worker test cluster: `python -m tests.kerasdl.training.multiworker_job DIR [flags]`.

TF_CONFIG (set by the test) tells the process its place in the cluster.
With `--mode loop` it trains a small dense network through the harness and
`kerasdl.training.multiworker.MultiWorkerLoop` (curves through
`EpochCurves`, checkpoints in the run), then writes
DIR/report-<task>.json: the steps this process really trained, the
step it started and ended at, the final weights and the history. With
`--pause-at-step K` it stops after step K, writes DIR/paused-<task>
and waits (at most 120 s) for SIGTERM, so the test can preempt it at a
known step without sleeping a fixed time.

With `--mode fit` it calls Keras' `model.fit` under the same strategy and
writes DIR/fit-<task>.json: whether it trained or the error it raised.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasdl.harness.curves import EpochCurves  # noqa: E402
from kerasdl.harness.run import start_run  # noqa: E402
from kerasdl.training.distribute import make_strategy, tf_config  # noqa: E402
from kerasdl.training.multiworker import MultiWorkerLoop  # noqa: E402

EXPERIMENT = "multiworker_job"
EXAMPLES, BATCH, EPOCHS = 96, 8, 2  # 12 steps per epoch
STEPS_PER_EPOCH = EXAMPLES // BATCH
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def data() -> tuple[tf.data.Dataset, dict[str, tf.data.Dataset]]:
    """Training batches reshuffled every pass (seeded), and the curves' "train" and "dev" sets."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(EXAMPLES + 32, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")
    examples = tf.data.Dataset.from_tensor_slices((x[:EXAMPLES], y[:EXAMPLES]))
    dev = tf.data.Dataset.from_tensor_slices((x[EXAMPLES:], y[EXAMPLES:])).batch(16)
    return examples.shuffle(EXAMPLES, seed=1).batch(BATCH), {"train": examples.batch(32), "dev": dev}


def build_model() -> keras.Model:
    return keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)]
    )


class PauseAtStep:
    """After step `step`, marks it on disk and waits for SIGTERM (`fit`'s preemption handler sees it too)."""

    def __init__(self, step: int | None, marker: Path):
        self.step, self.marker = step, marker
        self.steps_run = 0

    def __call__(self, step: int) -> None:
        self.steps_run += 1
        if step != self.step:
            return
        received = threading.Event()
        handler = signal.getsignal(signal.SIGTERM)  # the preemption handler's

        def on_sigterm(signum, frame):
            received.set()
            if callable(handler):
                handler(signum, frame)

        signal.signal(signal.SIGTERM, on_sigterm)
        self.marker.write_text(str(step))
        deadline = time.monotonic() + 120
        while not received.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        signal.signal(signal.SIGTERM, handler)


def train_with_loop(args, strategy, task: str) -> None:
    run = start_run(EXPERIMENT, {"logdir": str(args.logdir), "run_name": args.run_name, "seed": 0})
    train, evaluation = data()
    with strategy.scope():
        model = build_model()
        optimizer = keras.optimizers.Adam(0.01)
    loop = MultiWorkerLoop(
        model,
        optimizer,
        LOSS,
        metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")],
        strategy=strategy,
    )
    curves = EpochCurves(run.curves, evaluation, evaluator=loop)
    pause = PauseAtStep(args.pause_at_step, args.report_dir / f"paused-{task}")
    start = None

    def on_step_end(step: int) -> None:
        nonlocal start
        if start is None:
            start = step - 1
        pause(step)

    report = {"task": task, "replicas": strategy.num_replicas_in_sync, "run_dir": str(run.dir)}
    try:
        with run.phase("train"):
            history = loop.fit(
                train,
                EPOCHS,
                checkpoint_dir=run.backup_dir_for("model"),
                on_epoch_end=curves.on_epoch_end,
                on_step_end=on_step_end,
                verbose=0,
            )
        run.finish(metrics={"loss": history["loss"][-1] if history else None}, step=EPOCHS)
        report.update(history=history, weights=[w.tolist() for w in model.get_weights()])
    finally:
        report.update(steps_run=pause.steps_run, start=start, end=int(loop.trained_steps.numpy()))
        (args.report_dir / f"report-{task}.json").write_text(json.dumps(report))


def train_with_fit(args, strategy, task: str) -> None:
    train, _ = data()
    with strategy.scope():
        model = build_model()
        model.compile(keras.optimizers.Adam(0.01), LOSS)
    try:
        history = model.fit(train, epochs=1, verbose=0).history
        outcome = {"trained": True, "loss": history["loss"]}
    except Exception as error:  # what fit does is the finding: record it, whatever it is
        outcome = {"trained": False, "error": type(error).__name__, "message": str(error)[-300:]}
    (args.report_dir / f"fit-{task}.json").write_text(json.dumps(outcome))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("report_dir", type=Path)
    parser.add_argument("--mode", choices=("loop", "fit"), default="loop")
    parser.add_argument("--logdir", type=Path)
    parser.add_argument("--run-name", default=None)
    parser.add_argument("--pause-at-step", type=int, default=None)
    args = parser.parse_args()
    strategy = make_strategy("multiworker")  # first: it sets up this process's runtime
    task = str(tf_config()["task"]["index"])
    (train_with_loop if args.mode == "loop" else train_with_fit)(args, strategy, task)


if __name__ == "__main__":
    main()
