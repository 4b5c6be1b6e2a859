"""Wall-clock timing of Keras prediction, the cost side of test-time tricks.

Course 4, Week 2: ensembles and multi-crop buy accuracy with test-time
compute; the reports that compare them (`kerasdl.ensemble`,
`pipelines.multicrop`) time prediction the same way, here.
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
