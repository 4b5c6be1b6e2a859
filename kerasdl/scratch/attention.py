"""The attention model in NumPy: one attention step, and the post-attention LSTM decoder around it.

Course 5, Week 3 ("Attention model intuition", "Attention model"; Bahdanau
et al. 2014). These are the oracles of `kerasdl.nn.attention`.

Layout (column-major, as in `kerasdl.scratch.rnn`): the encoder's
activations a<t'> = [a->(t'); a<-(t')] are a [n_a, m, T_x] array (one
example per column, time last), the decoder's previous hidden state s<t-1>
is [n_s, m].

One attention step, written as the lesson draws it: for every input
position t', a small network reads the concatenation [a<t'>; s<t-1>] and
gives an "energy" e<t,t'>; a softmax over t' turns the energies into the
attention weights, and the context is the weighted sum of the a<t'>:

    e<t,t'>     = g_e(W2 g(W1 [a<t'>; s<t-1>] + b1) + b2)      g = tanh, g_e = ReLU in the course
    alpha<t,t'> = exp(e<t,t'>) / sum_{t''=1..T_x} exp(e<t,t''>)
    c<t>        = sum_{t'} alpha<t,t'> a<t'>

W1 is [units, n_a + n_s] (its first n_a columns act on a<t'>, as the
course's `concatenate([a, s_prev])`), b1 [units, 1], W2 [1, units], b2
[1, 1]. Masked (padding) positions get no weight: the softmax runs over the
real positions only.

The decoder (the post-attention LSTM), one output step t = 1..T_y:

    c<t>         = attention(s<t-1>, a)
    s<t>, m<t>   = LSTM([c<t>; E y<t-1>], s<t-1>, m<t-1>)      s<0> = m<0> = 0; without E: LSTM(c<t>)
    y_hat<t>     = softmax(W_y s<t> + b_y)

where y<t-1> is the previous output token (the true one during training:
teacher forcing; y<0> is <start>) and E its embedding matrix [n_e, V]; the
course's own decoder reads only c<t>. The LSTM step is
`kerasdl.scratch.rnn.lstm_cell_forward`.

Example:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> parameters = {"W1": rng.normal(size=(10, 7)), "b1": np.zeros((10, 1)),
    ...               "W2": rng.normal(size=(1, 10)), "b2": np.zeros((1, 1))}
    >>> context, alphas = attention_step(rng.normal(size=(3, 2)), rng.normal(size=(4, 2, 5)), parameters)
    >>> context.shape, alphas.shape, np.allclose(alphas.sum(axis=0), 1.0)
    ((4, 2), (5, 2), True)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from kerasdl.scratch import rnn

ACTIVATIONS = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0), "linear": lambda z: z}


def _activation(name: str):
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}. Received: {name!r}")
    return ACTIVATIONS[name]


def attention_step(
    s_prev: np.ndarray,
    a: np.ndarray,
    parameters: Mapping[str, np.ndarray],
    mask: np.ndarray | None = None,
    activation: str = "tanh",
    energy_activation: str = "relu",
) -> tuple[np.ndarray, np.ndarray]:
    """One attention step: the context c<t> and the weights alpha<t, t'> for every input position.

    Args:
        s_prev: s<t-1> [n_s, m].
        a: the encoder's activations [n_a, m, T_x].
        parameters: "W1" [units, n_a + n_s], "b1" [units, 1], "W2" [1, units], "b2" [1, 1].
        mask: [m, T_x] booleans, True at real positions; None: every position is real.
        activation: g of the hidden layer ("tanh" in the course).
        energy_activation: g_e of the energy ("relu" in the course, "linear" in Bahdanau et al.).

    Returns:
        (context [n_a, m], alphas [T_x, m]); each column of alphas sums to 1.
    """
    n_a, m, t_x = a.shape
    g, g_e = _activation(activation), _activation(energy_activation)
    energies = np.zeros((t_x, m))
    for t_prime in range(t_x):
        concat = np.concatenate([a[:, :, t_prime], s_prev], axis=0)  # [n_a + n_s, m]
        hidden = g(parameters["W1"] @ concat + parameters["b1"])
        energies[t_prime] = g_e(parameters["W2"] @ hidden + parameters["b2"])[0]
    real = np.ones((t_x, m), bool) if mask is None else np.asarray(mask, bool).T
    shifted = np.where(real, energies - energies.max(axis=0, where=real, initial=-np.inf), -np.inf)
    weights = np.exp(shifted)
    alphas = weights / weights.sum(axis=0, keepdims=True)
    context = np.zeros((n_a, m))
    for t_prime in range(t_x):
        context += alphas[t_prime] * a[:, :, t_prime]
    return context, alphas


def attention_decoder_forward(
    a: np.ndarray,
    previous_tokens: np.ndarray | None,
    parameters: Mapping[str, np.ndarray],
    steps: int | None = None,
    mask: np.ndarray | None = None,
    activation: str = "tanh",
    energy_activation: str = "relu",
) -> tuple[np.ndarray, np.ndarray]:
    """The post-attention LSTM over T_y output steps, from s<0> = m<0> = 0.

    Args:
        a: the encoder's activations [n_a, m, T_x].
        previous_tokens: y<t-1> for t = 1..T_y, int [m, T_y] (teacher forcing); None for the
            course's decoder, which reads only the context.
        parameters: the attention's "W1", "b1", "W2", "b2"; the LSTM's "Wu", "Wf", "Wo", "Wc"
            ([n_s, n_s + n_x]) and "bu", "bf", "bo", "bc" ([n_s, 1]), where the LSTM's input
            x<t> = [c<t>; E y<t-1>] has n_x = n_a + n_e; "E" [n_e, V_in] when previous tokens
            are read; the output layer's "Wy" [V, n_s] and "by" [V, 1].
        steps: T_y when `previous_tokens` is None.
        mask, activation, energy_activation: as in `attention_step`.

    Returns:
        (logits [V, m, T_y] (the softmax's inputs W_y s<t> + b_y), alphas [T_y, T_x, m]).
    """
    n_a, m, t_x = a.shape
    n_s = parameters["bu"].shape[0]
    t_y = previous_tokens.shape[1] if previous_tokens is not None else steps
    if t_y is None:
        raise ValueError("Give previous_tokens, or steps for a decoder without feedback.")
    s, memory = np.zeros((n_s, m)), np.zeros((n_s, m))
    logits = np.zeros((parameters["by"].shape[0], m, t_y))
    alphas = np.zeros((t_y, t_x, m))
    for t in range(t_y):
        context, alphas[t] = attention_step(s, a, parameters, mask, activation, energy_activation)
        x = context
        if previous_tokens is not None:
            x = np.concatenate([context, parameters["E"][:, previous_tokens[:, t]]], axis=0)
        s, memory, _ = rnn.lstm_cell_forward(x, s, memory, parameters)
        logits[:, :, t] = parameters["Wy"] @ s + parameters["by"]
    return logits, alphas
