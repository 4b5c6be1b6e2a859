"""Character and word error rates: a transcript's edit distance to its reference, per reference unit.

Course 5, Week 3, "Speech recognition": a transcript is judged by how many
characters (or words) would have to be substituted, deleted or inserted to
turn it into the reference, the Levenshtein distance, computed by dynamic
programming over prefixes:

    D(i, 0) = i,  D(0, j) = j
    D(i, j) = min(D(i-1, j) + 1, D(i, j-1) + 1, D(i-1, j-1) + [a_i != b_j])

The error rate of a corpus sums the distances and divides by the
reference's length, summed: CER over characters, WER over
whitespace-separated words. It can exceed 1 when the outputs insert a lot.

Example:

    >>> edit_distance("kitten", "sitting")
    3
    >>> character_error_rate(["helo world"], ["hello world"])
    0.09090909090909091
    >>> word_error_rate(["helo world"], ["hello world"])
    0.5
"""

from __future__ import annotations

from collections.abc import Sequence


def edit_distance(output: Sequence, reference: Sequence) -> int:
    """The Levenshtein distance: the substitutions, deletions and insertions from `output` to `reference`."""
    previous = list(range(len(reference) + 1))
    for i, a in enumerate(output, start=1):
        current = [i]
        for j, b in enumerate(reference, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b)))
        previous = current
    return previous[-1]


def _error_rate(outputs: Sequence[Sequence], references: Sequence[Sequence]) -> float:
    if len(outputs) != len(references):
        raise ValueError(
            f"Give one reference per output. Received: {len(outputs)} outputs, {len(references)} references"
        )
    length = sum(len(reference) for reference in references)
    if length == 0:
        raise ValueError("The references are empty: an error rate divides by their length.")
    return sum(edit_distance(o, r) for o, r in zip(outputs, references, strict=True)) / length


def character_error_rate(outputs: Sequence[str], references: Sequence[str]) -> float:
    """CER: the summed character edit distances over the references' summed length."""
    return _error_rate(outputs, references)


def word_error_rate(outputs: Sequence[str], references: Sequence[str]) -> float:
    """WER: the summed word edit distances over the references' summed word count."""
    return _error_rate([o.split() for o in outputs], [r.split() for r in references])
