"""He and Xavier initialization as the lesson writes them.

Course 2, Week 1: "Weight initialization for deep networks". Vanishing and
exploding activations are tamed by drawing W[l] with variance ~ 1/n[l-1]:

    W[l] = np.random.randn(shape) * np.sqrt(2 / n[l-1])            He (ReLU)
    W[l] = np.random.randn(shape) * np.sqrt(1 / n[l-1])            Xavier (tanh)
    W[l] = np.random.randn(shape) * np.sqrt(2 / (n[l-1] + n[l]))   the variant

(The course notes write "+" for "*" and n[l-1] + n[l-1] for n[l-1] + n[l]:
slips of the pen; the lecture has the product and n[l-1] + n[l].)

n[l-1] is the fan-in (for a conv kernel [kh, kw, c_in, c_out]: kh*kw*c_in)
and n[l] the fan-out (kh*kw*c_out).

How they differ from Keras' names (tested in tests/kerasdl/nn/test_initializers.py):

- The lesson draws from an *untruncated* normal. `keras.initializers.HeNormal`
  and `GlorotNormal` draw from a normal truncated at two standard deviations
  (rescaled so the variance is still the target), so their values never
  exceed ~2.28 * sqrt(target variance); the lesson's have normal tails.
- `He` has the variance of `HeNormal` (2 / fan_in) and draws exactly what
  `keras.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal",
  seed)` draws with the same seed.
- `Xavier` (1 / fan_in) is *not* `GlorotNormal`: it is LeCun's variance
  (`keras.initializers.LecunNormal`, truncated there), exactly
  `VarianceScaling(1.0, "fan_in", "untruncated_normal")`.
- `XavierAverage` (2 / (fan_in + fan_out)) has GlorotNormal's variance and is
  exactly `VarianceScaling(1.0, "fan_avg", "untruncated_normal")`.
"""

from __future__ import annotations

import math
import random

import keras


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) = (n[l-1], n[l]) of a dense or conv kernel shape.

    Dense kernels are [n[l-1], n[l]] (Keras stores W transposed); conv
    kernels [..., c_in, c_out] multiply both by the receptive field size.
    """
    shape = tuple(int(d) for d in shape)
    if len(shape) < 2:
        size = shape[0] if shape else 1
        return size, size
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


class _ScaledNormal(keras.initializers.Initializer):
    """randn(shape) * sqrt(variance(fan_in, fan_out)): the shared part."""

    def __init__(self, seed: int | None = None):
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
            raise ValueError(f"seed must be None or a non-negative integer. Received: seed={seed!r}")
        self._init_seed = seed
        # Like Keras' own random initializers: an unseeded initializer picks a
        # seed from Python's random module once, so keras.utils.set_random_seed
        # makes it reproducible.
        self.seed = seed if seed is not None else random.randint(1, int(1e9))

    def variance(self, fan_in: int, fan_out: int) -> float:
        raise NotImplementedError

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = fans(shape)
        stddev = math.sqrt(self.variance(fan_in, fan_out))
        return keras.random.normal(shape, mean=0.0, stddev=stddev, dtype=dtype, seed=self.seed)

    def get_config(self) -> dict:
        return {"seed": self._init_seed}


@keras.saving.register_keras_serializable(package="kerasdl")
class He(_ScaledNormal):
    """He initialization: randn(shape) * sqrt(2 / n[l-1]), for ReLU layers.

    Course 2, Week 1: weight initialization (He et al., 2015).

    Args:
        seed: an integer makes every call draw the same values.
    """

    def variance(self, fan_in: int, fan_out: int) -> float:
        return 2.0 / fan_in


@keras.saving.register_keras_serializable(package="kerasdl")
class Xavier(_ScaledNormal):
    """Xavier initialization: randn(shape) * sqrt(1 / n[l-1]), for tanh layers.

    Course 2, Week 1: weight initialization. Note: Keras' `GlorotNormal` uses
    2 / (n[l-1] + n[l]) instead; that is `XavierAverage` here.

    Args:
        seed: an integer makes every call draw the same values.
    """

    def variance(self, fan_in: int, fan_out: int) -> float:
        return 1.0 / fan_in


@keras.saving.register_keras_serializable(package="kerasdl")
class XavierAverage(_ScaledNormal):
    """The variant randn(shape) * sqrt(2 / (n[l-1] + n[l])) (Glorot & Bengio).

    Course 2, Week 1: weight initialization ("another version").

    Args:
        seed: an integer makes every call draw the same values.
    """

    def variance(self, fan_in: int, fan_out: int) -> float:
        return 2.0 / (fan_in + fan_out)
