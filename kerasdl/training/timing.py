"""Wall-clock timing of Keras prediction, the cost side of test-time tricks.

Course 4, Week 2: ensembles and multi-crop buy accuracy with test-time
compute; the reports that compare them time prediction here:
`timed_predict` for one model's cost (`kerasdl.evaluation.ensemble`), and
`interleaved_predict` for models compared side by side on a shared machine
(`kerasdl.evaluation.multicrop`). `EpochSeconds` times the training side:
each epoch of a `fit`, without what other callbacks do at its end.
"""

from __future__ import annotations

import time

import keras
import numpy as np


def timed_predict(model: keras.Model, inputs: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, float]:
    """`model.predict(inputs)` and its wall time in seconds.

    One batch is predicted first and not timed, so tracing and compiling the
    predict function are not counted: the figure is the steady-state cost.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer. Received: batch_size={batch_size!r}")
    model.predict(inputs[:batch_size], batch_size=batch_size, verbose=0)
    start = time.perf_counter()
    outputs = model.predict(inputs, batch_size=batch_size, verbose=0)
    return outputs, time.perf_counter() - start


def interleaved_predict(
    models: dict[str, tuple[keras.Model, int]], images: np.ndarray, blocks: int
) -> tuple[dict[str, np.ndarray], dict[str, list[float]]]:
    """Each model's predictions on `images` and its seconds per block of images.

    The images are split into `blocks` consecutive blocks; each block is
    predicted by every model in turn (the order alternating from block to
    block), so a change in a shared machine's load hits all models alike.
    One batch per model is predicted first and not timed (tracing).
    """
    for model, batch_size in models.values():
        model.predict(images[:batch_size], batch_size=batch_size, verbose=0)
    outputs = {name: [] for name in models}
    seconds = {name: [] for name in models}
    for k, block in enumerate(np.array_split(np.arange(len(images)), min(blocks, len(images)))):
        for name in list(models) if k % 2 == 0 else list(reversed(list(models))):
            model, batch_size = models[name]
            start = time.perf_counter()
            outputs[name].append(model.predict(images[block], batch_size=batch_size, verbose=0))
            seconds[name].append(time.perf_counter() - start)
    return {name: np.concatenate(o) for name, o in outputs.items()}, seconds


class EpochSeconds(keras.callbacks.Callback):
    """Seconds of each training epoch of a `fit`, from its start to the end of its last batch.

    Whatever callbacks do at the end of an epoch (evaluating splits, saving
    curves or backups) comes after its last batch, so it is not counted,
    whatever the order of the callbacks.

    Attributes:
        seconds: one entry per epoch trained, in order.
    """

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    @property
    def total(self) -> float:
        """The seconds of every epoch so far, added up."""
        return float(sum(self.seconds))

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(self._end - self._start)
