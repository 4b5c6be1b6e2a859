"""Stops a run on purpose at a named point, so tests can prove that `--resume` survives a stop anywhere.

The stop/resume tests start an experiment in a subprocess with
`KERASDL_STOP_AT=<point>:<SIGNAL>` in its environment; when the run reaches
that point, it sends itself the signal (SIGTERM: the clean stop a scheduler
asks for; SIGKILL: a crash or an out-of-memory kill). The points are:

- `start:<phase>` / `end:<phase>`: as a phase of `Run.phase` / `Run.once`
  begins, or just after its result is saved;
- `batch:<n>`: after the n-th training batch of a `fit` (counted from 1
  across its epochs), i.e. mid-epoch;
- `epoch:<n>`: after epoch n's backup is written.

Without the variable nothing happens; the check is a dictionary lookup.
"""

from __future__ import annotations

import os
import signal

import keras

ENVIRONMENT_VARIABLE = "KERASDL_STOP_AT"


def _target() -> tuple[str, int] | None:
    value = os.environ.get(ENVIRONMENT_VARIABLE)
    if not value:
        return None
    point, _, name = value.rpartition(":")
    signum = getattr(signal, name, None)
    if not point or not isinstance(signum, signal.Signals):
        raise ValueError(
            f"{ENVIRONMENT_VARIABLE} must be '<point>:<SIGNAL>', e.g. 'start:label_issues:SIGKILL'. "
            f"Received: {ENVIRONMENT_VARIABLE}={value!r}"
        )
    return point, int(signum)


def stop_if_requested(point: str) -> None:
    """Sends this process the requested signal if `point` is the one named in `KERASDL_STOP_AT`."""
    target = _target()
    if target is not None and target[0] == point:
        os.kill(os.getpid(), target[1])


class StopAt(keras.callbacks.Callback):
    """The `batch:<n>` and `epoch:<n>` points of a `fit`; put it after the backup callback."""

    def __init__(self):
        super().__init__()
        self._batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1
        stop_if_requested(f"batch:{self._batches}")

    def on_epoch_end(self, epoch, logs=None):
        stop_if_requested(f"epoch:{epoch + 1}")
