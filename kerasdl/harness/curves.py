"""Per-epoch curves: the one writer every experiment logs them with, persisted in the run directory.

Course 2, Week 1 ("Bias / variance") and Course 3, Week 1 ("Avoidable bias",
"mismatched distributions"): training error and dev error, side by side,
epoch by epoch, measured the same way: in inference mode (no dropout,
BatchNorm's moving averages) on the whole set. `fit`'s own training metrics
are averages over an epoch of moving weights with dropout on, so they are
not the training error the lessons compare with dev error.

One tag scheme, for every experiment (`prefix` is a variant's name, or empty):

- TensorBoard run `<prefix>/<split>`: "loss" and "error" (1 - accuracy) of
  each evaluated split; `<prefix>/train` also "learning_rate";
- TensorBoard run `<prefix>/gaps`: "gap" (error of the second split minus
  the first, the lesson's variance estimate);
- or, with a human-level error, the whole decomposition: one TensorBoard run
  per gap, `<prefix>/gaps/<gap>` (avoidable_bias, variance, data_mismatch,
  dev_overfitting), each with the tag "decomposition", and run
  `<prefix>/human_level` with "error" (the human-level error, a flat line
  beside the splits' errors). TensorBoard colours lines by run, so in the
  Custom Scalars chart of the gaps each gap has its own colour and its name
  in the legend; as tags of one run they would share a colour.

The decomposition's own callback, for the main job and for any user's
`fit` with a plain TensorBoard folder, is
`kerasdl.harness.decomposition.DecompositionCallback` (an `EpochCurves` that
checks its data against the model first).

Every point also goes to `<run>/curves.json` (`CurveLog`), saved after each
epoch and before that epoch's backup. A resumed run reads its earlier points
back, so its history and results cover the whole run; an epoch that is
trained again after a stop overwrites its point.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from kerasdl.diagnostics.bias_variance import ErrorDecomposition, custom_scalars_layout, decompose
from kerasdl.training.io import atomic_write_json

CURVES = "curves.json"
DECOMPOSITION_TAG = "decomposition"  # the tag of each gap's run `<prefix>/gaps/<gap>`


def _join(*parts: str) -> str:
    return "/".join(part.strip("/") for part in parts if part and part.strip("/"))


class CurveLog:
    """Scalar points written to TensorBoard and kept in `<run>/curves.json`.

    Args:
        run_dir: the run directory.
        writer: subrun name -> its `tf.summary` writer (`Run.writer`).
        resume: read the points an earlier session of this run saved.
    """

    def __init__(self, run_dir: str | os.PathLike, writer: Callable[[str], Any], resume: bool):
        self.path = Path(run_dir) / CURVES
        self._writer = writer
        self._points: dict[str, dict[str, dict[str, float]]] = {}
        if resume and self.path.exists():
            self._points = json.loads(self.path.read_text())

    def log(self, subrun: str, tag: str, step: int, value: float) -> None:
        """Writes one point to TensorBoard run `subrun` and keeps it (step `step` replaces an earlier one)."""
        value = float(value)
        with self._writer(subrun).as_default():
            tf.summary.scalar(tag, value, step=step)
        self._points.setdefault(subrun, {}).setdefault(tag, {})[str(int(step))] = value

    def save(self) -> None:
        """Persists every point (atomically); call it once per epoch, before the epoch's backup."""
        atomic_write_json(self.path, self._points)

    def include(self, directory: str | os.PathLike, prefix: str) -> None:
        """Adds the points saved in `directory/curves.json` under `prefix/` (not to TensorBoard again).

        For curves written by other processes into a folder of this run (the
        trials of a parallel search): their points are already in
        TensorBoard under that folder, and this puts them in the results.
        """
        path = Path(directory) / CURVES
        if path.exists():
            for subrun, tags in json.loads(path.read_text()).items():
                self._points[_join(prefix, subrun)] = tags

    def points(self, subrun: str, tag: str) -> list[tuple[int, float]]:
        """(step, value) pairs of one curve, by step."""
        curve = self._points.get(subrun, {}).get(tag, {})
        return sorted((int(step), value) for step, value in curve.items())

    def values(self, subrun: str, tag: str) -> list[float]:
        """The values of one curve, by step."""
        return [value for _, value in self.points(subrun, tag)]

    def as_dict(self, prefix: str = "") -> dict[str, dict[str, list[list[float]]]]:
        """Every curve under `prefix` as {subrun: {tag: [[step, value], ...]}} (the results' "curves")."""
        return {
            subrun: {tag: [[step, value] for step, value in self.points(subrun, tag)] for tag in tags}
            for subrun, tags in sorted(self._points.items())
            if not prefix or subrun == prefix or subrun.startswith(prefix.strip("/") + "/")
        }


