"""Activation functions and their derivatives, in NumPy.

Course 1, Week 3 ("Activation functions", "Derivatives of activation
functions") and Week 4 (forward and backward functions with caches). Every
forward function returns `(A, cache)` with `cache = Z`; every backward
function takes `(dA, cache)` and returns `dZ = dA * g'(Z)`, the lesson's
`dZ[l] = dA[l] * g[l]'(Z[l])`.

Layout: column-major as in the lessons, Z and A have shape [n_units, m], one
column per example.

Derivatives (Course 1, Week 3):

    sigmoid:     g(z) = 1 / (1 + e^-z)             g'(z) = g(z) (1 - g(z))
    tanh:        g(z) = (e^z - e^-z)/(e^z + e^-z)  g'(z) = 1 - tanh(z)^2
    ReLU:        g(z) = max(0, z)                  g'(z) = 1 if z >= 0 else 0
    leaky ReLU:  g(z) = max(a z, z)                g'(z) = 1 if z >= 0 else a
    softmax:     g(z)_i = e^z_i / sum_j e^z_j      dZ = A * (dA - sum_i(dA_i A_i))

ReLU's derivative at exactly 0 is a convention; the lesson's table takes 1
for z >= 0, and so does this module.

Example:

    A, cache = relu(np.array([[-1.0, 2.0]]))
    dZ = relu_backward(np.ones_like(A), cache)   # [[0., 1.]]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

LEAKY_RELU_SLOPE = 0.01


def sigmoid(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Logistic sigmoid 1 / (1 + e^-z), computed without overflow for large |z|."""
    A = np.exp(-np.logaddexp(0.0, -Z))
    return A, Z


def sigmoid_backward(dA: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dZ = dA * s (1 - s), with s = sigmoid(Z)."""
    s, _ = sigmoid(cache)
    return dA * s * (1.0 - s)


def tanh(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hyperbolic tangent."""
    return np.tanh(Z), Z


def tanh_backward(dA: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dZ = dA * (1 - tanh(Z)^2)."""
    return dA * (1.0 - np.tanh(cache) ** 2)


def relu(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rectified linear unit max(0, z)."""
    return np.maximum(0.0, Z), Z


def relu_backward(dA: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dZ = dA where Z >= 0, else 0."""
    return np.where(cache >= 0, dA, 0.0)


def leaky_relu(Z: np.ndarray, slope: float = LEAKY_RELU_SLOPE) -> tuple[np.ndarray, np.ndarray]:
    """Leaky ReLU max(slope * z, z), slope 0.01 as in the lesson."""
    return np.where(Z >= 0, Z, slope * Z), Z


def leaky_relu_backward(dA: np.ndarray, cache: np.ndarray, slope: float = LEAKY_RELU_SLOPE) -> np.ndarray:
    """dZ = dA where Z >= 0, else slope * dA."""
    return np.where(cache >= 0, dA, slope * dA)


def softmax(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Softmax over the units (axis 0), shifted by the column max for stability."""
    exp = np.exp(Z - Z.max(axis=0, keepdims=True))
    return exp / exp.sum(axis=0, keepdims=True), Z


def softmax_backward(dA: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """The Jacobian-vector product of softmax: dZ = A * (dA - sum_i dA_i A_i).

    With the cross-entropy loss on top this reduces to dZ = A - Y, which is
    what `deep_nn.model_backward` uses for the output layer.
    """
    A, _ = softmax(cache)
    return A * (dA - np.sum(dA * A, axis=0, keepdims=True))


Forward = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
Backward = Callable[[np.ndarray, np.ndarray], np.ndarray]

ACTIVATIONS: dict[str, tuple[Forward, Backward]] = {
    "sigmoid": (sigmoid, sigmoid_backward),
    "tanh": (tanh, tanh_backward),
    "relu": (relu, relu_backward),
    "leaky_relu": (leaky_relu, leaky_relu_backward),
    "softmax": (softmax, softmax_backward),
}


def get(name: str) -> tuple[Forward, Backward]:
    """The (forward, backward) pair of the activation called `name`."""
    if name not in ACTIVATIONS:
        raise ValueError(
            f"Unknown activation. Expected one of {sorted(ACTIVATIONS)}. Received: activation={name!r}"
        )
    return ACTIVATIONS[name]
