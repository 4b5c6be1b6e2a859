"""Training an L-layer network in NumPy: mini-batches, an optimizer, L2 and dropout together.

Course 2, Week 2 (the optimization assignment's `model()`): each epoch
reshuffles the examples into mini-batches (`mini_batches.random_mini_batches`,
a new seed per epoch), and each mini-batch takes one forward pass, one
backward pass and one update by gradient descent, momentum or Adam
(`optimizers`), with Course 2, Week 1's L2 and inverted dropout switched on by
`lambd` and `keep_prob`. Adam's step counter t counts mini-batches, from 1.

Layout: X is [n_x, m], Y is [n_y, m] (column-major, as in the lessons).

Example:

    parameters, costs = train(X, Y, [2, 5, 2, 1], optimizer="adam", learning_rate=0.0007, num_epochs=3000)
    accuracy = np.mean(deep_nn.predict(X, parameters) == Y)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kerasdl.scratch import deep_nn, initialization, optimizers
from kerasdl.scratch.mini_batches import random_mini_batches

OPTIMIZERS = ("gd", "momentum", "rmsprop", "adam")


def train(
    X: np.ndarray,
    Y: np.ndarray,
    layer_dims: Sequence[int],
    *,
    optimizer: str = "adam",
    learning_rate: float = 0.0007,
    mini_batch_size: int = 64,
    num_epochs: int = 1000,
    beta: float = 0.9,
    beta1: float = 0.9,
    beta2: float = 0.999,
    epsilon: float = 1e-8,
    lambd: float = 0.0,
    keep_prob: float = 1.0,
    hidden_activation: str = "relu",
    output_activation: str = "sigmoid",
    initialization_method: str = "he",
    seed: int = 0,
) -> tuple[dict[str, np.ndarray], list[float]]:
    """Trains from scratch and returns (parameters, the mean mini-batch cost of every epoch).

    Args:
        X: inputs [n_x, m].
        Y: labels [1, m] (sigmoid) or one-hot [C, m] (softmax).
        layer_dims: [n_x, n[1], ..., n[L]].
        optimizer: "gd", "momentum" (beta), "rmsprop" (beta, epsilon) or
            "adam" (beta1, beta2, epsilon).
        learning_rate: alpha.
        mini_batch_size: examples per mini-batch (m for batch gradient descent).
        num_epochs: passes over the data.
        lambd: L2 strength (0: off).
        keep_prob: inverted-dropout keep probability of the hidden layers (1: off).
        hidden_activation, output_activation: see `deep_nn.model_forward`.
        initialization_method: see `initialization.initialize_parameters`.
        seed: seeds the initialization, the shuffles and the dropout masks.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(
            f"Unknown optimizer. Expected one of {OPTIMIZERS}. Received: optimizer={optimizer!r}"
        )
    if num_epochs < 1:
        raise ValueError(f"num_epochs must be a positive integer. Received: num_epochs={num_epochs}")
    parameters = initialization.initialize_parameters(layer_dims, initialization_method, seed=seed)
    first = optimizers.zeros_like_grads(parameters)  # v (momentum, Adam)
    second = optimizers.zeros_like_grads(parameters)  # s (RMSprop, Adam)
    rng = np.random.default_rng(seed)
    t = 0
    costs = []
    for epoch in range(num_epochs):
        total = 0.0
        for X_batch, Y_batch in random_mini_batches(X, Y, mini_batch_size, seed=seed + 1 + epoch):
            AL, caches = deep_nn.model_forward(
                X_batch, parameters, hidden_activation, output_activation, keep_prob=keep_prob, rng=rng
            )
            total += (
                deep_nn.compute_cost(AL, Y_batch, output_activation, parameters, lambd) * X_batch.shape[1]
            )
            grads = deep_nn.model_backward(AL, Y_batch, caches, lambd=lambd)
            t += 1
            if optimizer == "gd":
                parameters = optimizers.gradient_descent_update(parameters, grads, learning_rate)
            elif optimizer == "momentum":
                parameters, first = optimizers.momentum_update(parameters, grads, first, beta, learning_rate)
            elif optimizer == "rmsprop":
                parameters, second = optimizers.rmsprop_update(
                    parameters, grads, second, beta, learning_rate, epsilon
                )
            else:
                parameters, first, second = optimizers.adam_update(
                    parameters, grads, first, second, t, learning_rate, beta1, beta2, epsilon
                )
        costs.append(total / X.shape[1])
    return parameters, costs
