"""A training loop from scratch, and a `train_step` override that keeps `fit`.

Course 2 as code: mini-batch gradient descent (Week 2) written out with a
`tf.GradientTape`, plus the two things `model.fit` does not show: the global
gradient norm of every step, and clipping by it,

    g := g * min(1, clip_norm / ||g||_2),   ||g||_2 = sqrt(sum over all tensors of sum g^2)

(the exploding-gradient remedy that goes with Course 2, Week 1's "Vanishing /
exploding gradients").

Two ways to use it:

- `TrainingLoop`: the whole loop in the open (tf.function-compiled step,
  optional XLA, tf.distribute through `strategy.run` and
  `experimental_distribute_dataset`, a Keras Progbar, an `on_epoch_end` hook
  for per-epoch curves, backups to resume from).
- `CustomStepModel`: a `keras.Model` whose `train_step` does the same
  clipping and gradient-norm tracking, so `model.fit`, its callbacks and its
  distribution support keep working.

Under a strategy with several replicas, each replica's loss is its mean
divided by the number of replicas (Keras losses do this), the optimizer sums
the replicas' gradients, and clipping uses the norm of that sum (one extra
all-reduce), so the result is the same as one replica on the whole batch
(exactly so when the global batch divides evenly between the replicas; a
ragged last batch weights its replicas' examples slightly unevenly, as in
`model.fit`).

Mixed precision (`kerasdl.training.distribute.set_mixed_precision`): the
step differentiates `optimizer.scale_loss(loss)`, so under "mixed_float16"
the loss is scaled up against float16 underflow and the
`LossScaleOptimizer` scales the gradients back down (and skips a step whose
gradients overflowed); the tracked norm and the clipping threshold are those
of the unscaled gradients. Under "mixed_bfloat16" nothing is scaled.

For several machines, and a run that survives preemption mid-epoch, see
`kerasdl.training.multiworker.MultiWorkerLoop`, which extends this loop.

Example:

    strategy = kerasdl.training.distribute.make_strategy("default")
    with strategy.scope():
        model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10)])
        optimizer = keras.optimizers.SGD(0.1)
    loop = TrainingLoop(model, optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                        metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")], strategy=strategy)
    # Per-epoch curves: the harness's one writer, evaluating through the loop.
    curves = EpochCurves(run.curves, {"train": train_eval_dataset, "dev": dev_dataset}, evaluator=loop)
    history = loop.fit(train_dataset, epochs=3, on_epoch_end=curves.on_epoch_end,
                       backup_dir=run.backup_dir_for("model"))
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import keras
import tensorflow as tf

from kerasdl.training.backup import BackupStore, optimizer_step, training_variables
from kerasdl.training.distribute import is_chief
from kerasdl.training.nan_guard import NonFiniteLossError, check_finite

# ----------------------------------------------------------------------------- shared pieces


def _replicas() -> int:
    return tf.distribute.get_strategy().num_replicas_in_sync


def scale_for_replicas(loss: tf.Tensor) -> tf.Tensor:
    """loss / number of replicas: what each replica contributes, since the optimizer sums over replicas.

    Keras losses already divide by it; regularization losses need it here.
    """
    replicas = _replicas()
    return loss if replicas == 1 else loss / tf.cast(replicas, loss.dtype)


def unscale_for_replicas(loss: tf.Tensor) -> tf.Tensor:
    """The inverse of `scale_for_replicas`: the replica's own mean loss, for logging."""
    replicas = _replicas()
    return loss if replicas == 1 else loss * tf.cast(replicas, loss.dtype)


