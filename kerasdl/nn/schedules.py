"""The lesson's learning-rate decays as Keras learning-rate schedules.

Course 2, Week 2: "Learning rate decay". With alpha0 the initial rate and
epoch_num counted from 1 (the first pass over the data is epoch 1):

    InverseTimeDecay     alpha = alpha0 / (1 + decay_rate * epoch_num)
    ExponentialDecay     alpha = base^epoch_num * alpha0          (base = 0.95)
    InverseSqrtDecay     alpha = k / sqrt(epoch_num) * alpha0
                         or k / sqrt(t) * alpha0 with t the mini-batch number
                         (steps_per_epoch=1 makes every step an "epoch")
    StaircaseDecay       alpha = alpha0 * factor^floor((epoch_num - 1) / epochs_per_drop)
                         (the "discrete staircase")
    ManualDecay          alpha from a table of (first epoch, rate) rows
    OneCycle             linear warm-up to a peak, then cosine decay to a floor
                         (a function of the step, not of the epoch)

Each schedule is a pure function of the optimizer's step (its `iterations`
counter, 0 at the first update): epoch_num = floor(step / steps_per_epoch) + 1.
The step is saved with the optimizer, so a resumed run continues the same
schedule. Every schedule serializes with get_config / from_config and inside
a `.keras` file.

Worked example from the lecture (alpha0 = 0.2, decay_rate = 1): epochs 1-4
use 0.1, 0.067, 0.05, 0.04.
"""

from __future__ import annotations

import math

import keras
from keras import ops


def _check_positive(name: str, value, integer: bool = False) -> None:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
        what = "a positive integer" if integer else "a positive number"
        raise ValueError(f"{name} must be {what}. Received: {name}={value!r}")


def _power(base: float, exponent):
    """base^exponent as exp(exponent * log(base)), with log(base) in double precision.

    A float32 `base` carries a relative error of ~6e-8, which the power
    multiplies by the exponent; taking the log in Python first avoids it.
    """
    return ops.exp(exponent * math.log(base))


class EpochDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Base class: alpha = alpha0 * factor(epoch_num), epoch_num from the step.

    Subclasses implement `factor(epoch_num)` with keras.ops on a float
    tensor and add their own arguments to `get_config`.

    Args:
        initial_learning_rate: alpha0, > 0.
        steps_per_epoch: mini-batches per epoch, >= 1.
    """

    def __init__(self, initial_learning_rate: float, steps_per_epoch: int):
        _check_positive("initial_learning_rate", initial_learning_rate)
        _check_positive("steps_per_epoch", steps_per_epoch, integer=True)
        self.initial_learning_rate = float(initial_learning_rate)
        self.steps_per_epoch = steps_per_epoch

    def epoch_num(self, step):
        """floor(step / steps_per_epoch) + 1, as float32 (epoch 1 first)."""
        step = ops.cast(step, "int64")
        return ops.cast(ops.floor_divide(step, self.steps_per_epoch) + 1, "float32")

    def factor(self, epoch_num):
        raise NotImplementedError

    def __call__(self, step):
        return ops.multiply(self.initial_learning_rate, self.factor(self.epoch_num(step)))

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "steps_per_epoch": self.steps_per_epoch}


@keras.saving.register_keras_serializable(package="kerasdl")
class InverseTimeDecay(EpochDecay):
    """alpha = alpha0 / (1 + decay_rate * epoch_num).

    Course 2, Week 2: learning rate decay, the first formula.

    Args:
        initial_learning_rate: alpha0.
        decay_rate: >= 0 (0 keeps alpha0).
        steps_per_epoch: mini-batches per epoch.

    Example:

        >>> schedule = InverseTimeDecay(0.2, decay_rate=1.0, steps_per_epoch=100)
        >>> optimizer = keras.optimizers.SGD(learning_rate=schedule)
    """

    def __init__(self, initial_learning_rate: float, decay_rate: float = 1.0, steps_per_epoch: int = 1):
        super().__init__(initial_learning_rate, steps_per_epoch)
        if isinstance(decay_rate, bool) or not isinstance(decay_rate, (int, float)) or decay_rate < 0:
            raise ValueError(f"decay_rate must be a non-negative number. Received: decay_rate={decay_rate!r}")
        self.decay_rate = float(decay_rate)

    def factor(self, epoch_num):
        return 1.0 / (1.0 + self.decay_rate * epoch_num)

    def get_config(self) -> dict:
        return {**super().get_config(), "decay_rate": self.decay_rate}


@keras.saving.register_keras_serializable(package="kerasdl")
class ExponentialDecay(EpochDecay):
    """alpha = base^epoch_num * alpha0 (the lesson's 0.95^epoch_num).

    Course 2, Week 2: learning rate decay, "exponential decay".

    Args:
        initial_learning_rate: alpha0.
        base: in (0, 1]; 0.95 in the lesson.
        steps_per_epoch: mini-batches per epoch.
    """

    def __init__(self, initial_learning_rate: float, base: float = 0.95, steps_per_epoch: int = 1):
        super().__init__(initial_learning_rate, steps_per_epoch)
        if isinstance(base, bool) or not isinstance(base, (int, float)) or not 0 < base <= 1:
            raise ValueError(f"base must be a number in (0, 1]. Received: base={base!r}")
        self.base = float(base)

    def factor(self, epoch_num):
        return _power(self.base, epoch_num)

    def get_config(self) -> dict:
        return {**super().get_config(), "base": self.base}


@keras.saving.register_keras_serializable(package="kerasdl")
class InverseSqrtDecay(EpochDecay):
    """alpha = k / sqrt(epoch_num) * alpha0, or k / sqrt(t) * alpha0.

    Course 2, Week 2: learning rate decay, the third formula. With
    `steps_per_epoch=1` the "epoch" is the mini-batch number t (from 1).

    Args:
        initial_learning_rate: alpha0.
        k: the constant, > 0.
        steps_per_epoch: mini-batches per epoch; 1 gives the k / sqrt(t) form.
    """

    def __init__(self, initial_learning_rate: float, k: float = 1.0, steps_per_epoch: int = 1):
        super().__init__(initial_learning_rate, steps_per_epoch)
        _check_positive("k", k)
        self.k = float(k)

    def factor(self, epoch_num):
        return self.k / ops.sqrt(epoch_num)

    def get_config(self) -> dict:
        return {**super().get_config(), "k": self.k}


@keras.saving.register_keras_serializable(package="kerasdl")
class StaircaseDecay(EpochDecay):
    """The discrete staircase: alpha0 * factor^floor((epoch_num - 1) / epochs_per_drop).

    Course 2, Week 2: learning rate decay, "discrete staircase" (the rate
    drops by `drop` every `epochs_per_drop` epochs; epochs 1..epochs_per_drop
    use alpha0).

    Args:
        initial_learning_rate: alpha0.
        drop: the multiplier at each step of the staircase, in (0, 1].
        epochs_per_drop: epochs per stair, >= 1.
        steps_per_epoch: mini-batches per epoch.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        drop: float = 0.5,
        epochs_per_drop: int = 10,
        steps_per_epoch: int = 1,
    ):
        super().__init__(initial_learning_rate, steps_per_epoch)
        if isinstance(drop, bool) or not isinstance(drop, (int, float)) or not 0 < drop <= 1:
            raise ValueError(f"drop must be a number in (0, 1]. Received: drop={drop!r}")
        _check_positive("epochs_per_drop", epochs_per_drop, integer=True)
        self.drop = float(drop)
        self.epochs_per_drop = epochs_per_drop

    def factor(self, epoch_num):
        stairs = ops.floor((epoch_num - 1.0) / self.epochs_per_drop)
        return _power(self.drop, stairs)

    def get_config(self) -> dict:
        return {**super().get_config(), "drop": self.drop, "epochs_per_drop": self.epochs_per_drop}


