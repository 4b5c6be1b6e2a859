"""An L-layer neural network, forward and backward with caches, in NumPy.

Course 1, Week 4 ("Forward and backward propagation", "Building blocks of
deep neural networks"), with Course 2, Week 1's L2 regularization and
inverted dropout threaded through both passes.

Layout (column-major, as in the lessons): X is [n_x, m] with one example per
column, W[l] is [n[l], n[l-1]], b[l] is [n[l], 1], Z[l] and A[l] are
[n[l], m]. Y is [1, m] of 0/1 for a sigmoid output and one-hot [C, m] for a
softmax output. Keras' Dense computes x @ kernel + bias on row-major data, so
kernel = W.T and the outputs are transposed.

Forward, for l = 1..L (A[0] = X):

    Z[l] = W[l] A[l-1] + b[l]
    A[l] = g[l](Z[l])                    hidden: relu / leaky_relu / tanh / sigmoid
    A[l] = A[l] * D[l] / keep_prob       hidden layers only, when keep_prob < 1

Cost (cross-entropy, plus L2 when lambd > 0):

    sigmoid: J = -1/m sum(Y log AL + (1 - Y) log(1 - AL))
    softmax: J = -1/m sum(Y log AL)
    J += lambd / (2 m) sum_l ||W[l]||_F^2

Backward (dZ[L] = AL - Y for both outputs), for l = L..1:

    dA[l]   = dA[l] * D[l] / keep_prob   hidden layers, the mask from the cache
    dZ[l]   = dA[l] * g[l]'(Z[l])
    dW[l]   = 1/m dZ[l] A[l-1]^T + lambd/m W[l]
    db[l]   = 1/m sum(dZ[l], axis=1, keepdims=True)
    dA[l-1] = W[l]^T dZ[l]

Example:

    from kerasdl.scratch import deep_nn, initialization
    parameters = initialization.initialize_parameters([4, 5, 3, 1], "he")
    AL, caches = deep_nn.model_forward(X, parameters, hidden_activation="relu")
    cost = deep_nn.compute_cost(AL, Y, parameters=parameters, lambd=0.1)
    grads = deep_nn.model_backward(AL, Y, caches, lambd=0.1)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from kerasdl.scratch import activations, regularization

OUTPUT_ACTIVATIONS = ("sigmoid", "softmax")
_LOG_FLOOR = 1e-300  # keeps log(0) finite without touching any representable probability


def _bad_output(output_activation: str) -> str:
    expected = f"output_activation must be one of {OUTPUT_ACTIVATIONS}."
    return f"{expected} Received: output_activation={output_activation!r}"


class LayerCache(NamedTuple):
    """What layer l's forward pass keeps for its backward pass.

    Attributes:
        A_prev: the layer's input A[l-1].
        W: the weights W[l].
        b: the biases b[l].
        Z: the pre-activation Z[l].
        activation: the name of g[l].
        mask: the dropout mask D[l] (None when the layer has no dropout).
        keep_prob: the keep probability the mask was drawn with.
    """

    A_prev: np.ndarray
    W: np.ndarray
    b: np.ndarray
    Z: np.ndarray
    activation: str
    mask: np.ndarray | None
    keep_prob: float


def num_layers(parameters: dict[str, np.ndarray]) -> int:
    """L, the number of layers with weights (W1..WL)."""
    return sum(1 for key in parameters if key.startswith("W"))


def linear_forward(A_prev: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Z = W A_prev + b (b broadcast over the m columns)."""
    return W @ A_prev + b


def linear_backward(dZ: np.ndarray, A_prev: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, ...]:
    """(dA_prev, dW, db) from dZ, without regularization."""
    m = A_prev.shape[1]
    dW = dZ @ A_prev.T / m
    db = np.sum(dZ, axis=1, keepdims=True) / m
    dA_prev = W.T @ dZ
    return dA_prev, dW, db


def _hidden_activations(hidden_activation: str | Sequence[str], L: int) -> list[str]:
    names = [hidden_activation] * (L - 1) if isinstance(hidden_activation, str) else list(hidden_activation)
    if len(names) != L - 1:
        raise ValueError(
            f"Expected one hidden activation per hidden layer ({L - 1}). Received: hidden_activation={names}"
        )
    for name in names:
        activations.get(name)
    return names


