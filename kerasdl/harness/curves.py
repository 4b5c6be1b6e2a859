"""Per-epoch evaluation curves for TensorBoard, one subrun per variant and split.

Course 2, Week 1 ("Bias / variance"): training error and dev error, side by
side, epoch by epoch, measured the same way: in inference mode (no dropout,
BatchNorm's moving averages), on the whole set. `fit`'s own training
metrics are averages over an epoch of changing weights with dropout on, so
they are not the training error the lesson compares with dev error.

Writers come from `kerasdl.harness.run.Run.writer(subdir)`, so each
`<variant>/<split>` is a TensorBoard run and the same tag ("error", "loss")
from every variant and split lands on one chart.

Experiments that train several variants one after another resume variant by
variant: `completed_variants(run)` returns the results already saved by an
interrupted run (`--resume` reopens it), and `variant_callbacks(run,
variant)` backs each variant up into its own `<run>/backup/<variant>/`.
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import tensorflow as tf

RESULTS = "results.json"


def completed_variants(run) -> dict:
    """The per-variant results a resumed run saved before it stopped ({} for a new run).

    Experiments save `results.json` after every variant, so a variant found
    here is complete and is skipped on `--resume`.
    """
    return run.saved_json(RESULTS)


def variant_callbacks(run, variant: str, dataset: tf.data.Dataset | None = None) -> list:
    """`[TerminateOnNaN(), BackupAndRestore(<run>/backup/<variant>)]`, to put last in `fit`'s callbacks.

    Last, after the callbacks that write an epoch's points (`EpochEvaluation`):
    a backup then always follows its epoch's points, so a stop during the
    end-of-epoch evaluation leaves neither a gap nor a point written twice.

    A variant whose loss becomes NaN stops quietly and is reported as
    diverged (in a comparison of optimizers or learning rates that is a
    result, not an error); the backup lets `--resume` continue an
    interrupted variant at the epoch it reached.

    Args:
        run: the `kerasdl.harness.run.Run`.
        variant: the variant's name (its backup folder).
        dataset: the training dataset, if it reshuffles every epoch.
    """
    from kerasdl.training.backup import BackupAndRestore

    backup = BackupAndRestore(run.backup_dir / variant, dataset=dataset)
    return [keras.callbacks.TerminateOnNaN(), backup]


class EpochEvaluation(keras.callbacks.Callback):
    """Evaluates named datasets after every epoch and logs "loss" and "error".

    Writes, at step = epoch number (from 1):
      - `<prefix>/<split>`: "loss" and "error" (1 - accuracy) for each dataset;
      - `<prefix>`: "gap" (error on `gap_splits[1]` minus `gap_splits[0]`,
        the lesson's variance estimate) and "learning_rate".

    The model must be compiled with an "accuracy" metric.

    Args:
        run: a `kerasdl.harness.run.Run`.
        datasets: split name -> dataset of (inputs, labels).
        prefix: the variant's name, the first part of every subrun.
        gap_splits: the (train, dev) split names whose error difference is "gap".

    Attributes:
        history: split name -> {"loss": [...], "error": [...]}, plus "gap" and
            "epoch" (the epoch numbers logged by this callback: after a
            resume, only those run since).
    """

    def __init__(
        self,
        run,
        datasets: Mapping[str, tf.data.Dataset],
        prefix: str,
        gap_splits: tuple[str, str] | None = ("train", "dev"),
    ):
        super().__init__()
        if gap_splits is not None and not set(gap_splits) <= set(datasets):
            raise ValueError(f"gap_splits must name two datasets. Received: gap_splits={gap_splits}")
        self.run = run
        self.datasets = dict(datasets)
        self.prefix = prefix
        self.gap_splits = gap_splits
        self.history: dict[str, dict[str, list[float]] | list[float]] = {
            s: {"loss": [], "error": []} for s in datasets
        }
        self.history["gap"] = []
        self.history["epoch"] = []

    def on_epoch_end(self, epoch, logs=None):
        step = epoch + 1
        self.history["epoch"].append(step)
        for split, dataset in self.datasets.items():
            results = self.model.evaluate(dataset, verbose=0, return_dict=True)
            error = 1.0 - float(results["accuracy"])
            self.history[split]["loss"].append(float(results["loss"]))
            self.history[split]["error"].append(error)
            with self.run.writer(f"{self.prefix}/{split}").as_default():
                tf.summary.scalar("loss", results["loss"], step=step)
                tf.summary.scalar("error", error, step=step)
        with self.run.writer(self.prefix).as_default():
            if self.gap_splits is not None:
                low, high = self.gap_splits
                gap = self.history[high]["error"][-1] - self.history[low]["error"][-1]
                self.history["gap"].append(gap)
                tf.summary.scalar("gap", gap, step=step)
            optimizer = self.model.optimizer
            tf.summary.scalar(
                "learning_rate", float(keras.ops.convert_to_numpy(optimizer.learning_rate)), step=step
            )
