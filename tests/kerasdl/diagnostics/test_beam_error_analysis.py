"""kerasdl.diagnostics.beam_error_analysis: constructed cases, and searches whose fault is known.

An exhaustive search (a beam as wide as every output) can never be at fault: every error it makes is the
model's. Greedy search on a model built to mislead it is at fault for exactly the errors where a wider
search finds the right answer.
"""

import numpy as np
import pytest

from kerasdl.diagnostics.beam_error_analysis import MODEL, SEARCH, analyse_beam_errors
from kerasdl.nn.beam_search import beam_search, greedy_search, sequence_log_probabilities

EOS = 0


def analyse(reference_log_probs, output_log_probs, reference_lengths, output_lengths, alpha=0.0, same=()):
    count = len(reference_log_probs)
    references = [f"ref {i}" for i in range(count)]
    outputs = [references[i] if i in same else f"out {i}" for i in range(count)]
    return analyse_beam_errors(
        references, outputs, reference_log_probs, output_log_probs, reference_lengths, output_lengths, alpha
    )


class TestBlame:
    def test_a_more_likely_reference_blames_the_search(self):
        (case,) = analyse([-2.0], [-3.0], [4], [4]).cases
        assert case.at_fault == SEARCH

    def test_a_less_likely_reference_blames_the_model(self):
        (case,) = analyse([-3.0], [-2.0], [4], [4]).cases
        assert case.at_fault == MODEL

    def test_a_tie_blames_the_model(self):
        # The search found an output the model likes as much as y*: a wider beam would not help.
        (case,) = analyse([-2.0], [-2.0], [4], [4]).cases
        assert case.at_fault == MODEL

    def test_the_comparison_uses_the_search_length_normalization(self):
        # y*: log P = -3 over 6 tokens; y_hat: -2 over 2. Plain probabilities favour y_hat (the model's
        # fault); normalized by length (alpha = 1: -0.5 against -1.0) y* wins, so the search missed it.
        assert analyse([-3.0], [-2.0], [6], [2], alpha=0.0).cases[0].at_fault == MODEL
        (case,) = analyse([-3.0], [-2.0], [6], [2], alpha=1.0).cases
        assert case.at_fault == SEARCH
        assert (case.reference_score, case.output_score) == (pytest.approx(-0.5), pytest.approx(-1.0))

    def test_correct_outputs_are_not_errors(self):
        analysis = analyse([-1.0, -2.0, -3.0, -1.0], [-2.0, -1.0, -3.0, -1.0], [3] * 4, [3] * 4, same={2, 3})
        assert [case.index for case in analysis.cases] == [0, 1]
        assert analysis.examples == 4 and analysis.errors == 2

    def test_shares(self):
        analysis = analyse([-1.0, -1.0, -1.0, -5.0], [-2.0, -2.0, -2.0, -1.0], [3] * 4, [3] * 4)
        assert (analysis.search_errors, analysis.model_errors) == (3, 1)
        assert (analysis.search_share, analysis.model_share) == (0.75, 0.25)
        assert analysis.fault == SEARCH and "increase the beam width" in analysis.advice()
        table = analysis.table()
        assert "| 3 | 75.0% |" in table and "| 1 | 25.0% |" in table

    def test_no_errors(self):
        analysis = analyse([-1.0], [-1.0], [2], [2], same={0})
        assert analysis.errors == 0 and analysis.search_share == 0.0 and analysis.fault == "none"

    def test_arguments_of_different_lengths_are_refused(self):
        with pytest.raises(ValueError, match="one entry per dev example"):
            analyse_beam_errors(["a"], ["b"], [-1.0, -2.0], [-1.0], [1], [1], 0.0)


def markov_step(table):
    def step(tokens, state):
        return table[tokens], state

    return step


class TestWithSearches:
    # <start> = 3: P(a) = 0.55, P(b) = 0.45; after a, P(<EOS>) = 0.2; after b, P(<EOS>) = 0.9.
    # The most likely output is "b" (0.405); greedy takes "a" first and ends with "a <EOS>" (0.11) at best.
    TABLE = np.log(
        np.array([[1.0, 0.0, 0.0], [0.2, 0.8, 0.0], [0.9, 0.05, 0.05], [0.0, 0.55, 0.45]]) + 1e-300
    )

    def _analysis(self, outputs, reference, alpha=0.0):
        step = markov_step(self.TABLE)
        start = np.array([3])
        reference_log_prob = sequence_log_probabilities(step, {}, start, EOS, [reference])
        return analyse_beam_errors(
            [reference],
            [outputs.tokens],
            reference_log_prob,
            [outputs.log_probability],
            [len(reference) + 1],
            [outputs.length],
            alpha,
        )

    def test_greedy_misses_the_most_likely_output_and_is_blamed(self):
        (greedy,) = greedy_search(markov_step(self.TABLE), {}, np.array([3]), EOS, max_length=3)
        assert greedy.tokens != (2,)
        (case,) = self._analysis(greedy, reference=(2,)).cases
        assert case.at_fault == SEARCH

    def test_an_exhaustive_search_is_never_blamed(self):
        # When y* is not the most likely output, an exhaustive search errs too, and it is the model's fault.
        ((best, *_),) = beam_search(
            markov_step(self.TABLE), {}, np.array([3]), EOS, 3, beam_width=27, alpha=0.0
        )
        assert best.tokens == (2,)
        for reference in [(1,), (1, 1), (2, 1)]:
            (case,) = self._analysis(best, reference).cases
            assert case.at_fault == MODEL
