"""kerasdl.training.timing.EpochSeconds: one figure per epoch, without the work other callbacks do at
the epoch's end."""

from __future__ import annotations

import time

import keras
import numpy as np

from kerasdl.training.timing import EpochSeconds


class SlowEpochEnd(keras.callbacks.Callback):
    """Stands for an evaluation at each epoch's end: 0.3 s that must not be counted as training."""

    def on_epoch_end(self, epoch, logs=None):
        time.sleep(0.3)


class SlowBatches(keras.callbacks.Callback):
    """Makes each training batch take at least 0.05 s, so an epoch has a floor to check against."""

    def on_train_batch_begin(self, batch, logs=None):
        time.sleep(0.05)


def test_epoch_seconds_count_the_batches_and_not_the_end_of_epoch_work():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.zeros((40, 3), "float32"), np.zeros((40, 1), "float32")
    for order in ("clock first", "clock last"):
        clock = EpochSeconds()
        others = [SlowBatches(), SlowEpochEnd()]
        callbacks = [clock, *others] if order == "clock first" else [*others, clock]
        started = time.perf_counter()
        model.fit(x, y, batch_size=10, epochs=3, callbacks=callbacks, verbose=0)
        wall = time.perf_counter() - started
        assert len(clock.seconds) == 3, order
        assert all(seconds >= 4 * 0.05 for seconds in clock.seconds), (order, clock.seconds)
        assert clock.total == sum(clock.seconds)
        assert clock.total <= wall - 3 * 0.3, (order, clock.total, wall)  # the end-of-epoch sleeps are out
