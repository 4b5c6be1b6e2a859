"""Learning curves: would more training data help?

Course 2, Week 1 ("Basic recipe for machine learning") and Course 3, Week 2
("Bias and variance with mismatched data distributions"): the lesson's first
remedy for variance is more data. Whether it would pay can be measured before
collecting any: train the same model on nested subsets of the training set
(1/8, 1/4, 1/2 and all of it), and plot training and dev error against the
training-set size. Where dev error still falls as the set doubles, more data
helps; where the curve has flattened, the next doubling buys little, and the
gap left must be closed another way (regularization, a bigger model, data more
like dev).

The figure the advice uses is the fall of dev error over the last doubling of
the training set, in error-rate points:

    fall per doubling = (dev error(n_prev) - dev error(n_last)) / log2(n_last / n_prev)

from the two largest sizes (scaled to one doubling when they are not exactly
twice apart). More data "will help" when the fall is at least `min_gain`
(default 1 point per doubling); below it, "will not help much", and the
advice says why: training and dev error have met (bias: a bigger model or
longer training), or a gap remains that data is not closing (regularize, or
look for data mismatch).

`learning_curve_image` draws the curve as an RGB array (Pillow, no plotting
library), for TensorBoard and a PNG beside the run's summary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from kerasdl.diagnostics.images import BACKGROUND, INK

DEFAULT_MIN_GAIN = 0.01
TRAIN_COLOUR = (31, 119, 180)  # blue
DEV_COLOUR = (230, 110, 0)  # orange
GRID_COLOUR = (225, 225, 225)


def _points(value: float) -> str:
    return f"{100 * value:.1f}"


@dataclass(frozen=True)
class LearningCurve:
    """Training and dev error of one model trained on training sets of growing size.

    Attributes:
        sizes: training-set sizes (examples), increasing.
        train_error: error on (a hash-chosen part of) each training set.
        dev_error: error on the dev set, the same for every size.
        dev_examples: examples in the dev set, to state the noise of a dev
            error; None when unknown.
        epochs: the epochs each model trained for, or None.
    """

    sizes: tuple[int, ...]
    train_error: tuple[float, ...]
    dev_error: tuple[float, ...]
    dev_examples: int | None = None
    epochs: tuple[int, ...] | None = None

    def __post_init__(self):
        object.__setattr__(self, "sizes", tuple(int(n) for n in self.sizes))
        object.__setattr__(self, "train_error", tuple(float(e) for e in self.train_error))
        object.__setattr__(self, "dev_error", tuple(float(e) for e in self.dev_error))
        if self.epochs is not None:
            object.__setattr__(self, "epochs", tuple(int(e) for e in self.epochs))
            if len(self.epochs) != len(self.sizes):
                raise ValueError(
                    f"epochs needs one entry per size. Received: {len(self.epochs)} entries, "
                    f"{len(self.sizes)} sizes"
                )
        if not len(self.sizes) == len(self.train_error) == len(self.dev_error):
            raise ValueError(
                "sizes, train_error and dev_error need one entry per size. Received: "
                f"{len(self.sizes)}, {len(self.train_error)} and {len(self.dev_error)} entries"
            )
        if (
            len(self.sizes) < 2
            or self.sizes[0] < 1
            or any(b <= a for a, b in zip(self.sizes, self.sizes[1:], strict=False))
        ):
            raise ValueError(
                f"sizes must be at least two increasing positive counts. Received: sizes={list(self.sizes)}"
            )
        for name in ("train_error", "dev_error"):
            values = getattr(self, name)
            if not all(0 <= e <= 1 for e in values):
                raise ValueError(f"Error rates are fractions in [0, 1]. Received: {name}={list(values)}")

    @property
    def last_doubling(self) -> tuple[int, int]:
        """The two largest sizes, (n_prev, n_last)."""
        return self.sizes[-2], self.sizes[-1]

    def fall_per_doubling(self) -> float:
        """Dev error points lost over the last doubling (negative when dev error rose)."""
        n_prev, n_last = self.last_doubling
        return (self.dev_error[-2] - self.dev_error[-1]) / math.log2(n_last / n_prev)

    def more_data_helps(self, min_gain: float = DEFAULT_MIN_GAIN) -> bool:
        """Whether dev error fell at least `min_gain` over the last doubling."""
        _check_min_gain(min_gain)
        return self.fall_per_doubling() >= min_gain

    def dev_standard_error(self) -> float | None:
        """The binomial standard error of the last dev error, sqrt(e (1 - e) / n); None without n."""
        if not self.dev_examples:
            return None
        error = self.dev_error[-1]
        return math.sqrt(error * (1 - error) / self.dev_examples)

    def advice(self, min_gain: float = DEFAULT_MIN_GAIN, focus: str | None = None) -> str:
        """Would more data help, in one paragraph with the numbers behind it.

        Args:
            min_gain: the smallest fall of dev error per doubling (a fraction)
                that counts as "more data will help".
            focus: the decomposition's focus ("variance", "avoidable_bias",
                ...), to say which of its remedies the curve supports; None
                leaves that out.
        """
        helps = self.more_data_helps(min_gain)
        fall = self.fall_per_doubling()
        n_prev, n_last = self.last_doubling
        span = f"({n_prev:,} -> {n_last:,} examples)"
        dev, train = self.dev_error[-1], self.train_error[-1]
        if helps:
            text = (
                f"More data will help: dev error fell {_points(fall)} points over the last doubling of the "
                f"training set {span}. If that trend held, doubling it again would bring dev error from "
                f"{_points(dev)}% to about {_points(max(dev - fall, 0.0))}%."
            )
        else:
            moved = (
                f"fell only {_points(fall)} points"
                if fall >= 0
                else f"did not fall (it rose {_points(-fall)} points)"
            )
            text = f"More data will not help much: dev error {moved} over the last doubling {span}."
            gap = dev - train
            if gap <= 2 * min_gain:
                text += (
                    f" Training and dev error have met ({_points(train)}% and {_points(dev)}%): what is "
                    "left is bias, which a bigger model or longer training reduces, not more data."
                )
            else:
                text += (
                    f" The {_points(gap)}-point gap between training and dev error is one that data is not "
                    "closing: regularize (L2, dropout, augmentation), or look for data mismatch."
                )
        standard_error = self.dev_standard_error()
        if standard_error is not None:
            text += (
                f" (Dev error is measured on {self.dev_examples:,} examples: one standard error is "
                f"{_points(standard_error)} points.)"
            )
        if focus == "variance":
            text += (
                " Of the variance remedies, the curve supports getting more training data."
                if helps
                else " Of the variance remedies, try regularization before collecting more data."
            )
        elif focus == "avoidable_bias" and helps:
            text += " The decomposition's focus is still bias: data helps dev error, but not training error."
        return text

    def as_dict(self, min_gain: float = DEFAULT_MIN_GAIN) -> dict:
        """The points, the fall per doubling and the verdict, JSON-ready."""
        return {
            "sizes": list(self.sizes),
            "train_error": list(self.train_error),
            "dev_error": list(self.dev_error),
            "dev_examples": self.dev_examples,
            "epochs": None if self.epochs is None else list(self.epochs),
            "fall_per_doubling": self.fall_per_doubling(),
            "more_data_helps": self.more_data_helps(min_gain),
            "min_gain": min_gain,
        }

    def to_markdown(self) -> str:
        """The points as a Markdown table."""
        epochs = self.epochs or ("",) * len(self.sizes)
        lines = ["| training examples | epochs | training error | dev error |", "|---|---|---|---|"]
        for size, n, train, dev in zip(self.sizes, epochs, self.train_error, self.dev_error, strict=True):
            lines.append(f"| {size:,} | {n} | {_points(train)}% | {_points(dev)}% |")
        return "\n".join(lines)


def _check_min_gain(min_gain: float) -> None:
    if not 0 <= min_gain < 1:
        raise ValueError(f"min_gain is a fraction of error in [0, 1). Received: min_gain={min_gain}")


def _error_axis(largest: float) -> tuple[float, float]:
    """(top, tick step) of the error axis: round steps of 1, 5, 10 or 20 points, the top a multiple of one."""
    step = next(
        step for limit, step in ((0.05, 0.01), (0.2, 0.05), (0.6, 0.1), (1.0, 0.2)) if largest <= limit
    )
    return min(step * math.ceil(largest / step - 1e-9), 1.0), step


def learning_curve_image(curve: LearningCurve, width: int = 560, height: int = 360) -> np.ndarray:
    """The curve as a chart: error against training-set size (log scale), training in blue, dev in orange.

    Returns:
        An RGB uint8 array [height, width, 3].
    """
    font = ImageFont.load_default(size=13)
    left, right, top, bottom = 56, 32, 28, 48
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    x_log = np.log2(np.asarray(curve.sizes, dtype=np.float64))
    x_span = max(x_log[-1] - x_log[0], 1e-9)
    y_top, y_step = _error_axis(1.1 * max(*curve.train_error, *curve.dev_error, 0.01))
    plot_w, plot_h = width - left - right, height - top - bottom

    def pixel(size_log: float, error: float) -> tuple[float, float]:
        return left + (size_log - x_log[0]) / x_span * plot_w, top + (1 - error / y_top) * plot_h

    for tick in np.arange(0, y_top + y_step / 2, y_step):
        _, y = pixel(x_log[0], tick)
        draw.line([(left, y), (left + plot_w, y)], fill=GRID_COLOUR)
        label = f"{100 * tick:.0f}%"
        draw.text((left - 6 - font.getlength(label), y - 6), label, fill=INK, font=font)
    for size, size_log in zip(curve.sizes, x_log, strict=True):
        x, _ = pixel(size_log, 0)
        draw.line([(x, top), (x, top + plot_h)], fill=GRID_COLOUR)
        label = f"{size:,}"
        draw.text((x - font.getlength(label) / 2, top + plot_h + 4), label, fill=INK, font=font)
    draw.rectangle([left, top, left + plot_w, top + plot_h], outline=INK)
    for errors, colour in ((curve.train_error, TRAIN_COLOUR), (curve.dev_error, DEV_COLOUR)):
        points = [pixel(size_log, error) for size_log, error in zip(x_log, errors, strict=True)]
        draw.line(points, fill=colour, width=2)
        for x, y in points:
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
    draw.text((left, 6), "Learning curve: error vs training-set size", fill=INK, font=font)
    axis = "training examples (log scale)"
    draw.text((left + (plot_w - font.getlength(axis)) / 2, height - 18), axis, fill=INK, font=font)
    legend_x = left + plot_w - 8 - 24 - max(font.getlength(f"{name} error") for name in ("training", "dev"))
    for row, (name, colour) in enumerate((("training", TRAIN_COLOUR), ("dev", DEV_COLOUR))):
        y = top + 8 + 16 * row
        draw.line([(legend_x, y + 6), (legend_x + 18, y + 6)], fill=colour, width=2)
        draw.text((legend_x + 24, y), f"{name} error", fill=INK, font=font)
    return np.asarray(canvas)