@keras.saving.register_keras_serializable(package="kerasdl")
class ManualDecay(EpochDecay):
    """Manual decay: a table of rates, each starting at a given epoch.

    Course 2, Week 2: learning rate decay, "manual decay" (watch the run,
    lower the rate by hand). `boundaries=[5, 10]`, `rates=[0.1, 0.01, 0.001]`
    uses 0.1 for epochs 1-4, 0.01 for epochs 5-9 and 0.001 from epoch 10 on.
    The returned rate is the table's value (alpha0 is rates[0]).

    Args:
        boundaries: increasing epoch numbers (>= 2) where the rate changes.
        rates: one more positive rate than boundaries.
        steps_per_epoch: mini-batches per epoch.
    """

    def __init__(self, boundaries: list[int], rates: list[float], steps_per_epoch: int = 1):
        boundaries, rates = list(boundaries), list(rates)
        if len(rates) != len(boundaries) + 1:
            raise ValueError(
                "rates must have one entry more than boundaries. "
                f"Received: boundaries={boundaries}, rates={rates}"
            )
        if any(isinstance(b, bool) or not isinstance(b, int) for b in boundaries) or any(
            b < 2 or later <= b for b, later in zip(boundaries, boundaries[1:] + [float("inf")], strict=True)
        ):
            raise ValueError(
                f"boundaries must be increasing integers >= 2. Received: boundaries={boundaries}"
            )
        for rate in rates:
            _check_positive("rates", rate)
        super().__init__(rates[0], steps_per_epoch)
        self.boundaries = boundaries
        self.rates = [float(r) for r in rates]

    def __call__(self, step):
        epoch_num = self.epoch_num(step)
        rate = ops.convert_to_tensor(self.rates[0], "float32")
        for boundary, value in zip(self.boundaries, self.rates[1:], strict=True):
            rate = ops.where(epoch_num >= boundary, value, rate)
        return rate

    def get_config(self) -> dict:
        return {"boundaries": self.boundaries, "rates": self.rates, "steps_per_epoch": self.steps_per_epoch}


@keras.saving.register_keras_serializable(package="kerasdl")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak`, then cosine decay to `peak * final_fraction`.

        warm-up (t < w):  lr(t) = peak * (start_fraction + (1 - start_fraction) * t / w)
        decay   (t >= w): lr(t) = peak * (f + (1 - f) * (1 + cos(pi * min(1, (t - w) / (T - w)))) / 2)

    with T = `total_steps`, w = `warmup_steps`, f = `final_fraction`.
    Course 2, Week 2 ("Learning rate decay"): large steps early, small steps
    near the end so the mini-batch noise settles near the minimum.

    Args:
        peak: the highest learning rate.
        total_steps: T, the planned number of steps.
        warmup_steps: w, steps of linear warm-up (0 for none).
        start_fraction: the rate at step 0, as a fraction of `peak`.
        final_fraction: the rate at step T and after, as a fraction of `peak`.
    """

    def __init__(
        self,
        peak: float,
        total_steps: int,
        warmup_steps: int = 0,
        start_fraction: float = 0.1,
        final_fraction: float = 0.01,
    ):
        if not peak > 0:
            raise ValueError(f"peak must be > 0. Received: peak={peak}")
        if not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(f"total_steps must be a positive integer. Received: total_steps={total_steps}")
        if not isinstance(warmup_steps, int) or not 0 <= warmup_steps < total_steps:
            raise ValueError(
                f"warmup_steps must be in [0, total_steps). Received: warmup_steps={warmup_steps}"
            )
        for name, value in (("start_fraction", start_fraction), ("final_fraction", final_fraction)):
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be in [0, 1]. Received: {name}={value}")
        self.peak, self.total_steps, self.warmup_steps = float(peak), total_steps, warmup_steps
        self.start_fraction, self.final_fraction = float(start_fraction), float(final_fraction)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = float(max(self.warmup_steps, 1))
        rising = self.peak * (self.start_fraction + (1.0 - self.start_fraction) * step / warmup)
        progress = ops.clip(
            (step - self.warmup_steps) / float(self.total_steps - self.warmup_steps), 0.0, 1.0
        )
        cosine = 0.5 * (1.0 + ops.cos(math.pi * progress))
        falling = self.peak * (self.final_fraction + (1.0 - self.final_fraction) * cosine)
        return ops.where(step < self.warmup_steps, rising, falling)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps,
                "start_fraction": self.start_fraction, "final_fraction": self.final_fraction}  # fmt: skip
