"""Error analysis in beam search: for each dev error, is the search at fault or the model?

Course 5, Week 3, "Error analysis in beam search". A translation model has
two parts: the RNN that computes P(y | x), and beam search, which looks for
the y that maximizes it. For a dev example where the search's output y_hat
is wrong and a human's y* is right, compute P(y* | x) with the model:

- P(y* | x) > P(y_hat | x): the model prefers the right answer, but the
  search did not find it. Beam search is at fault (try a larger B).
- P(y* | x) <= P(y_hat | x): the model scores the wrong answer at least as
  high. The RNN model is at fault (more data, regularization, another
  architecture); a larger B would only find more of its wrong answers.

Counting over the dev errors says which part deserves the time: the share
of errors each is at fault for. Where the search ranks its candidates by a
length-normalized score, the comparison must use the same score,
1 / T_y^alpha * log P(y | x) (`kerasdl.nn.beam_search.normalized_score`),
or an output the search preferred for its length would be blamed on the
model; with alpha = 0 it is the plain comparison of probabilities.

Example:

    >>> analysis = analyse_beam_errors(
    ...     references=["jane visits africa in september", "jane is visiting africa"],
    ...     outputs=["jane visited africa last september", "in september jane is visiting africa"],
    ...     reference_log_probs=[-4.0, -9.0], output_log_probs=[-6.0, -7.0],
    ...     reference_lengths=[6, 5], output_lengths=[6, 7], alpha=0.0)
    >>> analysis.search_errors, analysis.model_errors, analysis.fault
    (1, 1, 'tie')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kerasdl.nn.beam_search import normalized_score

SEARCH = "beam search"
MODEL = "RNN model"


@dataclass(frozen=True)
class BeamErrorCase:
    """One dev error and who is at fault.

    Attributes:
        index: the example's position in the dev set.
        reference: y*, the right output.
        output: y_hat, the search's output.
        reference_log_prob: log P(y* | x).
        output_log_prob: log P(y_hat | x).
        reference_score: y*'s length-normalized score.
        output_score: y_hat's length-normalized score.
        at_fault: `SEARCH` when reference_score > output_score, else `MODEL`.
    """

    index: int
    reference: object
    output: object
    reference_log_prob: float
    output_log_prob: float
    reference_score: float
    output_score: float
    at_fault: str


@dataclass(frozen=True)
class BeamErrorAnalysis:
    """The dev errors, each blamed on the search or on the model, and the share of each.

    Attributes:
        cases: one `BeamErrorCase` per dev error, in dev-set order.
        alpha: the length normalization the scores used.
        examples: dev examples looked at (errors and correct ones).
    """

    cases: tuple[BeamErrorCase, ...]
    alpha: float
    examples: int

    @property
    def errors(self) -> int:
        return len(self.cases)

    @property
    def search_errors(self) -> int:
        return sum(case.at_fault == SEARCH for case in self.cases)

    @property
    def model_errors(self) -> int:
        return self.errors - self.search_errors

    @property
    def search_share(self) -> float:
        """The share of the dev errors the search is at fault for (0 without errors)."""
        return self.search_errors / self.errors if self.errors else 0.0

    @property
    def model_share(self) -> float:
        return self.model_errors / self.errors if self.errors else 0.0

    @property
    def fault(self) -> str:
        """Who is at fault for more of the errors: `SEARCH`, `MODEL`, "tie", or "none" without errors."""
        if not self.errors:
            return "none"
        if self.search_errors == self.model_errors:
            return "tie"
        return SEARCH if self.search_errors > self.model_errors else MODEL

    def advice(self) -> str:
        """What the lesson says to do next."""
        return {
            SEARCH: "Beam search is at fault for most errors: increase the beam width B.",
            MODEL: "The RNN model is at fault for most errors: work on the model (more data, "
            "regularization, another architecture); a larger B would not help.",
            "tie": "Search and model are at fault equally often: both deserve work.",
            "none": "No dev errors to analyse.",
        }[self.fault]

    def table(self, limit: int | None = 20) -> str:
        """A Markdown table: the share of each, then the first `limit` cases (None: all)."""
        lines = [
            f"Beam-search error analysis: {self.errors} errors in {self.examples} dev examples, "
            f"scores 1/T_y^{self.alpha:g} log P(y|x).",
            "",
            "| at fault | errors | share |",
            "|---|---:|---:|",
            f"| {SEARCH} (P(y*|x) > P(y_hat|x)) | {self.search_errors} | {self.search_share:.1%} |",
            f"| {MODEL} (P(y*|x) <= P(y_hat|x)) | {self.model_errors} | {self.model_share:.1%} |",
            "",
            self.advice(),
        ]
        shown = self.cases if limit is None else self.cases[:limit]
        if shown:
            lines += [
                "",
                "| # | y* | y_hat | log P(y*|x) | log P(y_hat|x) | score y* | score y_hat | at fault |",
                "|---:|---|---|---:|---:|---:|---:|---|",
            ]
            lines += [
                f"| {c.index} | {_cell(c.reference)} | {_cell(c.output)} | {c.reference_log_prob:.3f} | "
                f"{c.output_log_prob:.3f} | {c.reference_score:.3f} | {c.output_score:.3f} | {c.at_fault} |"
                for c in shown
            ]
            if len(shown) < self.errors:
                lines.append(f"\n({self.errors - len(shown)} more not shown)")
        return "\n".join(lines)


def _cell(value) -> str:
    text = value if isinstance(value, str) else " ".join(map(str, value))
    return text.replace("|", "\\|") or "(empty)"


def analyse_beam_errors(
    references: Sequence,
    outputs: Sequence,
    reference_log_probs: Sequence[float],
    output_log_probs: Sequence[float],
    reference_lengths: Sequence[int],
    output_lengths: Sequence[int],
    alpha: float,
) -> BeamErrorAnalysis:
    """Blames each dev error (output != reference) on the search or on the model.

    Args:
        references: y* of every dev example (strings or token sequences).
        outputs: y_hat of every dev example, comparable with `references`.
        reference_log_probs: log P(y* | x) under the model.
        output_log_probs: log P(y_hat | x) under the model.
        reference_lengths: T_y of each y*, counted as the search counts it.
        output_lengths: T_y of each y_hat.
        alpha: the search's length normalization (0: none).

    Returns:
        A `BeamErrorAnalysis` over the examples whose output differs from the reference.
    """
    columns = [references, outputs, reference_log_probs, output_log_probs, reference_lengths, output_lengths]
    if len({len(column) for column in columns}) != 1:
        raise ValueError(
            "Every argument needs one entry per dev example. Received lengths "
            f"{[len(column) for column in columns]}"
        )
    reference_scores = normalized_score(reference_log_probs, reference_lengths, alpha)
    output_scores = normalized_score(output_log_probs, output_lengths, alpha)
    cases = []
    for index, (reference, output) in enumerate(zip(references, outputs, strict=True)):
        if _same(reference, output):
            continue
        at_fault = SEARCH if reference_scores[index] > output_scores[index] else MODEL
        cases.append(
            BeamErrorCase(
                index,
                reference,
                output,
                float(reference_log_probs[index]),
                float(output_log_probs[index]),
                float(reference_scores[index]),
                float(output_scores[index]),
                at_fault,
            )
        )
    return BeamErrorAnalysis(tuple(cases), float(alpha), len(references))


def _same(reference, output) -> bool:
    if isinstance(reference, str) or isinstance(output, str):
        return reference == output
    return np.array_equal(np.asarray(reference), np.asarray(output))
