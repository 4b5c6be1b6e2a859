"""Recurrent cells in NumPy: the basic RNN (forward and backprop through time), the GRU and the LSTM.

Course 5, Week 1 ("Recurrent Neural Network Model", "Backpropagation
through time", "Gated Recurrent Unit (GRU)", "Long Short Term Memory
(LSTM)"). These are the oracles of the Keras cells in `kerasdl.nn.cells`.

Layout (column-major, as in the lessons and the rest of `kerasdl.scratch`):
one time step x<t> is [n_x, m] with one example per column, a hidden state
a<t> (or memory cell c<t>) is [n_a, m], and a whole sequence stacks the
time steps last: x is [n_x, m, T_x], a is [n_a, m, T_x]. Biases are
[n_a, 1]. The gated cells read the lesson's concatenation [a<t-1>, x<t>],
the two stacked vertically into [n_a + n_x, m], so their weights W_u, W_f,
W_o, W_c (and W_r) are [n_a, n_a + n_x]: the first n_a columns act on
a<t-1>, the other n_x on x<t>.

Basic RNN (g is tanh in the lesson, sometimes ReLU):

    a<t> = g(W_aa a<t-1> + W_ax x<t> + b_a)

GRU (a<t> = c<t>; the simplified GRU drops the relevance gate G_r, i.e.
reads c<t-1> where the full one reads G_r * c<t-1>):

    G_u   = sigmoid(W_u [c<t-1>, x<t>] + b_u)           update gate
    G_r   = sigmoid(W_r [c<t-1>, x<t>] + b_r)           relevance gate
    c~<t> = tanh(W_c [G_r * c<t-1>, x<t>] + b_c)
    c<t>  = G_u * c~<t> + (1 - G_u) * c<t-1>

LSTM (optional peephole connections p_u, p_f, p_o, one weight per unit, as
in Gers & Schmidhuber 2000: the lesson's "sometimes c<t-1>" in the gates):

    c~<t> = tanh(W_c [a<t-1>, x<t>] + b_c)
    G_u   = sigmoid(W_u [a<t-1>, x<t>] + p_u * c<t-1> + b_u)   update gate
    G_f   = sigmoid(W_f [a<t-1>, x<t>] + p_f * c<t-1> + b_f)   forget gate
    c<t>  = G_u * c~<t> + G_f * c<t-1>
    G_o   = sigmoid(W_o [a<t-1>, x<t>] + p_o * c<t> + b_o)     output gate
    a<t>  = G_o * tanh(c<t>)

Backprop through time (basic RNN): given da, the gradient of a cost J with
respect to every hidden state a<t> coming from above (from the outputs
y_hat<t>), walk t = T_x..1 adding the gradient that flows back from a<t+1>:

    dz<t>      = (da<t> + da_next) * g'(z<t>)       z<t> = W_aa a<t-1> + W_ax x<t> + b_a
    dW_ax     += dz<t> x<t>^T        dW_aa += dz<t> a<t-1>^T        db_a += sum over m of dz<t>
    dx<t>      = W_ax^T dz<t>        da_next = W_aa^T dz<t>         (da0 is the last da_next)

Nothing is averaged over m here: J already holds whatever mean the loss
takes, and da carries it.

Example:

    >>> import numpy as np
    >>> from kerasdl.scratch import rnn
    >>> rng = np.random.default_rng(0)
    >>> parameters = {"Wax": rng.normal(size=(5, 3)), "Waa": rng.normal(size=(5, 5)), "ba": np.zeros((5, 1))}
    >>> a, caches = rnn.rnn_forward(rng.normal(size=(3, 10, 4)), np.zeros((5, 10)), parameters)
    >>> a.shape
    (5, 10, 4)
    >>> rnn.rnn_backward(np.ones_like(a), caches)["dWaa"].shape
    (5, 5)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from kerasdl.scratch import activations

PEEPHOLES = ("pu", "pf", "po")


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return activations.sigmoid(z)[0]


def _check_sequence(x: np.ndarray, state: np.ndarray, state_name: str) -> None:
    if np.ndim(x) != 3 or np.ndim(state) != 2 or np.shape(state)[1] != np.shape(x)[1]:
        raise ValueError(
            f"Expected x [n_x, m, T_x] and {state_name} [n_a, m] with the same m. "
            f"Received: x.shape={np.shape(x)}, {state_name}.shape={np.shape(state)}"
        )


def gate_weights(
    parameters: Mapping[str, np.ndarray], gates: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lesson's gate weights laid out as the Keras cells (`kerasdl.nn.cells`) keep them.

    Each W_g [n_a, n_a + n_x] acts on [a<t-1>, x<t>]; a Keras cell computes
    x<t> kernel + a<t-1> recurrent_kernel + bias on rows, with one column
    block per gate, so block g of `kernel` is W_g[:, n_a:]^T, of
    `recurrent_kernel` W_g[:, :n_a]^T, and of `bias` b_g[:, 0].

    Args:
        parameters: "W{g}" and "b{g}" for every g in `gates`.
        gates: the block order, e.g. ("u", "f", "c", "o") for the LSTM.

    Returns:
        (kernel [n_x, k n_a], recurrent_kernel [n_a, k n_a], bias [k n_a]) for k = len(gates).
    """
    n_a = parameters[f"b{gates[0]}"].shape[0]
    kernel = np.concatenate([parameters[f"W{g}"][:, n_a:].T for g in gates], axis=1)
    recurrent_kernel = np.concatenate([parameters[f"W{g}"][:, :n_a].T for g in gates], axis=1)
    bias = np.concatenate([parameters[f"b{g}"][:, 0] for g in gates])
    return kernel, recurrent_kernel, bias


