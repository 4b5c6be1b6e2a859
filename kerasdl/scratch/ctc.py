"""Connectionist temporal classification in NumPy: the loss by the forward algorithm, and best-path decoding.

Course 5, Week 3, "Speech recognition" (Graves et al. 2006, "Connectionist
Temporal Classification: Labelling unsegmented sequence data with recurrent
neural networks"). The network outputs, at each of its T input steps, a
distribution over the characters plus a "blank"; its output is much longer
than the transcript. An alignment (a path) pi of length T reads as a
transcript by collapsing repeated characters not separated by a blank and
then removing the blanks ("ttt_h_eee___ ___qqq" -> "the q"). The
probability of a transcript y is the sum over every path that reads as y:

    P(y | x) = sum_{pi : collapse(pi) = y} prod_{t=1..T} p_t(pi_t)          CTC loss = -log P(y | x)

The forward algorithm sums those paths in O(T |y|) instead of enumerating
them: with y' = [blank, y_1, blank, y_2, ..., y_L, blank] (2L + 1 symbols),
alpha_t(s) is the probability of the paths of length t that read as the
first s symbols of y' and end in symbol s:

    alpha_1(1) = p_1(blank),  alpha_1(2) = p_1(y_1)
    alpha_t(s) = (alpha_{t-1}(s) + alpha_{t-1}(s-1) [+ alpha_{t-1}(s-2)]) p_t(y'_s)

where the skip from s - 2 is allowed unless y'_s is a blank or repeats
y'_{s-2} (two equal characters need a blank between them). P(y | x) =
alpha_T(2L + 1) + alpha_T(2L). Everything runs in log space, since a
product of T probabilities underflows.

Best-path (greedy) decoding takes the most likely symbol at every step and
collapses that path; it need not find the most likely transcript, whose
probability is spread over many paths (prefix beam search looks further).

These are the oracles of `kerasdl.nn.ctc`.

Example:

    >>> import numpy as np
    >>> collapse([1, 1, 0, 1, 2, 2, 0, 0], blank=0)
    [1, 1, 2]
    >>> log_probs = np.log(np.full((3, 3), 1 / 3))   # T = 3, blank and two characters, all equally likely
    >>> round(float(np.exp(-ctc_loss(log_probs, [1]))), 6)   # 1__, _1_, __1, 11_, _11, 111: 6 paths of 27
    0.222222
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def collapse(path: Sequence[int], blank: int = 0) -> list[int]:
    """The transcript a path reads as: repeated symbols merged, then blanks removed."""
    transcript, previous = [], None
    for symbol in map(int, path):
        if symbol != previous and symbol != blank:
            transcript.append(symbol)
        previous = symbol
    return transcript


def best_path(log_probs: np.ndarray, blank: int = 0) -> list[int]:
    """Greedy decoding: the most likely symbol at each step [T, V], collapsed."""
    return collapse(np.argmax(np.asarray(log_probs), axis=-1), blank)


def _shifted(alpha: np.ndarray, by: int) -> np.ndarray:
    """alpha(s - by) at every s (log 0 before the start)."""
    shifted = np.full_like(alpha, -np.inf)
    shifted[by:] = alpha[: max(len(alpha) - by, 0)]
    return shifted


def _log_add(*terms: np.ndarray) -> np.ndarray:
    return np.logaddexp.reduce(np.stack(terms), axis=0)


def ctc_loss(log_probs: np.ndarray, label: Sequence[int], blank: int = 0) -> float:
    """-log P(label | x) by the forward algorithm.

    Args:
        log_probs: log p_t(k) [T, V] of one example (each row a log-softmax).
        label: the transcript's symbol ids, none of them the blank.
        blank: the blank's id.

    Returns:
        The CTC loss; inf when no path of length T reads as the label.
    """
    log_probs = np.asarray(log_probs, np.float64)
    label = [int(k) for k in label]
    if blank in label:
        raise ValueError(f"The label must not contain the blank ({blank}). Received: label={label}")
    steps = log_probs.shape[0]
    extended = [blank]
    for k in label:
        extended += [k, blank]
    symbols = len(extended)
    # A skip from s - 2 to s: s is a character that differs from the character two places back.
    skip = np.array(
        [s >= 2 and extended[s] != blank and extended[s] != extended[s - 2] for s in range(symbols)]
    )
    alpha = np.full(symbols, -np.inf)
    alpha[0] = log_probs[0, blank]
    if symbols > 1:
        alpha[1] = log_probs[0, extended[1]]
    for t in range(1, steps):
        jump = np.where(skip, _shifted(alpha, 2), -np.inf)
        alpha = _log_add(alpha, _shifted(alpha, 1), jump) + log_probs[t, extended]
    total = alpha[-1] if symbols == 1 else np.logaddexp(alpha[-1], alpha[-2])
    return float(-total)