class EpochCurves(keras.callbacks.Callback):
    """Evaluates named datasets after every epoch and logs them with the one tag scheme (module docstring).

    Put it before the backup callbacks (`Run.resume_callbacks`), so each
    backup follows its epoch's points.

    Args:
        curves: the run's `CurveLog` (`Run.curves`).
        datasets: split name -> dataset of (inputs, labels).
        prefix: the variant's name ("" for a run with one model).
        gap_splits: the (low, high) splits whose error difference is "gap",
            e.g. ("train", "dev"); None for no gap.
        human_error: human-level error (the Bayes-error proxy). When given,
            the splits must include "train" and "dev" (and may include
            "train_dev" and "test"), and the whole Course 3 decomposition is
            logged instead of "gap".
        evaluator: what evaluates a dataset: anything with
            `evaluate(dataset) -> {"loss": ..., "accuracy": ...}`, such as a
            `kerasdl.training.loop.TrainingLoop`; by default the model `fit`
            trains (compiled with an "accuracy" metric).
        every: evaluate after every `every`-th epoch (and always after the
            last one, when `fit` says how many there are), for long runs on
            large evaluation sets.

    With a `TrainingLoop`, pass `on_epoch_end=curves.on_epoch_end` to its `fit`.
    """

    def __init__(
        self,
        curves: CurveLog,
        datasets: Mapping[str, tf.data.Dataset],
        prefix: str = "",
        gap_splits: tuple[str, str] | None = ("train", "dev"),
        human_error: float | None = None,
        evaluator=None,
        every: int = 1,
    ):
        super().__init__()
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive integer. Received: every={every!r}")
        if human_error is not None:
            if not 0 <= human_error <= 1:
                raise ValueError(f"human_error is a fraction in [0, 1]. Received: human_error={human_error}")
            if not {"train", "dev"} <= set(datasets):
                raise ValueError(f"datasets must include 'train' and 'dev'. Received: {sorted(datasets)}")
        elif gap_splits is not None and not set(gap_splits) <= set(datasets):
            raise ValueError(f"gap_splits must name two datasets. Received: gap_splits={gap_splits}")
        self.curves = curves
        self.datasets = dict(datasets)
        self.prefix = prefix
        self.gap_splits = gap_splits
        self.human_error = human_error
        self.evaluator = evaluator
        self.every = every
        self.measure_seconds = 0.0  # spent in `measure` so far: the evaluation's share of an epoch

    def _evaluate(self, dataset) -> tuple[float, float]:
        if self.evaluator is not None:
            results = self.evaluator.evaluate(dataset)
        else:
            results = self.model.evaluate(dataset, verbose=0, return_dict=True)
        if "accuracy" not in results:
            raise ValueError(
                f"Compile the model with metrics=['accuracy']. Received metrics: {sorted(results)}"
            )
        return float(results["loss"]), 1.0 - float(results["accuracy"])

    def _learning_rate(self) -> float | None:
        owner = self.evaluator if self.evaluator is not None else self.model
        optimizer = getattr(owner, "optimizer", None)
        if optimizer is None:
            return None
        return float(keras.ops.convert_to_numpy(optimizer.learning_rate))

    def on_train_begin(self, logs=None):
        if self.human_error is not None:
            with self.curves._writer(_join(self.prefix, "human_level")).as_default():
                tf.summary.experimental.write_raw_pb(custom_scalars_layout().SerializeToString(), step=0)

    def on_epoch_end(self, epoch, logs=None):
        step = epoch + 1
        last = (self.params or {}).get("epochs") if self.evaluator is None else None
        if step % self.every and step != last:
            return
        errors = self.measure(step)
        if logs is not None:
            logs.update({f"{split}_error": error for split, error in errors.items()})

    def measure(self, step: int, learning_rate: bool = True) -> dict[str, float]:
        """Evaluates every dataset now and logs (and saves) the points of `step`; returns the errors.

        What the end of each epoch does. Called directly, after `set_model`,
        it measures a model that was not trained here (a saved one) at the
        step given, e.g. 0.

        Args:
            step: the step of the points.
            learning_rate: also log the optimizer's learning rate (when it
                has one).
        """
        start, errors = time.perf_counter(), {}
        for split, dataset in self.datasets.items():
            loss, errors[split] = self._evaluate(dataset)
            self.curves.log(_join(self.prefix, split), "loss", step, loss)
            self.curves.log(_join(self.prefix, split), "error", step, errors[split])
        rate = self._learning_rate() if learning_rate else None
        if rate is not None:
            self.curves.log(_join(self.prefix, "train"), "learning_rate", step, rate)
        gaps = _join(self.prefix, "gaps")
        if self.human_error is not None:
            decomposition = decompose(
                self.human_error, errors["train"], errors["dev"], errors.get("train_dev"), errors.get("test")
            )
            for gap, value in decomposition.gaps().items():
                self.curves.log(_join(gaps, gap), DECOMPOSITION_TAG, step, value)
            self.curves.log(_join(self.prefix, "human_level"), "error", step, self.human_error)
        elif self.gap_splits is not None:
            low, high = self.gap_splits
            self.curves.log(gaps, "gap", step, errors[high] - errors[low])
        self.curves.save()
        self.measure_seconds += time.perf_counter() - start
        return errors


def epoch_history(curves: CurveLog, splits, prefix: str = "") -> dict[str, Any]:
    """The whole per-epoch history of one model, read back from the run's curves.

    Returns:
        {"epoch": [1, 2, ...], "<split>": {"loss": [...], "error": [...]},
        "gap": [...] (when logged), "learning_rate": [...]}: every epoch of
        the run, including those trained before a resume.
    """
    history: dict[str, Any] = {
        "epoch": [step for step, _ in curves.points(_join(prefix, splits[0]), "error")],
        "learning_rate": curves.values(_join(prefix, "train"), "learning_rate"),
    }
    for split in splits:
        history[split] = {tag: curves.values(_join(prefix, split), tag) for tag in ("loss", "error")}
    gap = curves.values(_join(prefix, "gaps"), "gap")
    if gap:
        history["gap"] = gap
    return history


def decomposition_history(curves: CurveLog, human_error: float, prefix: str = "") -> list[ErrorDecomposition]:
    """The Course 3 decomposition of every epoch, from the error curves `EpochCurves` logged.

    Read back from the run, so a resumed run (even one resumed after its
    last epoch) reports every epoch.
    """
    errors = {
        split: curves.values(_join(prefix, split), "error") for split in ("train", "dev", "train_dev", "test")
    }
    return [
        decompose(
            human_error,
            errors["train"][i],
            errors["dev"][i],
            errors["train_dev"][i] if errors["train_dev"] else None,
            errors["test"][i] if errors["test"] else None,
        )
        for i in range(len(errors["train"]))
    ]
