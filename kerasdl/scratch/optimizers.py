"""Gradient descent, momentum, RMSprop and Adam parameter updates, in NumPy.

Course 2, Week 2 ("Gradient descent with momentum", "RMSprop", "Adam
optimization algorithm"), written as the lessons write them. Parameters are a
dict such as {"W1": ..., "b1": ...}; the gradient of parameter "W1" is
grads["dW1"]; the optimizer state is keyed like the gradients ("dW1"). Every
update returns new dicts and leaves its inputs untouched.

    gradient descent:  W := W - alpha dW
    momentum:          v := beta v + (1 - beta) dW;   W := W - alpha v
    RMSprop:           s := beta s + (1 - beta) dW^2; W := W - alpha dW / (sqrt(s) + eps)
    Adam (step t>=1):  v := beta1 v + (1 - beta1) dW
                       s := beta2 s + (1 - beta2) dW^2
                       v_hat = v / (1 - beta1^t),  s_hat = s / (1 - beta2^t)
                       W := W - alpha v_hat / (sqrt(s_hat) + eps)

Epsilon: the lecture video and Kingma & Ba put eps outside the square root;
the handwritten course notes write sqrt(s + eps). `epsilon_inside_sqrt=True`
gives the latter.

How the Keras built-ins relate (tests/kerasdl/scratch/test_optimizers.py
checks each relation over many steps):

- `keras.optimizers.SGD(learning_rate=alpha * (1 - beta), momentum=beta)`
  takes exactly the lesson's momentum steps. Keras has no (1 - beta) factor:
  its slot m := beta m - lr dW accumulates sum beta^k dW = v / (1 - beta), and
  with lr = alpha (1 - beta) the slot equals -alpha v.
- `keras.optimizers.RMSprop(learning_rate=alpha, rho=beta, epsilon=eps)` is
  the lesson's RMSprop with `epsilon_inside_sqrt=True`: Keras 3 divides by
  sqrt(s + eps), like the handwritten notes.
- `keras.optimizers.Adam(learning_rate=alpha, epsilon=eps_hat)` computes
  W -= alpha sqrt(1 - beta2^t) / (1 - beta1^t) * v / (sqrt(s) + eps_hat),
  which is the lesson's update with the step-dependent
  eps_t = eps_hat / sqrt(1 - beta2^t) (Kingma & Ba, end of section 2).
- Keras holds the learning rate in a float32 variable and rounds the betas
  through float32 before beta^t, so float64-tight agreement needs values
  exact in float32 (powers of two, 1 - 2^-k).
"""

from __future__ import annotations

import numpy as np

Params = dict[str, np.ndarray]


def _check_rate(learning_rate: float) -> None:
    if learning_rate <= 0:
        raise ValueError(f"learning_rate must be positive. Received: learning_rate={learning_rate}")


def _check_beta(name: str, value: float) -> None:
    if not 0 <= value < 1:
        raise ValueError(f"{name} must be in [0, 1). Received: {name}={value}")


def zeros_like_grads(parameters: Params) -> Params:
    """The zero state {"dW1": zeros_like(W1), ...} every optimizer starts from."""
    return {f"d{key}": np.zeros_like(value, dtype=np.float64) for key, value in parameters.items()}


def _ewma(average: np.ndarray, value: np.ndarray, beta: float) -> np.ndarray:
    """Exponentially weighted average beta * average + (1 - beta) * value (Course 2, Week 2)."""
    return beta * average + (1.0 - beta) * value


def _scaled_step(first: np.ndarray, second: np.ndarray, epsilon: float, inside: bool) -> np.ndarray:
    """first / (sqrt(second) + eps), or first / sqrt(second + eps) with `inside`."""
    return first / (np.sqrt(second + epsilon) if inside else np.sqrt(second) + epsilon)


def gradient_descent_update(parameters: Params, grads: Params, learning_rate: float) -> Params:
    """W := W - alpha dW for every parameter."""
    _check_rate(learning_rate)
    return {key: value - learning_rate * grads[f"d{key}"] for key, value in parameters.items()}


def momentum_update(
    parameters: Params, grads: Params, velocity: Params, beta: float = 0.9, learning_rate: float = 0.01
) -> tuple[Params, Params]:
    """One step of gradient descent with momentum; returns (parameters, velocity)."""
    _check_rate(learning_rate)
    _check_beta("beta", beta)
    velocity = {f"d{key}": _ewma(velocity[f"d{key}"], grads[f"d{key}"], beta) for key in parameters}
    parameters = {key: value - learning_rate * velocity[f"d{key}"] for key, value in parameters.items()}
    return parameters, velocity


def rmsprop_update(
    parameters: Params,
    grads: Params,
    squares: Params,
    beta: float = 0.9,
    learning_rate: float = 0.001,
    epsilon: float = 1e-8,
    epsilon_inside_sqrt: bool = False,
) -> tuple[Params, Params]:
    """One RMSprop step; returns (parameters, squares) where squares are the s of the lesson."""
    _check_rate(learning_rate)
    _check_beta("beta", beta)
    squares = {f"d{key}": _ewma(squares[f"d{key}"], np.square(grads[f"d{key}"]), beta) for key in parameters}
    parameters = {
        key: value
        - learning_rate * _scaled_step(grads[f"d{key}"], squares[f"d{key}"], epsilon, epsilon_inside_sqrt)
        for key, value in parameters.items()
    }
    return parameters, squares


def adam_update(
    parameters: Params,
    grads: Params,
    velocity: Params,
    squares: Params,
    t: int,
    learning_rate: float = 0.001,
    beta1: float = 0.9,
    beta2: float = 0.999,
    epsilon: float = 1e-8,
    epsilon_inside_sqrt: bool = False,
) -> tuple[Params, Params, Params]:
    """One Adam step number `t` (counting from 1); returns (parameters, velocity, squares).

    The bias corrections v / (1 - beta1^t) and s / (1 - beta2^t) are applied
    to the step only; the stored moments stay uncorrected.
    """
    _check_rate(learning_rate)
    _check_beta("beta1", beta1)
    _check_beta("beta2", beta2)
    if t < 1:
        raise ValueError(f"The Adam step counter t starts at 1. Received: t={t}")
    velocity = {f"d{key}": _ewma(velocity[f"d{key}"], grads[f"d{key}"], beta1) for key in parameters}
    squares = {f"d{key}": _ewma(squares[f"d{key}"], np.square(grads[f"d{key}"]), beta2) for key in parameters}
    updated = {}
    for key, value in parameters.items():
        v_corrected = velocity[f"d{key}"] / (1.0 - beta1**t)
        s_corrected = squares[f"d{key}"] / (1.0 - beta2**t)
        updated[key] = value - learning_rate * _scaled_step(
            v_corrected, s_corrected, epsilon, epsilon_inside_sqrt
        )
    return updated, velocity, squares
