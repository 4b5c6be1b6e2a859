"""BLEU, the bilingual evaluation understudy: n-gram precision against human references.

Course 5, Week 3, "Bleu score (optional)"; Papineni et al. 2002. For
n = 1..N (N = 4), the modified precision counts each n-gram of the output
at most as often as it occurs in any single reference (Count_clip), summed
over the corpus:

    p_n = sum over n-grams of the outputs of Count_clip(n-gram) / sum of Count(n-gram)

and the combined score is their geometric mean times a brevity penalty BP,
since precision alone rewards outputs that say too little:

    BLEU = BP * exp(1/N * sum_{n=1..N} log p_n)
    BP   = 1 if c > r, else exp(1 - r / c)

with c the outputs' length and r the references' (each output's closest
reference length, the shorter on a tie, summed over the corpus). Corpus
BLEU sums the counts over all sentences before dividing; it is not the mean
of sentence BLEU. Scores are on sacrebleu's 0-100 scale (the lesson's
number times 100).

Tokenization (`tokenize`): "none" splits on whitespace; "char" makes every
non-space character a token (sacrebleu's `tokenize="char"`). Dates and
other short outputs are best scored by characters.

Smoothing (`smoothing`; Chen & Cherry 2014), for an order with no match,
which would make the geometric mean 0:

- "none": no smoothing; one p_n = 0 gives BLEU = 0 (Papineni et al.).
- "floor": p_n = value / Count for an order with no match (value 0.1).
- "add-k": p_n = (Count_clip + k) / (Count + k) for n >= 2 (k = 1).
- "exp": the k-th order with no match gets p_n = 1 / (2^k Count) (NIST's
  mteval; sacrebleu's default, used here by default at both levels).

`effective_order=True` (the sentence-level default) leaves out the orders a
sentence is too short to have, e.g. 4-grams of a 3-token output; at corpus
level all N orders count, so an output with no 4-gram in the whole corpus
scores 0. The edge cases (no match at all, an empty output) follow
sacrebleu 2, so the numbers compare with published ones; the tests check
equality with sacrebleu on random corpora.

Example (the lesson's): two references, and outputs that precision alone would flatter:

    >>> references = ["the cat is on the mat", "there is a cat on the mat"]
    >>> round(corpus_bleu(["the the the the the the the"], [references]).precisions[0], 2)  # 2 of 7
    28.57
    >>> round(corpus_bleu(["the cat the cat on the mat"], [references]).precisions[1], 2)  # 4 of 6 bigrams
    66.67
    >>> round(sentence_bleu("the cat is on the mat", references).score, 6)
    100.0
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

MAX_ORDER = 4
TOKENIZERS = ("none", "char")
SMOOTHING_DEFAULTS = {"none": None, "floor": 0.1, "add-k": 1.0, "exp": None}


@dataclass(frozen=True)
class BleuScore:
    """A BLEU score and the statistics it came from.

    Attributes:
        score: BLEU on the 0-100 scale.
        precisions: p_1..p_N in percent, after smoothing (0 for an order left out).
        brevity_penalty: BP.
        output_length: c, tokens of the outputs.
        reference_length: r, tokens of the closest references.
        matches: sum of Count_clip per order.
        totals: sum of Count per order.
    """

    score: float
    precisions: tuple[float, ...]
    brevity_penalty: float
    output_length: int
    reference_length: int
    matches: tuple[int, ...]
    totals: tuple[int, ...]


def tokens_of(text: str, tokenize: str = "none") -> list[str]:
    """The tokens of `text`: its whitespace-separated words ("none") or its non-space characters ("char")."""
    if tokenize == "none":
        return text.split()
    if tokenize == "char":
        return [character for character in text if not character.isspace()]
    raise ValueError(f"tokenize must be one of {TOKENIZERS}. Received: tokenize={tokenize!r}")


def ngram_counts(tokens: Sequence[str], max_order: int = MAX_ORDER) -> Counter:
    """How often each n-gram (a tuple of n tokens, n = 1..max_order) occurs in `tokens`."""
    return Counter(
        tuple(tokens[i : i + n]) for n in range(1, max_order + 1) for i in range(len(tokens) - n + 1)
    )


def closest_reference_length(output_length: int, reference_lengths: Sequence[int]) -> int:
    """The reference length nearest the output's, the shorter one on a tie (r of the brevity penalty)."""
    return min(reference_lengths, key=lambda length: (abs(length - output_length), length))


