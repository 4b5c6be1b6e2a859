"""Vectorized logistic regression trained by gradient descent, in NumPy.

Course 1, Week 2 ("Logistic regression as a neural network", "Vectorizing
logistic regression's gradient output"). No loop over examples:

    Z  = w^T X + b            X: [n_x, m], w: [n_x, 1], b: scalar
    A  = sigmoid(Z)           [1, m]
    J  = -1/m sum(Y log A + (1 - Y) log(1 - A))
    dZ = A - Y
    dw = 1/m X dZ^T
    db = 1/m sum(dZ)
    w := w - alpha dw,  b := b - alpha db

Predictions are 1 where A > 0.5.

Example:

    w, b = initialize(n_x=2)
    w, b, costs = gradient_descent(w, b, X, Y, num_iterations=1000, learning_rate=0.1)
    accuracy = np.mean(predict(w, b, X) == Y)
"""

from __future__ import annotations

import numpy as np

from kerasdl.scratch.activations import sigmoid
from kerasdl.scratch.deep_nn import cross_entropy


def initialize(n_x: int) -> tuple[np.ndarray, float]:
    """w = zeros((n_x, 1)), b = 0: zeros are fine here, there is no hidden layer to keep symmetric."""
    if n_x < 1:
        raise ValueError(f"n_x must be a positive integer. Received: n_x={n_x}")
    return np.zeros((n_x, 1)), 0.0


def forward(w: np.ndarray, b: float, X: np.ndarray) -> np.ndarray:
    """A = sigmoid(w^T X + b), shape [1, m]."""
    return sigmoid(w.T @ X + b)[0]


def cost(A: np.ndarray, Y: np.ndarray) -> float:
    """The mean binary cross-entropy J."""
    return cross_entropy(A, Y, "sigmoid")


def backward(A: np.ndarray, X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, float]:
    """(dw, db) = (1/m X (A - Y)^T, 1/m sum(A - Y))."""
    m = X.shape[1]
    dZ = A - Y
    return X @ dZ.T / m, float(np.sum(dZ) / m)


def propagate(w: np.ndarray, b: float, X: np.ndarray, Y: np.ndarray) -> tuple[dict[str, np.ndarray], float]:
    """One forward and backward pass: ({"dw": dw, "db": db}, cost)."""
    A = forward(w, b, X)
    dw, db = backward(A, X, Y)
    return {"dw": dw, "db": db}, cost(A, Y)


def gradient_descent(
    w: np.ndarray,
    b: float,
    X: np.ndarray,
    Y: np.ndarray,
    num_iterations: int = 1000,
    learning_rate: float = 0.01,
) -> tuple[np.ndarray, float, list[float]]:
    """Runs batch gradient descent; returns (w, b, the cost of every iteration)."""
    if learning_rate <= 0:
        raise ValueError(f"learning_rate must be positive. Received: learning_rate={learning_rate}")
    costs = []
    for _ in range(num_iterations):
        grads, J = propagate(w, b, X, Y)
        w = w - learning_rate * grads["dw"]
        b = b - learning_rate * grads["db"]
        costs.append(J)
    return w, b, costs


def predict(w: np.ndarray, b: float, X: np.ndarray) -> np.ndarray:
    """0/1 predictions [1, m]: 1 where sigmoid(w^T X + b) > 0.5."""
    return (forward(w, b, X) > 0.5).astype(np.int64)
