"""The Course 3 decomposition after every epoch of any Keras `fit`, written to a TensorBoard log dir.

Course 3, Week 1 ("Avoidable bias") and Week 2 ("Bias and variance with
mismatched data distributions"): after each epoch, the training, train-dev,
dev and test error, measured in inference mode on the whole of each set, and

    avoidable bias = train - human level,   variance = train-dev - train,
    data mismatch  = dev - train-dev,       overfitting to dev = test - dev

Add it to your own `fit`; it needs no kerasdl run, only a folder:

    from kerasdl.harness.decomposition import DecompositionCallback

    decomposition = DecompositionCallback(
        "logs/my_model",                       # tensorboard --logdir logs/my_model
        train=(x_train[:5000], y_train[:5000]),  # (inputs, labels) arrays, or a tf.data.Dataset of batches
        train_dev=train_dev_dataset,           # optional: held out from the training distribution
        dev=dev_dataset,
        test=test_dataset,                     # optional
        human_error=0.01,                      # human-level error, the proxy for Bayes error
    )
    model.fit(train_dataset, epochs=10, callbacks=[decomposition])

The model must be compiled with `metrics=["accuracy"]` (error = 1 -
accuracy). TensorBoard shows runs "train", "train_dev", "dev" and "test"
with "loss" and "error", run "human_level" with "error" (the human-level
error), and one run per gap, "gaps/avoidable_bias", "gaps/variance",
"gaps/data_mismatch" and "gaps/dev_overfitting", each with the tag
"decomposition" (plus a Custom Scalars page with the four gaps on one chart,
one colour each). The points are also kept in
`<log dir>/curves.json`; `decomposition_history(callback.curves, human_error)`
turns them into one `ErrorDecomposition` per epoch, whose `recommendation()`
names the lesson's next step.

It is the main job's own callback: `experiments.mismatch` and
`experiments.diagnose` give it their run's curve log (`run.curves`) instead
of a folder, so the decomposition is written one way everywhere.

Its arguments are checked before any training: every split must yield
(inputs, labels), `human_error` must be a fraction in [0, 1); when training
begins, every split's inputs must have the model's input shape and its labels
must be class indices the model's output has (one pass over each split's
labels). Each problem is a `ValueError` naming the split and both values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from kerasdl.harness.curves import CurveLog, EpochCurves

SPLITS = ("train", "train_dev", "dev", "test")


def check_human_error(human_error: Any) -> float:
    """`human_error` as a float, or a `ValueError` unless it is a fraction in [0, 1)."""
    number = isinstance(human_error, int | float | np.floating | np.integer) and not isinstance(
        human_error, bool
    )
    if not number or not 0 <= float(human_error) < 1:
        raise ValueError(
            "human_error is the human-level error rate (the Bayes-error proxy), a fraction in [0, 1), "
            f"e.g. 0.01 for 1%. Received: human_error={human_error!r}"
        )
    return float(human_error)


def labelled_dataset(name: str, data: Any, batch_size: int = 256) -> tf.data.Dataset:
    """`data` as a dataset of (inputs, labels) batches, or a `ValueError` naming the split.

    Args:
        name: the split's name, for the messages.
        data: a `tf.data.Dataset` yielding (inputs, labels) or (inputs,
            labels, sample weights) batches, or an (inputs, labels) pair of
            arrays of equal length (batched here).
        batch_size: the batch size for arrays.
    """
    if isinstance(data, tf.data.Dataset):
        spec = data.element_spec
        if isinstance(spec, Mapping):
            raise ValueError(
                f"{name} yields dictionaries ({sorted(spec)}); it must yield (inputs, labels) pairs: map it, "
                f"e.g. dataset.map(lambda e: (e['image'], e['label'])). Received: element_spec={spec}"
            )
        if not isinstance(spec, tuple | list) or len(spec) not in (2, 3):
            raise ValueError(
                f"{name} has no labels: it must yield (inputs, labels) pairs, but yields element_spec={spec}"
            )
        return data
    if isinstance(data, tuple | list) and len(data) == 2 and data[1] is not None:
        inputs, labels = (np.asarray(part) for part in data)
        if len(inputs) != len(labels):
            raise ValueError(
                f"{name} must hold one label per input. "
                f"Received: {len(inputs)} inputs and {len(labels)} labels"
            )
        return tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(batch_size)
    if isinstance(data, tuple | list) or isinstance(data, np.ndarray):
        raise ValueError(
            f"{name} has no labels: give an (inputs, labels) pair of arrays or a dataset of (inputs, labels) "
            f"batches. Received: {type(data).__name__} of length {len(data)}"
        )
    raise ValueError(
        f"{name} must be a tf.data.Dataset of (inputs, labels) batches or an (inputs, labels) pair of "
        f"arrays. Received: {type(data).__name__}"
    )


def _shape(shape) -> tuple:
    return tuple(None if d is None else int(d) for d in shape)


def input_mismatch(name: str, data_shape, model_shape) -> str | None:
    """Why inputs of `data_shape` (with the batch axis) do not fit `model_shape`, or None when they fit.

    Unknown (None) dimensions fit anything.
    """
    data_shape, model_shape = _shape(data_shape), _shape(model_shape)
    fits = len(data_shape) == len(model_shape) and all(
        d is None or m is None or d == m for d, m in zip(data_shape[1:], model_shape[1:], strict=True)
    )
    if fits:
        return None
    hint = " (is it batched?)" if len(data_shape) == len(model_shape) - 1 else ""
    return (
        f"{name} does not fit the model: its inputs have shape {data_shape}{hint} but the model takes "
        f"{model_shape}."
    )


def class_mismatch(name: str, lowest: int, highest: int, model_classes: int) -> str | None:
    """Why integer labels in [lowest, highest] do not fit a model with `model_classes` outputs, or None.

    A model with one output (a sigmoid) takes labels 0 and 1.
    """
    allowed = 2 if model_classes == 1 else model_classes
    if 0 <= lowest and highest < allowed:
        return None
    found = f"its labels go from {lowest} to {highest}"
    if lowest >= 0:
        found += f" ({highest + 1} classes)"
    takes = "one output (labels 0 and 1)" if model_classes == 1 else f"{model_classes} classes"
    return f"{name} does not fit the model: {found} but the model outputs {takes}."


def label_range(dataset: tf.data.Dataset) -> tuple[int, int]:
    """The smallest and largest integer label of a dataset of (inputs, labels, ...) batches (one pass)."""
    big = tf.constant(np.iinfo(np.int64).max, tf.int64)

    def update(state, element):
        labels = tf.reshape(tf.cast(element[1], tf.int64), [-1])
        return tf.minimum(state[0], tf.reduce_min(labels)), tf.maximum(state[1], tf.reduce_max(labels))

    lowest, highest = dataset.reduce((big, -big), update)
    return int(lowest), int(highest)


def check_fits(
    model: keras.Model,
    datasets: Mapping[str, tf.data.Dataset],
    label_ranges: Mapping[str, tuple[int, int]] | None = None,
) -> None:
    """Raises `ValueError` when a split's inputs or labels do not fit `model` (its message names both).

    Inputs are compared with the model's input shape from the datasets'
    element specs; integer labels must be class indices of the model's
    output (one pass over each split's labels, unless `label_ranges` gives
    a split's smallest and largest label); one-hot labels must be as wide as
    the output. Models with several inputs or outputs are not checked.
    """
    model_input, model_output = model.input_shape, model.output_shape
    single = isinstance(model_input, tuple) and isinstance(model_output, tuple)
    if not single or not model_output:
        return
    model_classes = model_output[-1]
    for name, dataset in datasets.items():
        inputs_spec, labels_spec = dataset.element_spec[0], dataset.element_spec[1]
        if isinstance(inputs_spec, tf.TensorSpec):
            problem = input_mismatch(name, inputs_spec.shape, model_input)
            if problem:
                raise ValueError(problem)
        if model_classes is None or not isinstance(labels_spec, tf.TensorSpec):
            continue
        width = labels_spec.shape[-1] if labels_spec.shape.rank and labels_spec.shape.rank >= 2 else None
        if width not in (None, 1):  # one-hot labels
            if width != model_classes:
                raise ValueError(
                    f"{name} does not fit the model: its one-hot labels have {width} classes but the model "
                    f"outputs {model_classes} classes."
                )
            continue
        known = (label_ranges or {}).get(name)
        problem = class_mismatch(name, *(known or label_range(dataset)), model_classes)
        if problem:
            raise ValueError(problem)


class DecompositionCallback(EpochCurves):
    """After every epoch: train, train-dev, dev and test error and the Course 3 gaps, in TensorBoard.

    See the module docstring for an example and the tags.

    Args:
        log_dir: the TensorBoard folder to write to (created if need be), or
            a run's `CurveLog` (`run.curves`) to write into the run.
        train: the training set to measure training error on (a fixed part
            of it is enough), as a dataset of (inputs, labels) batches or an
            (inputs, labels) pair of arrays.
        dev: the dev set, likewise.
        human_error: human-level error, the proxy for Bayes error, in [0, 1).
        train_dev: examples held out from the training distribution; with
            it, variance and data mismatch are told apart.
        test: the test set; with it, overfitting to dev is measured.
        batch_size: batch size for arrays.
        prefix: a name to group the runs under (several models in one folder).
        label_ranges: split -> (smallest, largest) label, for splits whose
            labels are known already; the others are read in one pass when
            training begins (labels given as arrays are read from them).
        evaluator: what evaluates a dataset, for a custom training loop (see
            `EpochCurves`); by default the model `fit` trains.
        every: measure after every `every`-th epoch (and the last).

    Raises:
        ValueError: a split without labels, a `human_error` outside [0, 1);
            and when training begins, inputs or labels that do not fit the
            model.
    """

    def __init__(
        self,
        log_dir: str | os.PathLike | CurveLog,
        *,
        train,
        dev,
        human_error: float,
        train_dev=None,
        test=None,
        batch_size: int = 256,
        prefix: str = "",
        label_ranges: Mapping[str, tuple[int, int]] | None = None,
        evaluator=None,
        every: int = 1,
    ):
        human_error = check_human_error(human_error)
        given = {"train": train, "train_dev": train_dev, "dev": dev, "test": test}
        datasets = {
            name: labelled_dataset(name, data, batch_size) for name, data in given.items() if data is not None
        }
        # Labels given as arrays are checked from the arrays, without a pass over a dataset.
        self._label_ranges = {
            name: (int(np.min(data[1])), int(np.max(data[1])))
            for name, data in given.items()
            if isinstance(data, tuple | list) and np.ndim(data[1]) == 1 and len(data[1])
        }
        self._label_ranges.update(label_ranges or {})
        self._writers: dict[str, Any] | None = None
        if isinstance(log_dir, CurveLog):
            curves = log_dir
        else:
            folder = Path(log_dir)
            self._writers = {}

            def writer(subrun: str):
                if subrun not in self._writers:
                    self._writers[subrun] = tf.summary.create_file_writer(str(folder / subrun))
                return self._writers[subrun]

            curves = CurveLog(folder, writer, resume=False)
        super().__init__(
            curves, datasets, prefix=prefix, gap_splits=None, human_error=human_error, evaluator=evaluator,
            every=every,
        )  # fmt: skip
        self._checked_model = None

    def _measured_model(self) -> keras.Model:
        return self.evaluator.model if self.evaluator is not None else self.model

    def _check_once(self) -> None:
        model = self._measured_model()
        if model is not None and model is not self._checked_model:
            check_fits(model, self.datasets, self._label_ranges)
            self._checked_model = model

    def on_train_begin(self, logs=None):
        self._check_once()
        super().on_train_begin(logs)

    def measure(self, step: int, learning_rate: bool = True) -> dict[str, float]:
        """`EpochCurves.measure`, once the model is known to fit the data (checked once per model)."""
        self._check_once()
        errors = super().measure(step, learning_rate)
        for writer in (self._writers or {}).values():
            writer.flush()
        return errors
