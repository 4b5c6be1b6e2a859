"""kerasdl.nn.beam_search against exhaustive search, greedy search and constructed cases.

The models are random Markov chains in NumPy: P(y<t> | y<t-1>) (first order, the state is nothing) or
P(y<t> | y<t-2>, y<t-1>) (second order, the state carries y<t-2>, so a search that reorders its
hypotheses without their state would score the wrong rows). Token 0 is <EOS>; <start> is its own row.
"""

import itertools

import numpy as np
import pytest

from kerasdl.nn.beam_search import (
    Hypothesis,
    beam_search,
    greedy_search,
    normalized_score,
    sequence_log_probabilities,
)

EOS = 0


def markov_chain(seed: int, vocabulary: int, examples: int = 1, eos_weight: float = 1.0):
    """Per example a random table log P(next | previous) [V + 1, V], row V for <start>; (tables, V)."""
    rng = np.random.default_rng(seed)
    weights = rng.gamma(0.5, size=(examples, vocabulary + 1, vocabulary))  # peaked rows: greedy often errs
    weights[..., EOS] *= eos_weight
    return np.log(weights / weights.sum(axis=-1, keepdims=True)), vocabulary


def first_order(tables, start):
    """(step, initial state, start tokens): each row's example index is its state."""
    examples = len(tables)

    def step(tokens, state):
        return tables[state["example"], tokens], state

    return step, {"example": np.arange(examples)}, np.full(examples, start)


def second_order(seed: int, vocabulary: int):
    """P(y<t> | y<t-2>, y<t-1>): (step, initial state, start tokens, the table [V + 1, V + 1, V])."""
    rng = np.random.default_rng(seed)
    weights = rng.gamma(0.5, size=(vocabulary + 1, vocabulary + 1, vocabulary))
    table = np.log(weights / weights.sum(axis=-1, keepdims=True))

    def step(tokens, state):
        return table[state["before"], tokens], {"before": tokens.copy()}

    return step, {"before": np.array([vocabulary])}, np.array([vocabulary]), table


def enumerate_outputs(log_prob_of, vocabulary: int, max_length: int) -> list[Hypothesis]:
    """Every output the search can return: finished ones (<EOS> at any step) and those of max_length."""
    found = []
    words = [t for t in range(vocabulary) if t != EOS]
    for length in range(0, max_length + 1):
        for tokens in itertools.product(words, repeat=length):
            if length < max_length:
                found.append(Hypothesis(tokens, log_prob_of((*tokens, EOS)), True))
            if length == max_length:
                found.append(Hypothesis(tokens, log_prob_of(tokens), False))
    return found


def chain_log_prob(table, start):
    def log_prob(tokens):
        total, previous = 0.0, start
        for token in tokens:
            total += table[previous, token]
            previous = token
        return total

    return log_prob


def second_order_log_prob(table, start):
    def log_prob(tokens):
        total, before, previous = 0.0, start, start
        for token in tokens:
            total += table[before, previous, token]
            before, previous = previous, token
        return total

    return log_prob


ALPHAS = (0.0, 0.5, 0.7, 1.0)


class TestExhaustive:
    @pytest.mark.parametrize("seed", range(6))
    @pytest.mark.parametrize("alpha", ALPHAS)
    def test_a_beam_as_wide_as_every_output_finds_the_argmax_of_the_normalized_score(self, seed, alpha):
        vocabulary, max_length = 4, 4  # 3 words and <EOS>: B = V^T_y keeps every candidate of every step
        tables, start = markov_chain(seed, vocabulary)
        step, state, start_tokens = first_order(tables, start)
        (found,) = beam_search(
            step, state, start_tokens, EOS, max_length, beam_width=vocabulary**max_length, alpha=alpha
        )
        every = enumerate_outputs(chain_log_prob(tables[0], start), vocabulary, max_length)
        exact = max(every, key=lambda h: h.score(alpha))
        assert found[0].tokens == exact.tokens and found[0].finished == exact.finished
        assert found[0].log_probability == pytest.approx(exact.log_probability, abs=1e-12)
        # It kept every output, each with its exact log-probability.
        assert {(h.tokens, h.finished): h.log_probability for h in found} == pytest.approx(
            {(h.tokens, h.finished): h.log_probability for h in every}, abs=1e-12
        )

    @pytest.mark.parametrize("seed", range(4))
    def test_the_state_follows_its_hypothesis(self, seed):
        vocabulary, max_length = 3, 4
        step, state, start, table = second_order(seed, vocabulary)
        (found,) = beam_search(
            step, state, start, EOS, max_length, beam_width=vocabulary**max_length, alpha=0.7
        )
        every = enumerate_outputs(second_order_log_prob(table, vocabulary), vocabulary, max_length)
        assert {(h.tokens, h.finished): h.log_probability for h in found} == pytest.approx(
            {(h.tokens, h.finished): h.log_probability for h in every}, abs=1e-12
        )

    def test_a_batch_searches_each_example_on_its_own(self):
        tables, start = markov_chain(11, 5, examples=4)
        step, state, start_tokens = first_order(tables, start)
        together = beam_search(step, state, start_tokens, EOS, 6, beam_width=3)
        for i in range(4):
            alone_step, alone_state, alone_start = first_order(tables[i : i + 1], start)
            assert beam_search(alone_step, alone_state, alone_start, EOS, 6, beam_width=3) == [together[i]]


