"""Backups that survive interruption: an atomic keep-N store and a `fit` callback.

Runs get killed (Ctrl-C, SIGTERM from a scheduler, a crash). A resumed run
must be the *same* run (DESIGN.md principle 7): the same weights, optimizer
slots and step counter -- so a learning-rate schedule that is a function of
`optimizer.iterations` continues where it stopped -- the same position in the
data, and no step trained twice or skipped.

Two pieces, after Keras' `BackupAndRestore` and TensorFlow's
`tf.train.CheckpointManager`:

- `BackupStore`: a directory of the last `keep` backups. Each backup is one
  `.npz` of variable values written to a temporary file and renamed into
  place; then `manifest.json` (file names, SHA-256 digests, training
  positions) is written atomically, last. A crash at any moment leaves the
  previous manifest and the backups it names intact. On restore each file is
  checked against its digest: a corrupt newest backup is skipped with a
  warning and the previous one used; when every backup is corrupt,
  `BackupCorruptError` says so instead of silently starting from scratch.
- `BackupAndRestore`: a `keras.callbacks.Callback` that saves the model's
  variables (weights, BatchNorm statistics, dropout seed state), the
  optimizer's variables (iteration counter, slots) and the metric
  accumulators with the epoch and batch reached, every epoch or every N
  batches; on the next `fit` it restores them, starts at the saved epoch and
  skips the batches of that epoch already trained. SIGTERM and Ctrl-C become
  a clean stop: a backup at the end of the current batch, then
  `TrainingInterrupted`.

The custom loop (`kerasdl.training.loop`) uses the store directly:

    store = BackupStore(run.dir / "backup")
    position = store.restore(training_variables(model, optimizer)) or {"epoch": 0}
    ...
    store.save(training_variables(model, optimizer), {"epoch": epoch + 1, "batch": 0})
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
import threading
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from kerasdl.training.distribute import is_chief
from kerasdl.training.io import atomic_write_bytes, atomic_write_json, remove_stale_temporaries

MANIFEST = "manifest.json"
_BACKUP_FILE = re.compile(r"^backup-(\d{8})\.npz$")


class BackupCorruptError(RuntimeError):
    """Backups exist but none of them can be loaded."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on SIGTERM or Ctrl-C after writing a backup.

    A `KeyboardInterrupt`, so `except Exception` does not swallow it.
    """


def training_variables(model: keras.Model, optimizer: keras.optimizers.Optimizer | None = None) -> list:
    """Every variable a resumed run needs, in a fixed order.

    The model's variables (trainable and not: BatchNorm statistics, the
    state of dropout's seed generators) followed by the optimizer's
    (iteration counter, learning rate, slots).
    """
    optimizer = optimizer if optimizer is not None else getattr(model, "optimizer", None)
    variables = list(model.variables)
    if optimizer is not None:
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        variables += list(optimizer.variables)
    return variables


def _to_numpy(variable) -> np.ndarray:
    # np.asarray(tf.Variable) trips NumPy 2's copy-keyword deprecation in TF 2.21: read the tensor instead.
    if isinstance(variable, np.ndarray):
        return variable
    if isinstance(variable, keras.Variable):
        variable = variable.value
    return np.asarray(tf.convert_to_tensor(variable).numpy())


def optimizer_step(optimizer: keras.optimizers.Optimizer) -> int:
    """The optimizer's step counter as an int, also when it is a MirroredVariable."""
    return int(_to_numpy(optimizer.iterations))


def _describe(variable) -> dict[str, Any]:
    return {
        "path": getattr(variable, "path", getattr(variable, "name", "")),
        "shape": list(np.shape(variable)),
    }


