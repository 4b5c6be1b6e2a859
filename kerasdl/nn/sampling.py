"""Sampling novel sequences from a language model, with a temperature.

Course 5, Week 1, "Sampling novel sequences": a trained language model
gives P(y<t> | y<1>, ..., y<t-1>); to generate, sample y<1> from the first
distribution, feed it back as the next input x<2> = y<1>, sample y<2>, and
so on, until the model samples <EOS> or the length runs out.

The temperature T reshapes each distribution before the draw:

    p_T(i) = p(i)^(1/T) / sum_j p(j)^(1/T)     (softmax(z / T) for logits z)

T = 1 samples the model's own distribution; T < 1 sharpens it (more
likely, more repetitive text) and T -> 0 becomes the argmax (greedy
decoding); T > 1 flattens it (more surprising text, more misspellings).
T = 0 is accepted and means the argmax.

NumPy does the sampling (a draw per step is tiny), so this runs beside
any Keras backend; `keras.ops.convert_to_numpy` reads the model's outputs.

Example:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> sample_next(np.array([0.1, 0.7, 0.2]), temperature=0.0, rng=rng)
    1
    >>> bigram = {0: [0.0, 1.0, 0.0], 1: [0.0, 0.0, 1.0], 2: [1.0, 0.0, 0.0]}   # 0 -> 1 -> 2 -> 0
    >>> generate(lambda token: bigram[token], seed=[0], length=4, rng=rng)
    [1, 2, 0, 1]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from keras import ops


def _check_temperature(temperature) -> float:
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float, np.integer, np.floating))
        or not math.isfinite(temperature)
        or temperature < 0
    ):
        raise ValueError(
            "temperature must be a finite number >= 0 (0 takes the argmax, 1 samples the model's "
            f"distribution). Received: temperature={temperature!r}"
        )
    return float(temperature)


def _as_probabilities(probs) -> np.ndarray:
    probs = np.asarray(ops.convert_to_numpy(probs), dtype=np.float64)
    if probs.ndim == 0 or probs.shape[-1] == 0:
        raise ValueError(f"probs must hold a distribution along its last axis. Received: shape={probs.shape}")
    if not np.all(np.isfinite(probs)) or np.any(probs < 0):
        raise ValueError(
            "probs must be finite and non-negative. Received: probs with negative or non-finite values"
        )
    if np.any(probs.sum(axis=-1) <= 0):
        raise ValueError("probs must have a positive sum along the last axis. Received: all zeros")
    return probs


def apply_temperature(probs, temperature: float) -> np.ndarray:
    """p^(1/T), normalized along the last axis; T = 0 puts all the mass on the argmax.

    Computed in log space, so a small T neither overflows nor underflows.

    Args:
        probs: non-negative weights [..., V] (a softmax output; need not sum exactly to 1).
        temperature: T >= 0.

    Returns:
        float64 probabilities [..., V].
    """
    temperature = _check_temperature(temperature)
    probs = _as_probabilities(probs)
    if temperature == 0:
        return np.eye(probs.shape[-1])[np.argmax(probs, axis=-1)]
    with np.errstate(divide="ignore"):
        logits = np.log(probs) / temperature
    logits -= np.max(logits, axis=-1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=-1, keepdims=True)


def sample_next(probs, temperature: float = 1.0, rng: np.random.Generator | None = None):
    """Draws the next token from `probs` [..., V] reshaped by `temperature`.

    Args:
        probs: the model's distribution over the next token, [V] or a batch [..., V].
        temperature: T >= 0 (module docstring); 0 is the argmax, no draw.
        rng: a NumPy Generator; seed it for reproducible samples.

    Returns:
        An int for probs [V], an int64 array [...] for a batch.
    """
    reshaped = apply_temperature(probs, temperature)
    if temperature == 0:
        tokens = np.argmax(reshaped, axis=-1)
    else:
        rng = rng if rng is not None else np.random.default_rng()
        cumulative = np.cumsum(reshaped, axis=-1)
        draws = rng.random(reshaped.shape[:-1] + (1,)) * cumulative[..., -1:]
        # The first i whose cumulative mass exceeds the draw (inverse-CDF sampling).
        tokens = np.minimum(np.sum(cumulative <= draws, axis=-1), reshaped.shape[-1] - 1)
    return int(tokens) if np.ndim(tokens) == 0 else tokens.astype(np.int64)


def generate(
    predict_next: Callable[[int], object],
    seed: Sequence[int],
    length: int,
    temperature: float = 1.0,
    rng: np.random.Generator | None = None,
    end: int | None = None,
) -> list[int]:
    """Samples a sequence, feeding each sampled token back as the next input (x<t+1> = y<t>).

    Args:
        predict_next: called with one token, returns the distribution [V] of
            the token after it. For a recurrent model it keeps the hidden
            state between calls (a fresh one per sequence), so it sees the
            whole sequence so far.
        seed: the first input tokens, at least one (e.g. [EOS] to start a
            new text, or a prompt's ids); all but the last only advance the state.
        length: the most tokens to sample.
        temperature: T >= 0 of every draw.
        rng: a NumPy Generator; seed it for reproducible samples.
        end: a token that ends the sequence (<EOS>); it is not returned.

    Returns:
        The sampled tokens (not the seed), at most `length` of them.
    """
    _check_temperature(temperature)
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise ValueError(f"length must be a non-negative integer. Received: length={length!r}")
    if len(seed) == 0:
        raise ValueError("seed must hold at least one token, the first input. Received: seed=[]")
    rng = rng if rng is not None else np.random.default_rng()
    for token in seed[:-1]:
        predict_next(int(token))
    token, tokens = int(seed[-1]), []
    for _ in range(length):
        token = sample_next(predict_next(token), temperature, rng)
        if token == end:
            break
        tokens.append(token)
    return tokens