def gate_parameters(
    kernel: np.ndarray, recurrent_kernel: np.ndarray, bias: np.ndarray, gates: Sequence[str]
) -> dict[str, np.ndarray]:
    """The inverse of `gate_weights`: {"W{g}": [n_a, n_a + n_x], "b{g}": [n_a, 1]} for every gate g."""
    n_a = recurrent_kernel.shape[0]
    if recurrent_kernel.shape[1] != len(gates) * n_a or kernel.shape[1] != len(gates) * n_a:
        raise ValueError(
            f"Expected {len(gates)} blocks of n_a={n_a} columns for gates={tuple(gates)}. Received: "
            f"kernel.shape={kernel.shape}, recurrent_kernel.shape={recurrent_kernel.shape}"
        )
    parameters = {}
    for index, g in enumerate(gates):
        block = slice(index * n_a, (index + 1) * n_a)
        parameters[f"W{g}"] = np.concatenate([recurrent_kernel[:, block].T, kernel[:, block].T], axis=1)
        parameters[f"b{g}"] = bias[block].reshape(-1, 1)
    return parameters


# Basic RNN ------------------------------------------------------------------------------------------------


class RNNCellCache(NamedTuple):
    """What one basic-RNN step keeps for its backward pass.

    Attributes:
        xt: the input x<t> [n_x, m].
        a_prev: the previous hidden state a<t-1> [n_a, m].
        z: the pre-activation W_aa a<t-1> + W_ax x<t> + b_a [n_a, m].
        Wax: the input weights [n_a, n_x].
        Waa: the recurrent weights [n_a, n_a].
        activation: the name of g.
    """

    xt: np.ndarray
    a_prev: np.ndarray
    z: np.ndarray
    Wax: np.ndarray
    Waa: np.ndarray
    activation: str


def rnn_cell_forward(
    xt: np.ndarray, a_prev: np.ndarray, parameters: Mapping[str, np.ndarray], activation: str = "tanh"
) -> tuple[np.ndarray, RNNCellCache]:
    """One step of the basic RNN: a<t> = g(W_aa a<t-1> + W_ax x<t> + b_a).

    Args:
        xt: x<t> [n_x, m].
        a_prev: a<t-1> [n_a, m].
        parameters: "Wax" [n_a, n_x], "Waa" [n_a, n_a], "ba" [n_a, 1].
        activation: g, a `kerasdl.scratch.activations` name ("tanh" in the lesson, or "relu").

    Returns:
        (a_next, cache).
    """
    forward, _ = activations.get(activation)
    Wax, Waa, ba = parameters["Wax"], parameters["Waa"], parameters["ba"]
    z = Waa @ a_prev + Wax @ xt + ba
    a_next, _ = forward(z)
    return a_next, RNNCellCache(xt, a_prev, z, Wax, Waa, activation)


def rnn_forward(
    x: np.ndarray, a0: np.ndarray, parameters: Mapping[str, np.ndarray], activation: str = "tanh"
) -> tuple[np.ndarray, list[RNNCellCache]]:
    """The basic RNN over a whole sequence, from a<0> = a0.

    Args:
        x: the inputs [n_x, m, T_x].
        a0: the initial hidden state [n_a, m] (zeros in the lesson).
        parameters: as in `rnn_cell_forward`.
        activation: g.

    Returns:
        (a, caches): the hidden states a<1>..a<T_x> stacked into [n_a, m, T_x], one cache per step.
    """
    _check_sequence(x, a0, "a0")
    a = np.zeros((a0.shape[0], x.shape[1], x.shape[2]))
    caches = []
    a_next = a0
    for t in range(x.shape[2]):
        a_next, cache = rnn_cell_forward(x[:, :, t], a_next, parameters, activation)
        a[:, :, t] = a_next
        caches.append(cache)
    return a, caches


