"""Exponentially weighted (moving) averages with bias correction.

Course 2, Week 2: "Exponentially weighted averages".

    v_0 = 0
    v_t = beta * v_{t-1} + (1 - beta) * theta_t
    v_t_corrected = v_t / (1 - beta^t)          (bias correction)

v_t averages over roughly the last 1 / (1 - beta) values (beta = 0.9: ten
values, since 0.9^10 ~ 1/e). Starting from v_0 = 0 biases the first values
towards zero; dividing by 1 - beta^t removes that bias, so a constant series
averages to itself from the very first step.

The same update drives momentum, RMSprop and Adam (`kerasdl.nn.optimizers`) and
BatchNorm's moving statistics (`kerasdl.nn.layers.BatchNorm`): they all call
`ewma_update` (or its in-place form `ewma_increment`).

Example:

    >>> import numpy as np
    >>> ewma(np.array([10.0, 10.0, 10.0]), beta=0.9)
    array([10., 10., 10.])
"""

from __future__ import annotations

import numpy as np


def _check_beta(beta: float) -> None:
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must be in [0, 1). Received: beta={beta}")


def ewma_update(average, value, beta):
    """One step of the average: beta * average + (1 - beta) * value.

    Works on Python floats, NumPy arrays and backend tensors alike (it only
    uses `*` and `+`), which is why the optimizers and BatchNorm share it.
    """
    return beta * average + (1.0 - beta) * value


def ewma_increment(average, value, beta):
    """v_t - v_{t-1} = (1 - beta) * (theta_t - v_{t-1}): the same update as an increment.

    `average += ewma_increment(average, value, beta)` is `ewma_update` in
    place with one tensor operation fewer, which is how the optimizers apply it.
    """
    return (1.0 - beta) * (value - average)


def ewma(values: np.ndarray, beta: float, bias_correction: bool = True) -> np.ndarray:
    """The exponentially weighted average of a series, at every step.

    Args:
        values: array [T, ...]; the average runs along the first axis.
        beta: the decay, in [0, 1).
        bias_correction: divide v_t by (1 - beta^t).

    Returns:
        float64 array of the same shape: v_1, ..., v_T (corrected or not).
    """
    _check_beta(beta)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 0:
        raise ValueError(f"values must have a time axis. Received: shape={values.shape}")
    averages = np.empty_like(values)
    average = np.zeros_like(values[0])
    for t, value in enumerate(values, start=1):
        average = ewma_update(average, value, beta)
        averages[t - 1] = average / (1.0 - beta**t) if bias_correction else average
    return averages


class ExponentialMovingAverage:
    """A streaming exponentially weighted average (one value at a time).

    Args:
        beta: the decay, in [0, 1).
        bias_correction: whether `value` divides by (1 - beta^t).

    Example:

        >>> average = ExponentialMovingAverage(beta=0.9)
        >>> average.update(4.0)
        4.0
        >>> round(average.update(6.0), 4)  # (0.9*0.4 + 0.6) / (1 - 0.81)
        5.0526
    """

    def __init__(self, beta: float = 0.9, bias_correction: bool = True):
        _check_beta(beta)
        self.beta = beta
        self.bias_correction = bias_correction
        self.t = 0
        self.raw = 0.0

    def update(self, value):
        """Adds theta_t and returns the (corrected) average v_t."""
        self.t += 1
        self.raw = ewma_update(self.raw, np.asarray(value, dtype=np.float64), self.beta)
        return self.value

    @property
    def value(self):
        """The current average: v_t, divided by (1 - beta^t) if correcting."""
        if self.t == 0:
            raise ValueError("The average is undefined before the first update. Received: t=0")
        if self.bias_correction:
            corrected = self.raw / (1.0 - self.beta**self.t)
        else:
            corrected = self.raw
        return float(corrected) if np.ndim(corrected) == 0 else corrected
