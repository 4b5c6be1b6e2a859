"""Parameter initialization for an L-layer network, in NumPy.

Course 2, Week 1 ("Weight initialization for deep networks", "Vanishing /
exploding gradients") and Course 1, Week 3 ("Random initialization"):

    zeros:   W[l] = 0                                  fails to break symmetry
    random:  W[l] = randn(n[l], n[l-1]) * scale        0.01 in Course 1; 10 shows explosion
    he:      W[l] = randn(n[l], n[l-1]) * sqrt(2 / n[l-1])           for ReLU (He et al. 2015)
    xavier:  W[l] = randn(n[l], n[l-1]) * sqrt(1 / n[l-1])           for tanh
    glorot:  W[l] = randn(n[l], n[l-1]) * sqrt(2 / (n[l-1] + n[l]))  the lesson's "also can"
    b[l] = zeros((n[l], 1)) in every case.

Note that the lesson's "Xavier" (sqrt(1/n[l-1])) is not Keras' GlorotNormal,
which uses sqrt(2/(fan_in + fan_out)) with a truncated normal; "glorot" here
is the untruncated lesson formula.

Layout: W[l] has shape [n[l], n[l-1]], b[l] shape [n[l], 1] (column-major, as
in the lessons). Keras' Dense kernel is the transpose, [n[l-1], n[l]].

Example:

    parameters = initialize_parameters([784, 64, 10], method="he", seed=0)
    parameters["W1"].shape   # (64, 784)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

METHODS = ("zeros", "random", "he", "xavier", "glorot")


def weight_scale(method: str, fan_in: int, fan_out: int, scale: float = 0.01) -> float:
    """The standard deviation each method multiplies randn by (0 for zeros)."""
    if method == "zeros":
        return 0.0
    if method == "random":
        return scale
    if method == "he":
        return float(np.sqrt(2.0 / fan_in))
    if method == "xavier":
        return float(np.sqrt(1.0 / fan_in))
    if method == "glorot":
        return float(np.sqrt(2.0 / (fan_in + fan_out)))
    raise ValueError(f"Unknown initialization. Expected one of {METHODS}. Received: method={method!r}")


def initialize_parameters(
    layer_dims: Sequence[int], method: str = "he", seed: int | None = 0, scale: float = 0.01
) -> dict[str, np.ndarray]:
    """Initializes W1, b1, ..., WL, bL for the layer sizes `layer_dims`.

    Args:
        layer_dims: [n_x, n[1], ..., n[L]]; the input is not a layer.
        method: one of "zeros", "random", "he", "xavier", "glorot" (see the
            module docstring for the formulas).
        seed: seed of the NumPy generator (None: fresh entropy).
        scale: the multiplier of randn for method="random".

    Returns:
        A dict with "W{l}" of shape [n[l], n[l-1]] and "b{l}" of shape
        [n[l], 1], float64.
    """
    if len(layer_dims) < 2 or any(int(n) < 1 for n in layer_dims):
        raise ValueError(
            f"layer_dims needs at least two positive sizes. Received: layer_dims={list(layer_dims)}"
        )
    if method not in METHODS:
        raise ValueError(f"Unknown initialization. Expected one of {METHODS}. Received: method={method!r}")
    rng = np.random.default_rng(seed)
    parameters = {}
    for l in range(1, len(layer_dims)):  # noqa: E741 - the lessons' layer index
        fan_in, fan_out = int(layer_dims[l - 1]), int(layer_dims[l])
        parameters[f"W{l}"] = rng.standard_normal((fan_out, fan_in)) * weight_scale(
            method, fan_in, fan_out, scale
        )
        parameters[f"b{l}"] = np.zeros((fan_out, 1))
    return parameters