def rnn_cell_backward(da_next: np.ndarray, cache: RNNCellCache) -> dict[str, np.ndarray]:
    """The gradients of one basic-RNN step, given dJ/da<t> (all of it: from above and from a<t+1>).

    Returns:
        {"dxt", "da_prev", "dWax", "dWaa", "dba"}.
    """
    _, backward = activations.get(cache.activation)
    dz = backward(da_next, cache.z)
    return {
        "dxt": cache.Wax.T @ dz,
        "da_prev": cache.Waa.T @ dz,
        "dWax": dz @ cache.xt.T,
        "dWaa": dz @ cache.a_prev.T,
        "dba": np.sum(dz, axis=1, keepdims=True),
    }


def rnn_backward(da: np.ndarray, caches: Sequence[RNNCellCache]) -> dict[str, np.ndarray]:
    """Backprop through time for the basic RNN.

    Args:
        da: dJ/da<t> from above for every step [n_a, m, T_x] (zeros where a
            step has no output), without the part that flows back from a<t+1>.
        caches: `rnn_forward`'s caches.

    Returns:
        {"dx" [n_x, m, T_x], "da0" [n_a, m], "dWax", "dWaa", "dba"}.
    """
    if da.ndim != 3 or da.shape[2] != len(caches):
        raise ValueError(
            f"Expected da [n_a, m, T_x] with one step per cache ({len(caches)}). "
            f"Received: da.shape={da.shape}"
        )
    first = caches[0]
    dx = np.zeros((first.xt.shape[0], da.shape[1], da.shape[2]))
    grads = {
        "dWax": np.zeros_like(first.Wax),
        "dWaa": np.zeros_like(first.Waa),
        "dba": np.zeros((da.shape[0], 1)),
    }
    da_prev = np.zeros(da.shape[:2])
    for t in reversed(range(da.shape[2])):
        step = rnn_cell_backward(da[:, :, t] + da_prev, caches[t])
        dx[:, :, t], da_prev = step["dxt"], step["da_prev"]
        for key in grads:
            grads[key] += step[key]
    return {"dx": dx, "da0": da_prev, **grads}


# GRU ------------------------------------------------------------------------------------------------------


class GRUCellCache(NamedTuple):
    """What one GRU step computed (for inspection; there is no GRU backward here).

    Attributes:
        xt: the input x<t>.
        c_prev: the previous memory cell c<t-1>.
        gate_u: the update gate G_u.
        gate_r: the relevance gate G_r (None for the simplified GRU).
        c_tilde: the candidate c~<t>.
        c_next: c<t>, which is also a<t>.
    """

    xt: np.ndarray
    c_prev: np.ndarray
    gate_u: np.ndarray
    gate_r: np.ndarray | None
    c_tilde: np.ndarray
    c_next: np.ndarray


def gru_cell_forward(
    xt: np.ndarray, c_prev: np.ndarray, parameters: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, GRUCellCache]:
    """One GRU step: the full GRU when `parameters` hold "Wr" and "br", the simplified one otherwise.

    Args:
        xt: x<t> [n_x, m].
        c_prev: c<t-1> = a<t-1> [n_a, m].
        parameters: "Wu", "Wc" ([n_a, n_a + n_x]), "bu", "bc" ([n_a, 1]), and
            "Wr", "br" for the relevance gate.

    Returns:
        (c_next, cache).
    """
    concat = np.concatenate([c_prev, xt], axis=0)
    gate_u = _sigmoid(parameters["Wu"] @ concat + parameters["bu"])
    gate_r = None
    relevant = c_prev
    if "Wr" in parameters:
        gate_r = _sigmoid(parameters["Wr"] @ concat + parameters["br"])
        relevant = gate_r * c_prev
    c_tilde = np.tanh(parameters["Wc"] @ np.concatenate([relevant, xt], axis=0) + parameters["bc"])
    c_next = gate_u * c_tilde + (1.0 - gate_u) * c_prev
    return c_next, GRUCellCache(xt, c_prev, gate_u, gate_r, c_tilde, c_next)