def clip_by_global_norm(
    grads: Sequence[tf.Tensor], clip_norm: float | None, loss_scale: tf.Tensor | float | None = None
) -> tuple[list, tf.Tensor]:
    """Measures the global norm of the gradients (summed over replicas) and clips by it.

    In a replica context with several replicas, `grads` are this replica's
    share; the norm is that of their sum over replicas (what the optimizer
    will apply), and each share is scaled by the same factor, so the summed
    update is the clipped one.

    Args:
        grads: the gradients (None entries are kept as None).
        clip_norm: the largest global norm allowed (None: only measure it).
        loss_scale: the factor the loss was multiplied by before
            differentiating (mixed_float16's loss scaling): the norm is that
            of `grads / loss_scale`, the gradients the optimizer will apply
            once it unscales them, and clipping keeps the scale.

    Returns:
        (grads, norm): the possibly clipped grads and the norm before clipping.
    """
    context = tf.distribute.get_replica_context()
    total = grads
    if context is not None and context.num_replicas_in_sync > 1:
        total = context.all_reduce(tf.distribute.ReduceOp.SUM, [g for g in grads if g is not None])
    norm = tf.linalg.global_norm([g for g in total if g is not None])
    if loss_scale is not None:
        norm = norm / tf.cast(loss_scale, norm.dtype)
    if clip_norm is None:
        return list(grads), norm
    scale = tf.minimum(1.0, clip_norm / tf.maximum(norm, 1e-12))
    return [None if g is None else g * tf.cast(scale, g.dtype) for g in grads], norm


def loss_scale_of(optimizer: keras.optimizers.Optimizer) -> tf.Tensor | float | None:
    """The factor `optimizer.scale_loss` multiplies the loss by (None: it leaves the loss as it is)."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer.dynamic_scale
    return optimizer.loss_scale_factor


def with_loss_scaling(
    model: keras.Model, optimizer: keras.optimizers.Optimizer
) -> keras.optimizers.Optimizer:
    """`optimizer` wrapped in a `LossScaleOptimizer` when `model` computes in float16, as `compile` does.

    float16's smallest normal number is 6e-5: small gradients underflow to
    zero unless the loss is scaled up before differentiating (and the
    gradients scaled back down before the update). bfloat16 has float32's
    exponent range and needs none of it.
    """
    if model.dtype_policy.name == "mixed_float16" and not isinstance(
        optimizer, keras.optimizers.LossScaleOptimizer
    ):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def _track_norm(tracker: keras.metrics.Mean, norm: tf.Tensor) -> None:
    """Adds a finite norm to the epoch's mean; a step whose gradients overflowed (skipped) counts 0 times."""
    finite = tf.math.is_finite(norm)
    tracker.update_state(
        tf.where(finite, norm, tf.zeros_like(norm)), sample_weight=tf.cast(finite, norm.dtype)
    )


def _check_clip_norm(clip_norm: float | None) -> None:
    if clip_norm is not None and not clip_norm > 0:
        raise ValueError(f"clip_global_norm must be positive or None. Received: clip_global_norm={clip_norm}")


class _FunctionLoss(keras.losses.Loss):
    """A per-example loss function y, y_pred -> losses, averaged over the batch like a Keras loss."""

    def __init__(self, function: Callable, name: str | None = None):
        super().__init__(name=name or getattr(function, "__name__", "loss"))
        self.function = function

    def call(self, y_true, y_pred):
        return self.function(y_true, y_pred)


def _as_loss(loss) -> keras.losses.Loss:
    if isinstance(loss, keras.losses.Loss):
        return loss
    function = keras.losses.get(loss) if isinstance(loss, str) else loss
    if not callable(function):
        raise ValueError(f"loss must be a Keras loss, its name or a callable. Received: loss={loss!r}")
    return function if isinstance(function, keras.losses.Loss) else _FunctionLoss(function)


def _copy_metric(metric) -> keras.metrics.Metric:
    metric = keras.metrics.get(metric) if isinstance(metric, str) else metric
    if not isinstance(metric, keras.metrics.Metric):
        raise ValueError(f"metrics must be keras.metrics.Metric instances or names. Received: {metric!r}")
    return metric.__class__.from_config(metric.get_config())


# ----------------------------------------------------------------------------- the loop