class TestGreedy:
    @pytest.mark.parametrize("seed", range(8))
    def test_a_beam_of_one_is_greedy_search(self, seed):
        tables, start = markov_chain(seed, vocabulary=6, examples=5, eos_weight=0.3)
        step, state, start_tokens = first_order(tables, start)
        greedy = greedy_search(step, state, start_tokens, EOS, max_length=7)
        for alpha in ALPHAS:
            beams = beam_search(step, state, start_tokens, EOS, 7, beam_width=1, alpha=alpha)
            assert [candidates for candidates in beams] == [[h] for h in greedy]

    def test_greedy_is_the_argmax_at_every_step(self):
        tables, start = markov_chain(3, vocabulary=5)
        step, state, start_tokens = first_order(tables, start)
        (output,) = greedy_search(step, state, start_tokens, EOS, max_length=10)
        previous = start
        for token in (*output.tokens, *([EOS] if output.finished else [])):
            assert token == np.argmax(tables[0, previous])
            previous = token
        assert output.log_probability == pytest.approx(
            chain_log_prob(tables[0], start)((*output.tokens, EOS) if output.finished else output.tokens)
        )

    def test_a_wider_beam_finds_what_greedy_misses(self):
        # P(a) = 0.55 then P(<EOS> | a) = 0.2; P(b) = 0.45 then P(<EOS> | b) = 0.9: greedy takes a.
        table = np.log(
            np.array([[1.0, 0.0, 0.0], [0.2, 0.4, 0.4], [0.9, 0.05, 0.05], [0.0, 0.55, 0.45]]) + 1e-300
        )
        step, state, start = first_order(table[None], 3)
        (greedy,) = greedy_search(step, state, start, EOS, max_length=2)
        ((best, *_),) = beam_search(step, state, start, EOS, 2, beam_width=2, alpha=0.0)
        assert greedy.tokens == (1, 1) and not greedy.finished  # P = 0.55 * 0.4, stopped at max_length
        assert best.tokens == (2,) and best.finished
        assert best.log_probability == pytest.approx(np.log(0.45 * 0.9))


class TestLengthNormalization:
    # From <start>: "a <EOS>" has P = 0.5 * 0.7 (log -1.05 over 2 tokens); "b c d e <EOS>" has
    # P = 0.5 * 0.9^4 (log -1.12 over 5 tokens). The plain sum prefers the short output, the mean
    # log-probability (alpha = 1) the long one. Token z takes the rest of each row and never ends.
    A, B, C, D, E, Z, START = range(1, 8)
    ROWS = {A: {EOS: 0.7, Z: 0.3}, B: {C: 0.9, Z: 0.1}, C: {D: 0.9, Z: 0.1}, D: {E: 0.9, Z: 0.1},
            E: {EOS: 0.9, Z: 0.1}, Z: {Z: 1.0}, START: {A: 0.5, B: 0.5}, EOS: {EOS: 1.0}}  # fmt: skip

    def _search(self, alpha):
        table = np.full((8, 7), 1e-300)
        for row, probabilities in self.ROWS.items():
            for token, p in probabilities.items():
                table[row, token] = p
        step, state, start = first_order(np.log(table)[None], self.START)
        ((best, *_),) = beam_search(step, state, start, EOS, max_length=6, beam_width=4, alpha=alpha)
        return best

    def test_the_plain_sum_prefers_the_short_output(self):
        best = self._search(alpha=0.0)
        assert best.tokens == (self.A,) and best.finished

    def test_normalizing_by_length_prefers_the_long_one(self):
        best = self._search(alpha=1.0)
        assert best.tokens == (self.B, self.C, self.D, self.E) and best.finished and best.length == 5
        assert best.score(1.0) == pytest.approx(np.log(0.5 * 0.9**4) / 5)

    def test_the_score_is_the_lessons_formula(self):
        assert normalized_score(-6.0, 4, 0.5) == pytest.approx(-3.0)
        assert Hypothesis((5, 6, 7), -6.0, True).score(1.0) == pytest.approx(-1.5)  # T_y counts <EOS>
        assert Hypothesis((5, 6, 7), -6.0, False).score(1.0) == pytest.approx(-2.0)


