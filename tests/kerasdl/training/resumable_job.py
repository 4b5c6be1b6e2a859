"""A tiny training job for the SIGTERM test: `python -m tests.kerasdl.training.resumable_job DIR`.

It trains with `BackupAndRestore` into DIR/backup. With --pause-at-step K it
writes DIR/paused after step K and waits there for a signal, so the test can
SIGTERM it at a known step without sleeping a fixed time. It writes
DIR/report-<pid>.json with the steps it started at, ended at, and really ran,
and DIR/weights-<pid>.npy.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasdl.harness.run import set_seeds  # noqa: E402
from kerasdl.training.backup import BackupAndRestore  # noqa: E402

EPOCHS, EXAMPLES, BATCH = 3, 100, 10


class PauseAtStep(keras.callbacks.Callback):
    def __init__(self, step: int, marker: Path, backup: BackupAndRestore):
        super().__init__()
        self.step, self.marker, self.backup = step, marker, backup

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations) == self.step:
            self.marker.write_text(str(self.step))
            deadline = time.monotonic() + 120
            while not self.backup.stop_requested and time.monotonic() < deadline:
                time.sleep(0.01)


class CountSteps(keras.callbacks.Callback):
    """Steps really trained in this process: the optimizer's counter moves only on a real step."""

    def __init__(self):
        super().__init__()
        self.start = self.last = None
        self.run = 0

    def on_train_batch_begin(self, batch, logs=None):
        if self.start is None:  # after every on_train_begin, the restore included
            self.start = self.last = int(self.model.optimizer.iterations)

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations)
        self.run += step != self.last
        self.last = step


def build() -> tuple[keras.Model, tf.data.Dataset]:
    """The job's model and reshuffling dataset, seeded as `start_run` seeds a process."""
    set_seeds(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(EXAMPLES, 4)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("int64")
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(EXAMPLES, seed=1).batch(BATCH)
    layers = [keras.Input((4,)), keras.layers.Dense(8), keras.layers.ReLU(), keras.layers.Dense(2)]
    model = keras.Sequential(layers)
    model.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model, dataset


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dir", type=Path)
    parser.add_argument("--pause-at-step", type=int, default=None)
    args = parser.parse_args()
    model, dataset = build()
    backup = BackupAndRestore(args.dir / "backup", save_freq=5, dataset=dataset)
    counter = CountSteps()
    callbacks = [counter, backup]
    if args.pause_at_step is not None:
        callbacks.insert(0, PauseAtStep(args.pause_at_step, args.dir / "paused", backup))
    try:
        model.fit(dataset, epochs=EPOCHS, callbacks=callbacks, verbose=0)
    finally:
        report = {"start": counter.start, "end": int(model.optimizer.iterations), "run": counter.run}
        (args.dir / f"report-{os.getpid()}.json").write_text(json.dumps(report))
        np.save(
            args.dir / f"weights-{os.getpid()}.npy", np.concatenate([w.ravel() for w in model.get_weights()])
        )


if __name__ == "__main__":
    main()
