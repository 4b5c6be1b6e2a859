"""Training on several machines that survives preemption: kerasdl's loop with TensorFlow's checkpoint handler.

Why not `model.fit`: in this stack (Keras 3.15, TensorFlow 2.21) `fit` under
`MultiWorkerMirroredStrategy` stops at its first step with "Attempt to
convert a value (PerReplica...) to a Tensor" (keras#20585, tensorflow#72388;
`tests/kerasdl/training/test_multiworker.py` records it and fails once it
works, so this module can go back to `fit`). `MultiWorkerLoop` is
`kerasdl.training.loop.TrainingLoop` -- `strategy.run` over a distributed
dataset -- plus what TensorFlow's multi-worker and fault-tolerance guides
prescribe:

- **Preemption mid-epoch.** `tf.distribute.experimental.PreemptionCheckpointHandler`
  watches for SIGTERM on every worker. When one worker gets it, all of them
  agree (through the cluster's coordination service) on the step after
  which to save, save there and exit with `RESTART_EXIT_CODE`; started
  again with the same command, every worker restores that checkpoint and
  continues at the next step, with the data order of an uninterrupted run:
  no step is lost or trained twice.
- **Checkpoints after every epoch** as well, so a crash without notice
  (SIGKILL, a lost machine) loses at most the epoch in progress.
- **Chief-only writes.** Every worker must take part in a save (saving
  distributed variables can involve collective ops), but only the chief
  writes to `checkpoint_dir`; the others write to a temporary folder of
  their own and remove it at once. Every worker *reads* `checkpoint_dir`
  when it starts, so on several machines it must be on storage they share.
- **Data.** The dataset yields global batches of (x, y);
  `experimental_distribute_dataset` splits each between the replicas. On
  several workers it is auto-sharded by DATA unless the dataset's options
  say otherwise: every worker runs the whole input pipeline and keeps its
  part of each batch. (FILE sharding, where each worker reads its own
  files, is faster for datasets read from many files: set
  `options.experimental_distribute.auto_shard_policy` yourself.)

The step is counted in a variable saved with the model, the optimizer and
the epoch's running metrics (TensorFlow deprecated the handler's own
counter); epoch and batch follow from it and from the dataset's length,
which must be known.

Under any other strategy (one device, `MirroredStrategy`, a TPU) the same
loop works: the handler then watches the one process (on TPUs and on GCE
CPU VMs TensorFlow's handler does not act on SIGTERM, so the epoch
checkpoints are what protects the run there; verified only on paper).

Example (every worker runs the same program, TF_CONFIG tells it its place):

    strategy = make_strategy("multiworker")          # first, before any other TensorFlow work
    run = start_run("my_experiment", vars(args))      # the same run directory on every worker
    with strategy.scope():
        model = build_model()
        optimizer = keras.optimizers.Adam(1e-3)
    loop = MultiWorkerLoop(model, optimizer, "sparse_categorical_crossentropy", strategy=strategy)
    with run.phase("train"):
        loop.fit(train_batches, epochs=5, checkpoint_dir=run.backup_dir_for("model"),
                 on_epoch_end=curves.on_epoch_end)

One such `fit` per process: the handler keeps cluster-wide state in the
coordination service that a second one would trip over (a second call on a
cluster raises `RuntimeError`).
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path

import keras
import tensorflow as tf

from kerasdl.training.distribute import is_chief, is_multi_worker
from kerasdl.training.loop import TrainingLoop

# What a preempted worker exits with once its checkpoint is saved: TensorFlow's restart code (the
# `TerminationConfig` default). A scheduler that restarts on it gets the run going again.
RESTART_EXIT_CODE = 42

_cluster_fit_started = False


class TrainingPreempted(SystemExit):
    """Every worker saved a checkpoint after a preemption notice; the process exits (`RESTART_EXIT_CODE`)."""


def _with_sharding_stated(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """The dataset with DATA auto-sharding set, unless its options already choose a policy."""
    policy = dataset.options().experimental_distribute.auto_shard_policy
    if policy != tf.data.experimental.AutoShardPolicy.AUTO:
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


class MultiWorkerLoop(TrainingLoop):
    """`TrainingLoop` whose `fit` runs on a cluster and resumes mid-epoch after preemption.

    Takes the arguments of `kerasdl.training.loop.TrainingLoop`; the model,
    optimizer and strategy must be the same on every worker.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        with self.strategy.scope():
            # Steps trained, over all epochs and restarts: where the data position comes from.
            self.trained_steps = tf.Variable(
                0,
                dtype=tf.int64,
                trainable=False,
                name="trained_steps",
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
            )

    def _after_train_step(self) -> None:
        self.trained_steps.assign_add(1)

    def _checkpoint(self) -> tf.train.Checkpoint:
        metric_variables = [
            variable for metric in self.train_metrics.values() for variable in metric.variables
        ]
        return tf.train.Checkpoint(
            model=self.model,
            optimizer=self.optimizer,
            trained_steps=self.trained_steps,
            epoch_metrics=metric_variables,
        )

    def fit(
        self,
        dataset: tf.data.Dataset,
        epochs: int = 1,
        *,
        checkpoint_dir: str | os.PathLike,
        validation_data: tf.data.Dataset | None = None,
        verbose: int = 1,
        on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
        on_step_end: Callable[[int], None] | None = None,
        keep: int = 2,
    ) -> dict[str, list[float]]:
        """Trains for `epochs` passes over `dataset`, continuing from the checkpoint in `checkpoint_dir`.

        Args:
            dataset: global batches of (x, y), reshuffled by the dataset
                itself each pass if at all; its number of batches must be
                known (`cardinality()`), since a restart finds its place
                in the data from the step count.
            epochs: passes over `dataset` in all (a restarted run trains
                the remaining ones).
            checkpoint_dir: the chief's checkpoints (`tf.train.Checkpoint`
                files); on several machines, a folder every worker can read.
            validation_data: evaluated after each epoch ("val_<name>").
            verbose: 1 shows a Keras progress bar.
            on_epoch_end: called with (epoch, logs) on every worker after
                each epoch, before its checkpoint, e.g. the harness's
                `EpochCurves(..., evaluator=loop).on_epoch_end` (which
                evaluates on every worker and writes on the chief).
            on_step_end: called with the number of steps trained so far
                after each step.
            keep: checkpoints the chief keeps.

        Returns:
            The history of the epochs this call trained ({name: [value per
            epoch]}); an epoch it resumed in the middle counts its steps
            from before the restart too.

        Raises:
            TrainingPreempted: (exit code `RESTART_EXIT_CODE`) a worker got
                SIGTERM; every worker saved the step they reached.
            kerasdl.training.nan_guard.NonFiniteLossError: the loss became
                NaN or Inf.
        """
        global _cluster_fit_started
        if epochs < 1:
            raise ValueError(f"epochs must be a positive integer. Received: epochs={epochs}")
        steps = self._steps(dataset)
        if steps is None:
            raise ValueError(
                "MultiWorkerLoop needs the number of batches per epoch to find its place after a restart: "
                "use a dataset of known length (no filter(), or add "
                "tf.data.experimental.assert_cardinality(n)). Received: a dataset of unknown length"
            )
        if is_multi_worker():
            if _cluster_fit_started:
                raise RuntimeError(
                    "One MultiWorkerLoop.fit per process on a cluster (see the module docstring)."
                )
            _cluster_fit_started = True
        self._prepare(dataset)
        dataset = _with_sharding_stated(dataset)
        distributed = self.strategy.experimental_distribute_dataset(dataset)
        checkpoint = self._checkpoint()
        saver = _ChiefOnlySaver(checkpoint, Path(checkpoint_dir), self.trained_steps, keep)
        saver.restore_checking_the_model()
        previous_sigterm = signal.getsignal(signal.SIGTERM)
        with self.strategy.scope():
            handler = tf.distribute.experimental.PreemptionCheckpointHandler(
                self.strategy.cluster_resolver,
                saver.manager,
                termination_config=tf.distribute.experimental.TerminationConfig(
                    exit_fn=saver.exit_after_preemption, save_fn=saver.save
                ),
            )
        try:
            return self._train(
                distributed,
                steps,
                epochs,
                handler,
                saver,
                validation_data,
                verbose,
                on_epoch_end,
                on_step_end,
            )
        finally:
            _stop_watching(handler)
            signal.signal(signal.SIGTERM, previous_sigterm)

    def _train(
        self, distributed, steps, epochs, handler, saver, validation_data, verbose, on_epoch_end, on_step_end
    ) -> dict[str, list[float]]:
        """The epochs left, each step through the preemption handler; a checkpoint after each epoch."""
        train_step = self._function("train", distributed)
        start = int(self.trained_steps.numpy())
        first_epoch, first_batch = divmod(start, steps)
        if start and verbose:
            print(
                f"Resumed from {saver.manager.latest_checkpoint}: epoch {first_epoch + 1}, "
                f"batch {first_batch + 1}, step {start}.",
                flush=True,
            )
        for _ in range(min(first_epoch, epochs)):
            iter(distributed)  # each iterator reshuffles: keep the data order of the remaining epochs
        history: dict[str, list[float]] = {}
        for epoch in range(first_epoch, epochs):
            iterator = iter(distributed)
            skipped = first_batch if epoch == first_epoch else 0
            for _ in range(skipped):
                next(iterator)  # the batches trained before the preemption
            if not skipped:
                for metric in self.train_metrics.values():
                    metric.reset_state()  # a resumed epoch keeps the running means it restored
            progbar = keras.utils.Progbar(steps, verbose=verbose, stateful_metrics=list(self.train_metrics))
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}")
            after_step = self._step_checker(epoch, progbar if verbose else None)
            for batch in range(skipped, steps):
                loss = handler.run(train_step, iterator)
                after_step(batch + 1, loss)
                if on_step_end is not None:
                    on_step_end(epoch * steps + batch + 1)
            logs = {name: float(metric.result()) for name, metric in self.train_metrics.items()}
            if validation_data is not None:
                logs.update({f"val_{name}": value for name, value in self.evaluate(validation_data).items()})
            if verbose:
                progbar.update(steps, list(logs.items()), finalize=True)
            for name, value in logs.items():
                history.setdefault(name, []).append(value)
            if on_epoch_end is not None:
                on_epoch_end(epoch, logs)
            saver.save()
        return history