class TrainingLoop:
    """Mini-batch training with GradientTape, written out.

    Args:
        model: a Keras model created under `strategy.scope()`.
        optimizer: a Keras optimizer created under `strategy.scope()`; when the
            model computes in "mixed_float16" it is wrapped in a
            `keras.optimizers.LossScaleOptimizer` (`self.optimizer`), as
            `Model.compile` does.
        loss: a `keras.losses.Loss` (or its name, or a function y, y_pred ->
            per-example losses); reduced over the batch, plus `model.losses`.
        metrics: Keras metrics on (y, y_pred), e.g.
            `keras.metrics.SparseCategoricalAccuracy("accuracy")`; copies are
            kept for training and for evaluation.
        strategy: the `tf.distribute.Strategy` (default: the current one).
        clip_global_norm: clip the gradients to this global norm (None: no
            clipping; the norm is tracked either way).
        jit_compile: compile each replica's step with XLA.
    """

    def __init__(
        self,
        model: keras.Model,
        optimizer: keras.optimizers.Optimizer,
        loss,
        metrics: Sequence[Any] = (),
        *,
        strategy: tf.distribute.Strategy | None = None,
        clip_global_norm: float | None = None,
        jit_compile: bool = False,
    ):
        _check_clip_norm(clip_global_norm)
        self.model = model
        self.loss = _as_loss(loss)
        self.strategy = strategy or tf.distribute.get_strategy()
        self.clip_global_norm = clip_global_norm
        self.jit_compile = bool(jit_compile)
        with self.strategy.scope():
            self.optimizer = with_loss_scaling(model, optimizer)
            self.train_metrics = {
                "loss": keras.metrics.Mean("loss"),
                "gradient_norm": keras.metrics.Mean("gradient_norm"),
            }
            self.eval_metrics = {"loss": keras.metrics.Mean("loss")}
            for metric in metrics:
                train_copy, eval_copy = _copy_metric(metric), _copy_metric(metric)
                self.train_metrics[train_copy.name] = train_copy
                self.eval_metrics[eval_copy.name] = eval_copy
        self._functions: dict[tuple[str, str], Callable] = {}

    # -- the steps, per replica -------------------------------------------------

    def _objective(self, y, y_pred):
        """The scaled loss the gradients come from, and the unscaled data loss for the tracker."""
        data_loss = self.loss(y, y_pred)
        total = data_loss
        if self.model.losses:
            total = total + scale_for_replicas(tf.add_n(self.model.losses))
        return total, unscale_for_replicas(data_loss)

    def _update_metrics(self, metrics, y, y_pred, loss):
        metrics["loss"].update_state(loss, sample_weight=tf.shape(y_pred)[0])
        for name, metric in metrics.items():
            if name not in ("loss", "gradient_norm"):
                metric.update_state(y, y_pred)

    def _replica_train_step(self, x, y):
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            y_pred = self.model(x, training=True)
            total, data_loss = self._objective(y, y_pred)
            scaled = self.optimizer.scale_loss(total)  # mixed_float16: the loss scaled up against underflow
        grads = tape.gradient(scaled, variables)
        grads, norm = clip_by_global_norm(grads, self.clip_global_norm, loss_scale_of(self.optimizer))
        self.optimizer.apply(grads, variables)  # a LossScaleOptimizer unscales, and skips overflowed steps
        _track_norm(self.train_metrics["gradient_norm"], norm)
        self._update_metrics(self.train_metrics, y, y_pred, data_loss)

    def _replica_eval_step(self, x, y):
        y_pred = self.model(x, training=False)
        _, data_loss = self._objective(y, y_pred)
        self._update_metrics(self.eval_metrics, y, y_pred, data_loss)

    def _function(self, kind: str, distributed):
        """The compiled step for this dataset's element spec.

        Like Keras' own trainer, the function takes the iterator and calls
        `next` inside the graph, so batches never round-trip through Python;
        it is traced once per element spec (the batch dimension is None, so
        a ragged last batch needs no new trace).
        """
        key = (kind, repr(distributed.element_spec))
        if key not in self._functions:
            replica_step = self._replica_train_step if kind == "train" else self._replica_eval_step
            step = tf.function(replica_step, jit_compile=True) if self.jit_compile else replica_step

            @tf.function
            def step_on_iterator(iterator):
                x, y = next(iterator)
                self.strategy.run(step, args=(x, y))
                if kind == "train":
                    self._after_train_step()
                # The epoch's running mean loss, read in the graph: checking it for NaN after every
                # step then costs one scalar fetch, not a few eager ops.
                metrics = self.train_metrics if kind == "train" else self.eval_metrics
                return metrics["loss"].result()

            self._functions[key] = step_on_iterator
        return self._functions[key]

    def _after_train_step(self) -> None:
        """Runs in the compiled train step after every replica's update (cross-replica context).

        Nothing here; `kerasdl.training.multiworker.MultiWorkerLoop` counts its steps.
        """

    def _step_checker(
        self, epoch: int, progbar: keras.utils.Progbar | None
    ) -> Callable[[int, tf.Tensor], None]:
        """The `after_step` of an epoch: stops on a NaN/Inf loss, naming where, and moves the progress bar."""

        def after_step(taken, loss):
            if not math.isfinite(float(loss)):  # one scalar per step; the step is read only on failure
                try:
                    check_finite(loss, optimizer_step(self.optimizer), epoch=epoch + 1, batch=taken)
                except NonFiniteLossError as error:
                    raise NonFiniteLossError(f"{error} (To clip here: clip_global_norm.)") from None
            if progbar is not None:
                values = [(n, float(m.result())) for n, m in self.train_metrics.items()]
                progbar.update(taken, values, finalize=False)

        return after_step

    def _run_epoch(
        self, step, distributed, steps: int | None, after_step: Callable[[int, tf.Tensor], None] | None = None
    ):
        """Runs `step` over one pass of `distributed`; returns the number of steps taken.

        `after_step(taken, loss)` gets the steps taken so far and what `step` returned.
        """
        iterator = iter(distributed)
        taken = 0
        while steps is None or taken < steps:
            try:
                loss = step(iterator)
            except (StopIteration, tf.errors.OutOfRangeError):
                break
            taken += 1
            if after_step is not None:
                after_step(taken, loss)
        return taken

    # -- the loop ---------------------------------------------------------------

    def _prepare(self, dataset: tf.data.Dataset) -> None:
        with self.strategy.scope():
            if not self.model.built:
                x, _ = next(iter(dataset))
                self.model(x)
            if not self.optimizer.built:
                self.optimizer.build(self.model.trainable_variables)

    @staticmethod
    def _steps(dataset: tf.data.Dataset) -> int | None:
        """Batches per pass (None when unknown); an endless dataset has no epochs and is refused."""
        cardinality = int(dataset.cardinality())
        if cardinality == int(tf.data.INFINITE_CARDINALITY):
            raise ValueError(
                "The dataset repeats forever, so an epoch never ends: pass one pass of the data "
                "(drop .repeat() or use .take(steps)). Received: an infinite dataset"
            )
        return cardinality if cardinality >= 0 else None

    def evaluate(self, dataset: tf.data.Dataset) -> dict[str, float]:
        """The mean loss and metrics over `dataset` (batched (x, y)), in inference mode."""
        self._prepare(dataset)
        for metric in self.eval_metrics.values():
            metric.reset_state()
        distributed = self.strategy.experimental_distribute_dataset(dataset)
        self._run_epoch(self._function("eval", distributed), distributed, self._steps(dataset))
        return {name: float(metric.result()) for name, metric in self.eval_metrics.items()}

    def fit(
        self,
        dataset: tf.data.Dataset,
        epochs: int = 1,
        *,
        validation_data: tf.data.Dataset | None = None,
        verbose: int = 1,
        on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
        backup_dir: str | os.PathLike | None = None,
    ) -> dict[str, list[float]]:
        """Trains for `epochs` passes over `dataset` (batched (x, y), shuffled by you).

        Args:
            dataset: the training batches; the loop does not shuffle or batch.
            epochs: passes over `dataset`.
            validation_data: batches evaluated after every epoch (their
                results are in the logs and history as "val_<name>").
            verbose: 1 shows a Keras Progbar per epoch, 0 is silent.
            on_epoch_end: called with (epoch, logs) after each epoch, before
                its backup: e.g. `kerasdl.harness.curves.EpochCurves(...,
                evaluator=loop).on_epoch_end`, which writes the per-epoch
                curves (the loop writes none itself).
            backup_dir: back up the model's and optimizer's variables there
                after every epoch (`kerasdl.training.backup.BackupStore`, written by
                the chief only, after `on_epoch_end`)
                and, when it holds a backup, restore it first and continue
                at the epoch it reached (a `fit` that had finished trains no
                more epochs). The data order of the remaining epochs is that
                of an uninterrupted run. One folder per model.

        Returns:
            The history of the epochs trained by this call: {name: [value per
            epoch]}, validation entries prefixed "val_".

        Raises:
            kerasdl.training.nan_guard.NonFiniteLossError: (a FloatingPointError) the
                loss became NaN or Inf; it names the step, epoch and batch,
                and the newest backup is still the last good epoch.
        """
        if epochs < 1:
            raise ValueError(f"epochs must be a positive integer. Received: epochs={epochs}")
        self._prepare(dataset)
        distributed = self.strategy.experimental_distribute_dataset(dataset)
        train_step = self._function("train", distributed)
        steps = self._steps(dataset)
        history: dict[str, list[float]] = {}
        store = BackupStore(backup_dir) if backup_dir is not None else None
        variables = training_variables(self.model, self.optimizer)
        position = store.restore(variables) if store is not None else None
        first_epoch = int(position["epoch"]) if position else 0
        if position and verbose:
            print(f"Resumed from {store.directory / position['file']}: epoch {first_epoch + 1}, "
                  f"step {optimizer_step(self.optimizer)}.")  # fmt: skip
        for _ in range(min(first_epoch, epochs)):
            iter(distributed)  # each iterator reshuffles: keep the data order of the remaining epochs
        for epoch in range(first_epoch, epochs):
            for metric in self.train_metrics.values():
                metric.reset_state()
            progbar = keras.utils.Progbar(steps, verbose=verbose, stateful_metrics=list(self.train_metrics))
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}")
            after_step = self._step_checker(epoch, progbar if verbose else None)
            seen = self._run_epoch(train_step, distributed, steps, after_step)
            logs = {name: float(metric.result()) for name, metric in self.train_metrics.items()}
            if validation_data is not None:
                logs.update({f"val_{name}": value for name, value in self.evaluate(validation_data).items()})
            if verbose:
                progbar.update(seen, [(n, v) for n, v in logs.items()], finalize=True)
            for name, value in logs.items():
                history.setdefault(name, []).append(value)
            if on_epoch_end is not None:
                on_epoch_end(epoch, logs)
            if store is not None and is_chief():
                position = {"epoch": epoch + 1, "batch": 0, "step": optimizer_step(self.optimizer)}
                store.save(variables, position)
        return history