class BackupStore:
    """The last `keep` backups of a list of variables, written atomically.

    Args:
        directory: where the backups and `manifest.json` live; nothing else
            should write there.
        keep: how many backups to keep (at least 1; 2 or more lets a corrupt
            newest backup fall back to the previous one).

    Example:

        store = BackupStore("logs/exp/run/backup", keep=2)
        store.save(model.variables, {"epoch": 3})
        position = store.restore(model.variables)  # {"epoch": 3}, or None
    """

    def __init__(self, directory: str | os.PathLike, keep: int = 2):
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ValueError(f"keep must be a positive integer. Received: keep={keep!r}")
        self.directory = Path(directory)
        self.keep = keep

    # -- the manifest -----------------------------------------------------------

    @property
    def manifest_path(self) -> Path:
        return self.directory / MANIFEST

    def entries(self) -> list[dict[str, Any]]:
        """The manifest's entries, oldest first ([] when nothing was saved yet)."""
        if not self.manifest_path.exists():
            return []
        try:
            manifest = json.loads(self.manifest_path.read_text())
            entries = manifest["backups"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise BackupCorruptError(
                f"The backup manifest {self.manifest_path} cannot be read ({error}). Move the backup "
                "directory away to start from scratch."
            ) from error
        return list(entries)

    def latest_position(self) -> dict[str, Any] | None:
        """The training position of the newest backup, without loading it."""
        entries = self.entries()
        return dict(entries[-1]["position"]) if entries else None

    # -- save -------------------------------------------------------------------

    def save(self, variables: Sequence, position: Mapping[str, Any]) -> Path:
        """Writes a new backup of `variables` at `position` and drops the oldest beyond `keep`.

        Args:
            variables: Keras or TF variables (or arrays) in a fixed order.
            position: JSON-serializable training position, e.g.
                {"epoch": 2, "batch": 0, "step": 400}.

        Returns:
            The new backup's path.
        """
        entries = self.entries()
        serial = 1 + max((entry["serial"] for entry in entries), default=0)
        arrays = {f"v{i:05d}": _to_numpy(v) for i, v in enumerate(variables)}
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        data = buffer.getvalue()
        path = atomic_write_bytes(self.directory / f"backup-{serial:08d}.npz", data)
        entries.append(
            {
                "serial": serial,
                "file": path.name,
                "sha256": hashlib.sha256(data).hexdigest(),
                "position": dict(position),
                "variables": [_describe(v) for v in variables],
            }
        )
        entries = entries[-self.keep :]
        atomic_write_json(self.manifest_path, {"format": 1, "backups": entries})
        self._remove_unlisted({entry["file"] for entry in entries})
        return path

    def _remove_unlisted(self, listed: set[str]) -> None:
        """Deletes old backups and the temporary files of writers that are gone.

        A temporary file of another live process is a write in progress and
        stays (see `kerasdl.training.io.stale_temporary_files`).
        """
        for path in self.directory.iterdir():
            if _BACKUP_FILE.match(path.name) and path.name not in listed:
                path.unlink(missing_ok=True)
        remove_stale_temporaries(self.directory)

    # -- restore ----------------------------------------------------------------

    def _load(self, entry: Mapping[str, Any]) -> list[np.ndarray]:
        path = self.directory / entry["file"]
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != entry["sha256"]:
            raise BackupCorruptError(
                f"{path} is corrupt: SHA-256 {digest[:12]}..., expected {entry['sha256'][:12]}..."
            )
        with np.load(io.BytesIO(data)) as archive:
            return [archive[f"v{i:05d}"] for i in range(len(archive.files))]

    def load(self) -> tuple[list[np.ndarray], dict[str, Any]] | None:
        """The arrays and position of the newest backup that passes its SHA-256 check.

        A corrupt or missing backup is skipped with a warning and the previous
        one is tried.

        Returns:
            (arrays, position), or None when nothing was saved yet.

        Raises:
            BackupCorruptError: backups exist but none can be loaded.
        """
        entries = self.entries()
        if not entries:
            return None
        failures = []
        for entry in reversed(entries):
            try:
                arrays = self._load(entry)
            except (OSError, ValueError, BackupCorruptError) as error:
                failures.append(str(error))
                warnings.warn(f"Skipping backup {entry['file']}: {error}", stacklevel=2)
                continue
            if failures:
                warnings.warn(
                    f"Restoring the older backup {entry['file']} at {entry['position']}.", stacklevel=2
                )
            return arrays, {**entry["position"], "file": entry["file"]}
        raise BackupCorruptError(
            f"All {len(entries)} backups in {self.directory} are corrupt or missing: "
            + "; ".join(failures)
            + ". Refusing to restart from scratch silently: move the directory away to do that."
        )

    def restore(self, variables: Sequence) -> dict[str, Any] | None:
        """Assigns the newest loadable backup (see `load`) to `variables`; returns its position.

        Raises:
            BackupCorruptError: backups exist but none can be loaded.
            ValueError: the backup does not match `variables` (another model).
        """
        loaded = self.load()
        if loaded is None:
            return None
        arrays, position = loaded
        assign_arrays(variables, arrays, source=position["file"])
        return position


def assign_arrays(variables: Sequence, arrays: Sequence[np.ndarray], source: str = "the backup") -> None:
    """Assigns `arrays` to `variables` after checking that count and every shape match."""
    if len(arrays) != len(variables):
        raise ValueError(
            f"{source} holds {len(arrays)} variables but the model and optimizer have {len(variables)}: "
            f"it was written for another model. Received: variables={len(variables)}"
        )
    for variable, value in zip(variables, arrays, strict=True):
        if tuple(variable.shape) != np.shape(value):
            raise ValueError(
                f"{source} does not match the model: {_describe(variable)['path']} has shape "
                f"{tuple(variable.shape)}, the backup {np.shape(value)}."
            )
    for variable, value in zip(variables, arrays, strict=True):
        variable.assign(value)


class BackupAndRestore(keras.callbacks.Callback):
    """Backs up the training state during `fit` and resumes from it on the next `fit`.

    Like `keras.callbacks.BackupAndRestore`, plus: optimizer slots and
    metric accumulators are part of the backup, mid-epoch backups resume at
    the exact batch, the store keeps `keep` verified backups, a backup is
    never written after a non-finite loss, and SIGTERM / Ctrl-C end training
    cleanly with a backup (a second Ctrl-C stops at once). Under a
    multi-worker strategy only the chief writes backups (DESIGN.md principle
    6) and every worker restores them, so `backup_dir` must be shared.

    Order of callbacks: put this one last, after the callbacks that write
    TensorBoard points at the end of an epoch, so every backup follows the
    points of its epoch. Epoch-level curves then continue at the right step
    after a resume. (A hard kill between the points and the backup redoes
    that epoch and writes its points again; `keras.callbacks.TensorBoard`'s
    batch-level points restart at 0 in every `fit` call, a Keras
    limitation, so keep its default `update_freq="epoch"`.)

    Data order: a `tf.data` pipeline that reshuffles each epoch draws a new
    order each time an iterator is made from it. Pass it as `dataset` and the
    callback makes the iterators the finished epochs made
    (`iterators_before_epoch`) before resuming, so the resumed epochs see the
    orders the uninterrupted run saw.

    Args:
        backup_dir: the backup directory (`Run.dir / "backup"` in experiments).
        save_freq: "epoch", or an integer N: also back up every N batches.
        keep: backups kept (see `BackupStore`).
        dataset: the training `tf.data.Dataset`, if it reshuffles itself.
        handle_signals: turn SIGTERM and SIGINT into a clean stop (main thread only).

    Example:

        backup = BackupAndRestore(run.dir / "backup", dataset=train)
        model.fit(train, epochs=10, callbacks=[NanGuard(), backup])
    """

    def __init__(
        self,
        backup_dir: str | os.PathLike,
        save_freq: str | int = "epoch",
        keep: int = 2,
        dataset: tf.data.Dataset | None = None,
        handle_signals: bool = True,
    ):
        super().__init__()
        if save_freq != "epoch" and (
            isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1
        ):
            raise ValueError(
                f"save_freq must be 'epoch' or a positive integer. Received: save_freq={save_freq!r}"
            )
        self.store = BackupStore(backup_dir, keep=keep)
        self.save_freq = save_freq
        self.dataset = dataset
        self.handle_signals = handle_signals
        self.restored_position: dict[str, Any] | None = None
        self._epoch = 0
        self._batches_done = 0
        self._since_save = 0
        self._skip_until = 0
        self._resume_metrics: list[np.ndarray] | None = None
        self._signal: int | None = None
        self._previous_handlers: dict[int, Any] = {}

    # -- state ------------------------------------------------------------------

    def _variables(self) -> list:
        return training_variables(self.model)

    def _position(self) -> dict[str, Any]:
        return {
            "epoch": self._epoch,
            "batch": self._batches_done,
            "step": optimizer_step(self.model.optimizer),
        }

    def _save(self) -> None:
        self._since_save = 0
        if not is_chief():
            return  # the chief writes; every worker restores from the shared directory
        metrics = list(self.model.metrics_variables)
        position = {**self._position(), "metrics": len(metrics)}
        self.store.save(self._variables() + metrics, position)

    def _restore(self) -> None:
        loaded = self.store.load()
        if loaded is None:
            return
        arrays, position = loaded
        variables = self._variables()
        metric_count = int(position.get("metrics", 0))
        assign_arrays(variables, arrays[: len(arrays) - metric_count], source=position["file"])
        self.restored_position = position
        self._epoch = int(position["epoch"])
        self._batches_done = int(position.get("batch", 0))
        self._skip_until = self._batches_done
        # Mid-epoch: the metric sums of the interrupted epoch go back after fit() resets them.
        self._resume_metrics = arrays[len(arrays) - metric_count :] if self._batches_done else None
        self.model._initial_epoch = self._epoch
        if self.dataset is not None:
            for _ in range(iterators_before_epoch(self.dataset, self._epoch)):
                iter(self.dataset)
        print(
            f"Resumed from {self.store.directory / position['file']}: epoch {self._epoch + 1}, "
            f"batch {self._batches_done}, step {position.get('step')}.",
            flush=True,
        )

    # -- callback hooks -----------------------------------------------------------

    def on_train_begin(self, logs=None):
        if not self.model.built:
            raise ValueError(
                "BackupAndRestore needs a built model before fit(): call it on a batch or build it. "
                f"Received: model={self.model.name!r} (unbuilt)"
            )
        self._restore()
        if self._skip_until:
            self._wrap_train_function()
        self._install_signal_handlers()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if batch < self._skip_until:
            return
        self._batches_done = batch + 1
        self._since_save += 1
        if not _finite_loss(logs):
            return
        if self._signal is not None:
            self._save()
            self._stop()
        if self.save_freq != "epoch" and self._since_save >= self.save_freq:
            self._save()

    def on_epoch_end(self, epoch, logs=None):
        self._epoch = epoch + 1
        self._batches_done = 0
        self._skip_until = 0
        if _finite_loss(logs):
            self._save()
        if self._signal is not None:
            self._stop()

    def on_train_end(self, logs=None):
        self._uninstall_signal_handlers()
        self.model._initial_epoch = None
        if self._signal is not None:
            # Asked to stop after the last epoch's backup: stop, do not go on with what follows fit.
            signum, self._signal = self._signal, None
            raise TrainingInterrupted(
                f"Training stopped on {signal.Signals(signum).name} after its last epoch; backup saved in "
                f"{self.store.directory}. Run again with --resume to continue."
            )

    @property
    def stop_requested(self) -> bool:
        """True once SIGTERM or Ctrl-C arrived; training stops at the end of the current batch."""
        return self._signal is not None

    # -- skipping the batches an interrupted epoch already trained -----------------

    def _wrap_train_function(self) -> None:
        """Makes the first calls of the resumed epoch fetch their batches without training on them.

        The batches are drawn (so the data stays in step) and dropped; the
        first dropped batch also builds the compiled metrics, so the
        interrupted epoch's metric sums can go back before training goes on.
        """
        train_function = self.model.train_function
        steps_per_execution = max(1, int(getattr(self.model, "steps_per_execution", 1) or 1))
        fetched = {"batches": 0}

        def skipping_train_function(data):
            if fetched["batches"] >= self._skip_until:
                self.model.train_function = train_function
                return train_function(data)
            for _ in range(steps_per_execution):
                batch = next(data) if hasattr(data, "__next__") else data[0]
                if fetched["batches"] == 0:
                    self._restore_metrics(batch)
                fetched["batches"] += 1
            return self.model.get_metrics_result()

        self.model.train_function = skipping_train_function

    def _restore_metrics(self, batch) -> None:
        if self._resume_metrics is None:
            return
        self.model._symbolic_build(data_batch=batch)
        variables = self.model.metrics_variables
        if len(variables) == len(self._resume_metrics):
            for variable, value in zip(variables, self._resume_metrics, strict=True):
                variable.assign(value)
        else:
            warnings.warn(
                f"The interrupted epoch's metrics could not be restored ({len(self._resume_metrics)} saved, "
                f"{len(variables)} in the model): its averages cover only the batches after the resume.",
                stacklevel=2,
            )
        self._resume_metrics = None

    # -- signals ------------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        self._signal = None
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous_handlers[signum] = signal.signal(signum, self._on_signal)

    def _uninstall_signal_handlers(self) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers.clear()

    def _on_signal(self, signum, frame):
        if self._signal is not None:
            # Asked twice: stop now, through the handler that was there before.
            previous = self._previous_handlers.get(signum, signal.SIG_DFL)
            self._uninstall_signal_handlers()
            if callable(previous):
                previous(signum, frame)
            else:
                signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
                os.kill(os.getpid(), signum)
            return
        self._signal = signum
        print(
            f"\n{signal.Signals(signum).name} received: stopping after this batch with a backup "
            "(send it again to stop at once).",
            flush=True,
        )

    def _stop(self) -> None:
        name = signal.Signals(self._signal).name
        self._signal = None  # handled here: on_train_end must not raise again
        self.on_train_end()  # fit() will not call it: put the signal handlers and initial epoch back
        raise TrainingInterrupted(
            f"Training stopped on {name} at epoch {self._epoch + 1}, batch {self._batches_done} "
            f"(step {optimizer_step(self.model.optimizer)}); backup saved in {self.store.directory}. "
            "Run again with --resume (or the same BackupAndRestore) to continue."
        )


def iterators_before_epoch(dataset: tf.data.Dataset, epoch: int) -> int:
    """How many iterators Keras 3's `fit` has made from `dataset` before epoch `epoch` (from 0).

    A reshuffling dataset draws a new order per iterator, so a resumed `fit`
    must make as many first. `fit`'s `EpochIterator` makes one at the start
    of each epoch and, when the number of batches is known, one more at its
    end (ready for the next epoch, then replaced); with an unknown number,
    one per epoch. `tests/kerasdl/training/test_backup.py` checks both against `fit`.
    """
    if epoch <= 0:
        return 0
    return 2 * epoch if int(dataset.cardinality()) >= 0 else epoch


def _finite_loss(logs) -> bool:
    if not logs or "loss" not in logs:
        return True
    return bool(np.all(np.isfinite(keras.ops.convert_to_numpy(logs["loss"]))))
