"""Stop at the first NaN or Inf loss, with an error that names the step.

Course 2, Week 1 ("Vanishing / exploding gradients"): a loss that becomes
NaN or Inf never recovers, and every step after it writes garbage into the
weights. Keras' `TerminateOnNaN` stops quietly; here training stops with
`NonFiniteLossError` naming the epoch, the batch and the optimizer step, and
because the guard raises before `kerasdl.training.backup.BackupAndRestore` sees the
batch (and that callback never saves after a non-finite loss anyway), the
last good backup stays the newest one.

Two entry points:

- `NanGuard`, a callback for `model.fit` (put it before `BackupAndRestore`);
- `check_finite(loss, step)`, one call per step in a custom loop.

Example:

    model.fit(train, epochs=5, callbacks=[NanGuard(), BackupAndRestore(run.dir / "backup")])
"""

from __future__ import annotations

import keras
import numpy as np


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or Inf."""


def check_finite(loss, step: int, *, epoch: int | None = None, batch: int | None = None) -> None:
    """Raises `NonFiniteLossError` if `loss` holds a NaN or an Inf.

    Args:
        loss: a scalar or array (tensor, NumPy or float).
        step: the global step (e.g. `int(optimizer.iterations)`), named in the error.
        epoch: the epoch (counted from 1), named in the error if given.
        batch: the batch within the epoch (counted from 1), named in the error if given.
    """
    value = np.asarray(keras.ops.convert_to_numpy(loss))
    if np.all(np.isfinite(value)):
        return
    where = [f"step {step}"]
    if epoch is not None:
        where.append(f"epoch {epoch}")
    if batch is not None:
        where.append(f"batch {batch}")
    shown = value if value.size > 1 else value.item()
    raise NonFiniteLossError(
        f"The training loss became {shown} at {', '.join(where)}. Training stopped; the last good "
        "backup is kept. Lower the learning rate, clip the gradients, or look for bad input in that batch."
    )


class NanGuard(keras.callbacks.Callback):
    """Raises `NonFiniteLossError` at the first batch whose loss is NaN or Inf.

    The loss `fit` reports is the running mean of the epoch, so it turns
    non-finite at the first bad batch and stays so: the error names that
    batch. The step is the optimizer's iteration counter (global, across
    epochs and resumed runs).
    """

    def __init__(self):
        super().__init__()
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if logs and "loss" in logs:
            step = int(self.model.optimizer.iterations)
            check_finite(logs["loss"], step, epoch=self._epoch + 1, batch=batch + 1)