# ----------------------------------------------------------------------------- the train_step override


@keras.saving.register_keras_serializable(package="kerasdl")
class CustomStepModel(keras.Model):
    """A `keras.Model` whose `train_step` clips by global norm and tracks the norm.

    Build it like a functional model; `compile` and `fit` work as usual, with
    one more metric, "gradient_norm" (the mean pre-clipping global norm of the
    epoch), in the logs every callback sees.

    Args:
        clip_global_norm: clip the gradients to this global norm (None: only track it).
        *args, **kwargs: what `keras.Model` takes (inputs, outputs, name).

    Example:

        inputs = keras.Input((784,))
        outputs = keras.layers.Dense(10)(inputs)
        model = CustomStepModel(inputs, outputs, clip_global_norm=1.0)
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, callbacks=[keras.callbacks.TensorBoard(run.dir)])
    """

    def __init__(self, *args, clip_global_norm: float | None = None, **kwargs):
        _check_clip_norm(clip_global_norm)
        super().__init__(*args, **kwargs)
        self.clip_global_norm = clip_global_norm
        self.gradient_norm_tracker = keras.metrics.Mean(name="gradient_norm")

    def train_step(self, data):
        # Keras 3, TensorFlow backend: the built-in train_step with the clipping inserted.
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
            scaled_loss = self.optimizer.scale_loss(loss)
        variables = self.trainable_variables
        grads = tape.gradient(scaled_loss, variables)
        grads, norm = clip_by_global_norm(grads, self.clip_global_norm, loss_scale_of(self.optimizer))
        self.optimizer.apply(grads, variables)
        _track_norm(self.gradient_norm_tracker, norm)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(unscale_for_replicas(loss), sample_weight=tf.shape(y_pred)[0])
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def get_config(self):
        return {**super().get_config(), "clip_global_norm": self.clip_global_norm}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        clip_global_norm = config.pop("clip_global_norm", None)
        model = super().from_config(config, custom_objects=custom_objects)
        model.clip_global_norm = clip_global_norm
        return model
