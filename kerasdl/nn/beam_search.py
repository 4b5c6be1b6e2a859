"""Greedy and beam search for the most likely output sequence, with length normalization.

Course 5, Week 3 ("Picking the most likely sentence", "Beam search",
"Refinements to beam search"). A conditional language model gives
P(y<t> | x, y<1>, ..., y<t-1>); the output wanted is

    argmax_y P(y | x) = argmax_y sum_{t=1..T_y} log P(y<t> | x, y<1>, ..., y<t-1>)

(a sum of logs: a product of many probabilities underflows). Greedy search
takes the single most likely token at each step, which need not give the
most likely sequence. Beam search keeps the B most likely partial outputs
(the beam width): at each step it extends every one of them by every token
and keeps the B best of those B x V candidates. B = 1 is greedy search; a
larger B searches more, and with B >= V^T_y it enumerates every output.

Length normalization: every log-probability is negative, so the plain sum
prefers short outputs. The lesson ranks the candidates by

    score(y) = 1 / T_y^alpha * sum_{t=1..T_y} log P(y<t> | x, y<1..t-1>)

with alpha between 0 (the plain sum) and 1 (the mean log-probability);
0.7 is the lesson's middle ground. T_y counts the tokens the model chose,
<EOS> included.

What this search does, step by step: within a step every candidate has the
same length, so it keeps the B best by their sum. A candidate that ends in
<EOS> is finished: it leaves the beam (which then holds fewer live
hypotheses) and never grows again, but it stays a candidate. The search
ends when no live hypothesis is left or after `max_length` tokens, when the
live ones become candidates too, marked unfinished. The answer is the
candidate with the highest normalized score; ties go to the one found
first.

The model is a step function, called once per output step with every live
hypothesis as one row:

    log_probs, new_state = step(tokens, state)

`tokens` is int [R], each row's last token (<start> at the first step);
`state` is a structure (dict, list, tuple) of arrays whose first axis has
the R rows; `log_probs` is [R, V], log P(next token | x, the row's prefix);
`new_state` has the same structure. Rows are reordered and copied between
steps by indexing every array of the state (NumPy). Anything constant per
example, such as the encoder's activations, can stay outside the state:
put each row's example index in it and look the constant up in `step`.
Greedy search uses the same interface, so both drive any Keras backend;
NumPy does the bookkeeping.

Example:

    >>> import numpy as np
    >>> table = np.log(np.array([[0.6, 0.4, 0.0], [0.1, 0.1, 0.8], [0.0, 0.0, 1.0]]) + 1e-12)
    >>> step = lambda tokens, state: (table[tokens], state)   # a Markov model; token 2 is <EOS>
    >>> greedy_search(step, {}, start_tokens=[0], end_token=2, max_length=5)[0].tokens
    (0, 0, 0, 0, 0)
    >>> best = beam_search(step, {}, start_tokens=[0], end_token=2, max_length=5, beam_width=3, alpha=0.7)
    >>> best[0][0].tokens, best[0][0].finished
    ((1,), True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from keras import ops, tree

StepFunction = Callable[[np.ndarray, object], tuple[object, object]]


def normalized_score(log_probability, length, alpha: float):
    """The lesson's length-normalized score, 1 / T_y^alpha * log P(y | x) (NumPy arrays or numbers)."""
    return np.asarray(log_probability, np.float64) / np.power(np.asarray(length, np.float64), alpha)


@dataclass(frozen=True)
class Hypothesis:
    """One candidate output.

    Attributes:
        tokens: y<1>, ..., y<T> without the <EOS>.
        log_probability: sum_t log P(y<t> | x, y<1..t-1>), the <EOS> step included when finished.
        finished: it ended with <EOS>; False when the search stopped at `max_length`.
    """

    tokens: tuple[int, ...]
    log_probability: float
    finished: bool

    @property
    def length(self) -> int:
        """T_y, the tokens the model chose: <EOS> counts."""
        return len(self.tokens) + int(self.finished)

    def score(self, alpha: float) -> float:
        """The normalized score 1 / T_y^alpha * log P(y | x)."""
        return float(normalized_score(self.log_probability, self.length, alpha))


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}. Received: {name}={value!r}")
    return int(value)