class TestFinishedHypotheses:
    def test_finished_hypotheses_never_grow_and_stay_candidates(self):
        tables, start = markov_chain(
            5, vocabulary=4, examples=3, eos_weight=3.0
        )  # <EOS> comes early and often
        seen = []
        base_step, state, start_tokens = first_order(tables, start)

        def step(tokens, state):
            seen.extend(tokens.tolist())
            return base_step(tokens, state)

        found = beam_search(step, state, start_tokens, EOS, 8, beam_width=3)
        assert EOS not in seen  # a hypothesis that chose <EOS> was never extended
        assert all(h.finished for candidates in found for h in candidates[:1])
        assert (
            sum(len(candidates) for candidates in found) > 3
        )  # finished ones were kept, not only B per example

    def test_scores_rank_the_candidates(self):
        tables, start = markov_chain(9, vocabulary=5, examples=2)
        found = beam_search(*first_order(tables, start), EOS, 6, beam_width=4, alpha=0.7)
        for candidates in found:
            scores = [h.score(0.7) for h in candidates]
            assert scores == sorted(scores, reverse=True)


class TestSequenceLogProbabilities:
    def test_equal_the_search_own_scores(self):
        tables, start = markov_chain(2, vocabulary=5, examples=3)
        step, state, start_tokens = first_order(tables, start)
        found = beam_search(step, state, start_tokens, EOS, 6, beam_width=3)
        for rank in range(2):
            sequences = [candidates[rank] for candidates in found]
            for finished in (True, False):
                chosen = [h for h in sequences if h.finished == finished]
                if not chosen:
                    continue
                rows = [i for i, h in enumerate(sequences) if h.finished == finished]
                scored = sequence_log_probabilities(
                    step,
                    {"example": np.array(rows)},
                    start_tokens[rows],
                    EOS,
                    [h.tokens for h in chosen],
                    finished,
                )
                np.testing.assert_allclose(scored, [h.log_probability for h in chosen], atol=1e-12)

    def test_does_not_change_the_initial_state(self):
        step, state, start, _ = second_order(0, 3)
        before = {key: value.copy() for key, value in state.items()}
        sequence_log_probabilities(step, state, start, EOS, [(1, 2, 1)])
        greedy_search(step, state, start, EOS, 4)
        beam_search(step, state, start, EOS, 4, beam_width=2)
        assert all(np.array_equal(state[key], before[key]) for key in state)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"beam_width": 0}, "beam_width must be an integer >= 1. Received: beam_width=0"),
        ({"max_length": 0}, "max_length must be an integer >= 1. Received: max_length=0"),
        ({"alpha": -0.5}, "alpha must be a finite number >= 0"),
        ({"start_tokens": [[0]]}, "start_tokens must be a 1-D integer array"),
    ],
)
def test_bad_arguments(kwargs, message):
    tables, start = markov_chain(0, 3)
    step, state, start_tokens = first_order(tables, start)
    arguments = {"start_tokens": start_tokens, "max_length": 3, "beam_width": 2, "alpha": 0.7, **kwargs}
    with pytest.raises(ValueError, match=message):
        beam_search(step, state, end_token=EOS, **arguments)


def test_a_step_that_returns_the_wrong_shape_is_named():
    def step(tokens, state):
        return np.zeros((len(tokens) + 1, 3)), state

    with pytest.raises(ValueError, match=r"step must return log-probabilities \[rows, vocabulary\]"):
        greedy_search(step, {}, np.array([1]), EOS, 3)