class _ChiefOnlySaver:
    """Saves on every worker, into `directory` on the chief and into a removed temporary folder elsewhere."""

    def __init__(self, checkpoint: tf.train.Checkpoint, directory: Path, step: tf.Variable, keep: int):
        self.checkpoint, self.directory, self.trained_steps = checkpoint, directory, step
        # Every worker reads the chief's folder (the handler restores from it); only the chief writes there.
        self.manager = tf.train.CheckpointManager(
            checkpoint, str(directory), max_to_keep=keep, step_counter=step
        )

    def restore_checking_the_model(self) -> None:
        """Restores the newest checkpoint, refusing one whose variables do not fit this model."""
        latest = self.manager.latest_checkpoint
        if latest is None:
            return
        status = None
        try:
            status = self.checkpoint.restore(latest)  # a variable of another shape fails here
            status.assert_existing_objects_matched()  # one the checkpoint lacks, here
        except (AssertionError, ValueError) as error:
            if status is not None:
                status.expect_partial()  # refused: no warning about the values left unread
            raise ValueError(
                f"The checkpoint {latest} belongs to another model or optimizer: train into a new "
                f"checkpoint folder. Received: checkpoint_dir={str(self.directory)!r} ({error})"
            ) from None

    def save(self) -> None:
        step = int(self.trained_steps.numpy())
        if is_chief():
            self.manager.save(checkpoint_number=step)
            return
        temporary = tempfile.mkdtemp(prefix="kerasdl-worker-checkpoint-")
        try:
            tf.train.CheckpointManager(self.checkpoint, temporary, max_to_keep=1).save(checkpoint_number=step)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)

    def exit_after_preemption(self) -> None:
        step = int(self.trained_steps.numpy())
        print(
            f"Preempted: every worker saved step {step} to {self.directory}. Start the same command on "
            f"every worker to continue (exit code {RESTART_EXIT_CODE}).",
            flush=True,
        )
        raise TrainingPreempted(RESTART_EXIT_CODE)


def _stop_watching(handler) -> None:
    """Ends the handler's watcher threads now rather than whenever it is garbage-collected (its `__del__`)."""
    for stop in ("_stop_cluster_wise_termination_watcher_thread", "_stop_poll_termination_signal_thread"):
        getattr(handler, stop, lambda: None)()