def _check_alpha(alpha) -> float:
    if (
        isinstance(alpha, bool)
        or not isinstance(alpha, (int, float))
        or not math.isfinite(alpha)
        or alpha < 0
    ):
        raise ValueError(
            "alpha must be a finite number >= 0 (0: no length normalization, 1: the mean). "
            f"Received: alpha={alpha!r}"
        )
    return float(alpha)


def _start(start_tokens) -> np.ndarray:
    start = np.asarray(start_tokens)
    if start.ndim != 1 or not np.issubdtype(start.dtype, np.integer):
        raise ValueError(
            f"start_tokens must be a 1-D integer array, one per example. Received: {start_tokens!r}"
        )
    return start


def _numpy(structure):
    """A NumPy copy of every array of the structure (the search writes rows into it)."""
    return tree.map_structure(lambda x: np.array(ops.convert_to_numpy(x)), structure)


def _rows(structure, rows: np.ndarray):
    return tree.map_structure(lambda x: x[rows], structure)


def _set_rows(structure, rows: np.ndarray, values) -> None:
    for array, value in zip(tree.flatten(structure), tree.flatten(values), strict=True):
        array[rows] = value


def _log_probabilities(values, rows: int) -> np.ndarray:
    log_probs = np.asarray(ops.convert_to_numpy(values), np.float64)
    if log_probs.ndim != 2 or log_probs.shape[0] != rows:
        raise ValueError(
            f"step must return log-probabilities [rows, vocabulary], here [{rows}, V]. "
            f"Received: shape={log_probs.shape}"
        )
    return log_probs


def greedy_search(
    step: StepFunction, initial_state, start_tokens, end_token: int, max_length: int
) -> list[Hypothesis]:
    """The most likely token at every step, fed back as the next input, until <EOS> or `max_length`.

    Args:
        step: the step function (module docstring).
        initial_state: the state of each example, a structure of arrays [N, ...].
        start_tokens: int [N], y<0> of each example (<start>).
        end_token: the <EOS> id.
        max_length: the most tokens to choose, <EOS> included.

    Returns:
        One `Hypothesis` per example.
    """
    start = _start(start_tokens)
    max_length = _check_int("max_length", max_length, 1)
    count = len(start)
    state = _numpy(initial_state)
    tokens = start.copy()
    outputs: list[list[int]] = [[] for _ in range(count)]
    log_probability = np.zeros(count)
    finished = np.zeros(count, bool)
    for _ in range(max_length):
        rows = np.flatnonzero(~finished)
        if rows.size == 0:
            break
        log_probs, new_state = step(tokens[rows], _rows(state, rows))
        log_probs = _log_probabilities(log_probs, rows.size)
        choice = np.argmax(log_probs, axis=1)
        log_probability[rows] += log_probs[np.arange(rows.size), choice]
        _set_rows(state, rows, _numpy(new_state))
        tokens[rows] = choice
        for row, token in zip(rows, choice, strict=True):
            if token == end_token:
                finished[row] = True
            else:
                outputs[row].append(int(token))
    return [Hypothesis(tuple(outputs[i]), float(log_probability[i]), bool(finished[i])) for i in range(count)]