def gru_forward(
    x: np.ndarray, c0: np.ndarray, parameters: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, list[GRUCellCache]]:
    """The GRU over a whole sequence; returns (c [n_a, m, T_x], caches). c<t> is also the output a<t>."""
    _check_sequence(x, c0, "c0")
    c = np.zeros((c0.shape[0], x.shape[1], x.shape[2]))
    caches = []
    c_next = c0
    for t in range(x.shape[2]):
        c_next, cache = gru_cell_forward(x[:, :, t], c_next, parameters)
        c[:, :, t] = c_next
        caches.append(cache)
    return c, caches


# LSTM -----------------------------------------------------------------------------------------------------


class LSTMCellCache(NamedTuple):
    """What one LSTM step computed (for inspection; there is no LSTM backward here).

    Attributes:
        xt: the input x<t>.
        a_prev: a<t-1>.
        c_prev: c<t-1>.
        gate_u: the update gate G_u.
        gate_f: the forget gate G_f.
        gate_o: the output gate G_o.
        c_tilde: the candidate c~<t>.
        c_next: c<t>.
        a_next: a<t>.
    """

    xt: np.ndarray
    a_prev: np.ndarray
    c_prev: np.ndarray
    gate_u: np.ndarray
    gate_f: np.ndarray
    gate_o: np.ndarray
    c_tilde: np.ndarray
    c_next: np.ndarray
    a_next: np.ndarray


def _peepholes(parameters: Mapping[str, np.ndarray]) -> tuple:
    present = [key in parameters for key in PEEPHOLES]
    if any(present) and not all(present):
        raise ValueError(
            f"A peephole LSTM needs all of {PEEPHOLES}. Received: parameters with "
            f"{[key for key in PEEPHOLES if key in parameters]}"
        )
    return tuple(parameters[key] for key in PEEPHOLES) if all(present) else (0.0, 0.0, 0.0)


def lstm_cell_forward(
    xt: np.ndarray, a_prev: np.ndarray, c_prev: np.ndarray, parameters: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, LSTMCellCache]:
    """One LSTM step, with peephole connections when `parameters` hold "pu", "pf" and "po".

    Args:
        xt: x<t> [n_x, m].
        a_prev: a<t-1> [n_a, m].
        c_prev: c<t-1> [n_a, m].
        parameters: "Wu", "Wf", "Wo", "Wc" ([n_a, n_a + n_x]), "bu", "bf",
            "bo", "bc" ([n_a, 1]); optionally "pu", "pf", "po" ([n_a, 1]),
            one peephole weight per unit.

    Returns:
        (a_next, c_next, cache).
    """
    p_u, p_f, p_o = _peepholes(parameters)
    concat = np.concatenate([a_prev, xt], axis=0)
    c_tilde = np.tanh(parameters["Wc"] @ concat + parameters["bc"])
    gate_u = _sigmoid(parameters["Wu"] @ concat + p_u * c_prev + parameters["bu"])
    gate_f = _sigmoid(parameters["Wf"] @ concat + p_f * c_prev + parameters["bf"])
    c_next = gate_u * c_tilde + gate_f * c_prev
    gate_o = _sigmoid(parameters["Wo"] @ concat + p_o * c_next + parameters["bo"])
    a_next = gate_o * np.tanh(c_next)
    return a_next, c_next, LSTMCellCache(xt, a_prev, c_prev, gate_u, gate_f, gate_o, c_tilde, c_next, a_next)


def lstm_forward(
    x: np.ndarray, a0: np.ndarray, parameters: Mapping[str, np.ndarray], c0: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, list[LSTMCellCache]]:
    """The LSTM over a whole sequence.

    Args:
        x: the inputs [n_x, m, T_x].
        a0: the initial hidden state [n_a, m].
        parameters: as in `lstm_cell_forward`.
        c0: the initial memory cell [n_a, m]; zeros by default.

    Returns:
        (a, c, caches): hidden states and memory cells [n_a, m, T_x] each, one cache per step.
    """
    _check_sequence(x, a0, "a0")
    c_next = np.zeros_like(a0) if c0 is None else c0
    a = np.zeros((a0.shape[0], x.shape[1], x.shape[2]))
    c = np.zeros_like(a)
    caches = []
    a_next = a0
    for t in range(x.shape[2]):
        a_next, c_next, cache = lstm_cell_forward(x[:, :, t], a_next, c_next, parameters)
        a[:, :, t], c[:, :, t] = a_next, c_next
        caches.append(cache)
    return a, c, caches