def model_forward(
    X: np.ndarray,
    parameters: dict[str, np.ndarray],
    hidden_activation: str | Sequence[str] = "relu",
    output_activation: str = "sigmoid",
    keep_prob: float = 1.0,
    masks: Sequence[np.ndarray] | None = None,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, list[LayerCache]]:
    """Forward propagation through L layers, keeping a cache per layer.

    Args:
        X: inputs [n_x, m].
        parameters: "W1", "b1", ..., "WL", "bL".
        hidden_activation: the activation of layers 1..L-1, one name for all
            or one per layer ("relu", "leaky_relu", "tanh", "sigmoid").
        output_activation: "sigmoid" (binary) or "softmax" (multi-class).
        keep_prob: inverted-dropout keep probability of the hidden layers'
            activations; 1 turns dropout off (always at test time).
        masks: the L-1 dropout masks to use instead of drawing new ones
            (gradient checking needs a fixed mask).
        rng: the generator drawing masks when `masks` is None.

    Returns:
        (AL, caches): the output [n[L], m] and one `LayerCache` per layer.
    """
    if output_activation not in OUTPUT_ACTIVATIONS:
        raise ValueError(_bad_output(output_activation))
    L = num_layers(parameters)
    hidden = _hidden_activations(hidden_activation, L)
    use_dropout = keep_prob < 1.0 or masks is not None
    if masks is not None and len(masks) != L - 1:
        raise ValueError(
            f"Expected {L - 1} dropout masks (one per hidden layer). Received: {len(masks)} masks"
        )
    if use_dropout and masks is None:
        rng = rng if rng is not None else np.random.default_rng()
    A = X
    caches = []
    for l in range(1, L + 1):  # noqa: E741 - the lessons' layer index
        W, b = parameters[f"W{l}"], parameters[f"b{l}"]
        name = hidden[l - 1] if l < L else output_activation
        Z = linear_forward(A, W, b)
        A_next, _ = activations.get(name)[0](Z)
        mask = None
        if use_dropout and l < L:
            mask = (
                masks[l - 1]
                if masks is not None
                else regularization.dropout_mask(A_next.shape, keep_prob, rng)
            )
            A_next = regularization.dropout_forward(A_next, mask, keep_prob)
        caches.append(LayerCache(A, W, b, Z, name, mask, keep_prob))
        A = A_next
    return A, caches


def cross_entropy(AL: np.ndarray, Y: np.ndarray, output_activation: str = "sigmoid") -> float:
    """The mean cross-entropy of the predictions AL against the labels Y."""
    m = Y.shape[1]
    if output_activation == "sigmoid":
        losses = Y * np.log(np.maximum(AL, _LOG_FLOOR)) + (1 - Y) * np.log(np.maximum(1 - AL, _LOG_FLOOR))
    elif output_activation == "softmax":
        losses = Y * np.log(np.maximum(AL, _LOG_FLOOR))
    else:
        raise ValueError(_bad_output(output_activation))
    return float(-np.sum(losses) / m)


def compute_cost(
    AL: np.ndarray,
    Y: np.ndarray,
    output_activation: str = "sigmoid",
    parameters: dict[str, np.ndarray] | None = None,
    lambd: float = 0.0,
) -> float:
    """Cross-entropy plus lambd / (2 m) times the squared Frobenius norms of the weights."""
    cost = cross_entropy(AL, Y, output_activation)
    if lambd:
        if parameters is None:
            raise ValueError(
                "L2 regularization needs the parameters. Received: parameters=None with lambd > 0"
            )
        cost += regularization.l2_cost(parameters, lambd, Y.shape[1])
    return cost


def model_backward(
    AL: np.ndarray, Y: np.ndarray, caches: Sequence[LayerCache], lambd: float = 0.0
) -> dict[str, np.ndarray]:
    """Backward propagation: the gradients of `compute_cost` for every parameter.

    The output layer uses dZ[L] = AL - Y, which is dAL * g'(ZL) for sigmoid +
    binary cross-entropy and for softmax + categorical cross-entropy alike.
    Dropout masks and keep_prob come from the caches, so the backward pass
    shuts down exactly the neurons the forward pass did.

    Returns:
        A dict with "dW{l}", "db{l}" for l = 1..L and "dA{l}" for l = 0..L-1
        (the gradient flowing into layer l+1's input).
    """
    grads = {}
    L = len(caches)
    m = Y.shape[1]
    dZ = AL - Y
    for l in range(L, 0, -1):  # noqa: E741 - the lessons' layer index
        cache = caches[l - 1]
        if l < L:
            dA = grads[f"dA{l}"]
            if cache.mask is not None:
                dA = regularization.dropout_backward(dA, cache.mask, cache.keep_prob)
            dZ = activations.get(cache.activation)[1](dA, cache.Z)
        dA_prev, dW, db = linear_backward(dZ, cache.A_prev, cache.W)
        if lambd:
            dW = dW + regularization.l2_gradient(cache.W, lambd, m)
        grads[f"dA{l - 1}"], grads[f"dW{l}"], grads[f"db{l}"] = dA_prev, dW, db
    return grads


def predict(
    X: np.ndarray,
    parameters: dict[str, np.ndarray],
    hidden_activation: str | Sequence[str] = "relu",
    output_activation: str = "sigmoid",
) -> np.ndarray:
    """Predictions without dropout: 0/1 [1, m] for sigmoid, class indices [m] for softmax."""
    AL, _ = model_forward(X, parameters, hidden_activation, output_activation)
    if output_activation == "sigmoid":
        return (AL > 0.5).astype(np.int64)
    return np.argmax(AL, axis=0)