def beam_search(
    step: StepFunction,
    initial_state,
    start_tokens,
    end_token: int,
    max_length: int,
    beam_width: int = 3,
    alpha: float = 0.7,
) -> list[list[Hypothesis]]:
    """Beam search of width B, every example of a batch at once (module docstring).

    Args:
        step: the step function (module docstring).
        initial_state: the state of each example, a structure of arrays [N, ...].
        start_tokens: int [N], y<0> of each example (<start>).
        end_token: the <EOS> id.
        max_length: the most tokens a hypothesis may hold, <EOS> included.
        beam_width: B, the partial outputs kept at each step.
        alpha: the length normalization's exponent, 1 / T_y^alpha (0: none).

    Returns:
        For each example, every candidate the search kept (the finished
        ones and those stopped at `max_length`), best normalized score first.
        The search itself does not depend on `alpha`, only this order does:
        `sorted(candidates, key=lambda h: -h.score(other_alpha))` ranks the
        same candidates for another alpha.
    """
    start = _start(start_tokens)
    max_length = _check_int("max_length", max_length, 1)
    width = _check_int("beam_width", beam_width, 1)
    alpha = _check_alpha(alpha)
    count = len(start)
    # Slot (i, b) is hypothesis b of example i, state row i * B + b. A dead slot has score -inf.
    scores = np.full((count, width), -np.inf)
    scores[:, 0] = 0.0
    last = np.repeat(start[:, None], width, axis=1)
    history = np.zeros((count, width, 0), np.int64)
    state = tree.map_structure(lambda x: np.repeat(x, width, axis=0), _numpy(initial_state))
    candidates: list[list[Hypothesis]] = [[] for _ in range(count)]
    examples = np.arange(count)[:, None]
    for _ in range(max_length):
        live = np.isfinite(scores)
        if not live.any():
            break
        rows = np.flatnonzero(live.ravel())
        log_probs, new_state = step(last.ravel()[rows], _rows(state, rows))
        log_probs = _log_probabilities(log_probs, rows.size)
        vocabulary = log_probs.shape[1]
        extended = np.full((count * width, vocabulary), -np.inf)
        extended[rows] = scores.ravel()[rows, None] + log_probs
        extended = extended.reshape(count, width * vocabulary)
        best = np.argsort(-extended, axis=1, kind="stable")[:, :width]  # ties: the lower slot, then token
        scores = np.take_along_axis(extended, best, axis=1)
        parent, token = best // vocabulary, best % vocabulary
        _set_rows(state, rows, _numpy(new_state))
        state = _rows(state, (examples * width + parent).ravel())
        history = np.concatenate([history[examples, parent], token[..., None]], axis=2)
        last = token
        ended = np.isfinite(scores) & (token == end_token)
        for i, b in zip(*np.nonzero(ended), strict=True):
            candidates[i].append(Hypothesis(tuple(history[i, b, :-1].tolist()), float(scores[i, b]), True))
        scores[ended] = -np.inf  # finished: out of the beam, never extended
    for i, b in zip(*np.nonzero(np.isfinite(scores)), strict=True):
        candidates[i].append(Hypothesis(tuple(history[i, b].tolist()), float(scores[i, b]), False))
    return [sorted(found, key=lambda h: -h.score(alpha)) for found in candidates]


def sequence_log_probabilities(
    step: StepFunction,
    initial_state,
    start_tokens,
    end_token: int,
    sequences: Sequence[Sequence[int]],
    finished: bool = True,
) -> np.ndarray:
    """log P(y | x) of given outputs under the step function: the search's own score of any y.

    Feeds each sequence to the model token by token (teacher forcing) and
    sums the log-probabilities of its tokens, and of <EOS> after them when
    `finished`. The beam-search error analysis compares P(y* | x) of the
    human's output with P(y_hat | x) of the search's this way.

    Args:
        step, initial_state, start_tokens, end_token: as in `beam_search`.
        sequences: one token sequence per example, without <EOS>.
        finished: whether each sequence ends with <EOS> (counted in its probability).

    Returns:
        float64 [N], log P(y | x) of each sequence.
    """
    start = _start(start_tokens)
    if len(sequences) != len(start):
        raise ValueError(
            f"sequences must hold one sequence per example. Received: {len(sequences)} for {len(start)}"
        )
    targets = [[*map(int, sequence), *([end_token] if finished else [])] for sequence in sequences]
    state = _numpy(initial_state)
    tokens = start.copy()
    total = np.zeros(len(targets))
    for t in range(max((len(target) for target in targets), default=0)):
        rows = np.array([i for i, target in enumerate(targets) if t < len(target)], np.int64)
        log_probs, new_state = step(tokens[rows], _rows(state, rows))
        log_probs = _log_probabilities(log_probs, rows.size)
        chosen = np.array([targets[i][t] for i in rows], np.int64)
        total[rows] += log_probs[np.arange(rows.size), chosen]
        _set_rows(state, rows, _numpy(new_state))
        tokens[rows] = chosen
    return total