def sentence_statistics(
    output: Sequence[str], references: Sequence[Sequence[str]], max_order: int = MAX_ORDER
) -> tuple[list[int], list[int], int, int]:
    """(Count_clip per order, Count per order, c, r) of one tokenized output against its references."""
    if not references:
        raise ValueError("Each output needs at least one reference. Received: references=[]")
    clip: Counter = Counter()
    for reference in references:
        clip |= ngram_counts(reference, max_order)  # |: the largest count in any single reference
    matches, totals = [0] * max_order, [0] * max_order
    for ngram, count in ngram_counts(output, max_order).items():
        totals[len(ngram) - 1] += count
        matches[len(ngram) - 1] += min(count, clip[ngram])
    return matches, totals, len(output), closest_reference_length(len(output), [len(r) for r in references])


def bleu_from_statistics(
    matches: Sequence[int],
    totals: Sequence[int],
    output_length: int,
    reference_length: int,
    smoothing: str = "exp",
    smoothing_value: float | None = None,
    effective_order: bool = False,
) -> BleuScore:
    """BLEU from summed counts: smoothed precisions, their geometric mean and the brevity penalty."""
    if smoothing not in SMOOTHING_DEFAULTS:
        raise ValueError(f"smoothing must be one of {tuple(SMOOTHING_DEFAULTS)}. Received: {smoothing!r}")
    value = SMOOTHING_DEFAULTS[smoothing] if smoothing_value is None else smoothing_value
    max_order = len(matches)
    penalty = 1.0
    if output_length < reference_length:
        penalty = math.exp(1 - reference_length / output_length) if output_length > 0 else 0.0
    precisions = [0.0] * max_order
    statistics = (penalty, output_length, reference_length, tuple(matches), tuple(totals))
    if not any(matches):
        return BleuScore(0.0, tuple(precisions), *statistics)
    orders, halvings = max_order, 0
    for n in range(max_order):
        match, total = matches[n], totals[n]
        if smoothing == "add-k" and n > 0:
            match, total = match + value, total + value
        if total == 0:
            break  # no n-grams of this order (or higher) at all
        if effective_order:
            orders = n + 1
        if match:
            precisions[n] = 100.0 * match / total
        elif smoothing == "exp":
            halvings += 1
            precisions[n] = 100.0 / (2**halvings * total)
        elif smoothing == "floor":
            precisions[n] = 100.0 * value / total
    if min(precisions[:orders]) <= 0:
        return BleuScore(0.0, tuple(precisions), *statistics)
    mean_log = sum(math.log(p) for p in precisions[:orders]) / orders
    return BleuScore(penalty * math.exp(mean_log), tuple(precisions), *statistics)


def corpus_bleu(
    outputs: Sequence[str],
    references: Sequence[Sequence[str]],
    tokenize: str = "none",
    smoothing: str = "exp",
    smoothing_value: float | None = None,
    max_order: int = MAX_ORDER,
    effective_order: bool = False,
) -> BleuScore:
    """Corpus BLEU: the counts of every sentence summed, then one score.

    Args:
        outputs: one output string per sentence.
        references: for each output, its reference strings (one or more).
            sacrebleu takes them the other way round: one list per reference
            set, `list(zip(*references))` when every output has as many.
        tokenize: "none" (whitespace) or "char".
        smoothing: "none", "floor", "add-k" or "exp" (module docstring).
        smoothing_value: the floor or k (None: 0.1 and 1).
        max_order: N.
        effective_order: leave out the orders no output is long enough for.
    """
    if len(outputs) != len(references):
        raise ValueError(
            f"Give each output its references. Received: {len(outputs)} outputs, {len(references)} references"
        )
    matches, totals = [0] * max_order, [0] * max_order
    output_length = reference_length = 0
    for output, refs in zip(outputs, references, strict=True):
        m, t, c, r = sentence_statistics(
            tokens_of(output, tokenize), [tokens_of(ref, tokenize) for ref in refs], max_order
        )
        matches = [a + b for a, b in zip(matches, m, strict=True)]
        totals = [a + b for a, b in zip(totals, t, strict=True)]
        output_length += c
        reference_length += r
    return bleu_from_statistics(
        matches, totals, output_length, reference_length, smoothing, smoothing_value, effective_order
    )


def sentence_bleu(
    output: str,
    references: Sequence[str],
    tokenize: str = "none",
    smoothing: str = "exp",
    smoothing_value: float | None = None,
    max_order: int = MAX_ORDER,
    effective_order: bool = True,
) -> BleuScore:
    """BLEU of one output against its references; smoothed, with the effective order, as sacrebleu's."""
    return corpus_bleu(
        [output], [references], tokenize, smoothing, smoothing_value, max_order, effective_order
    )
