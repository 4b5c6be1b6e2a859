"""kerasdl.nn.sampling: temperature against its formula, draws against their distribution (chi-square).

No TensorFlow here: the module runs beside any Keras backend (`make test-backends`).
"""

import math

import keras
import numpy as np
import pytest
from scipy import stats

from kerasdl.nn.sampling import apply_temperature, generate, sample_next

PROBS = np.array([0.1, 0.25, 0.4, 0.2, 0.05])  # argmax 2
DRAWS = 20_000
# A deterministic cycle 0 -> 1 -> 2 -> 0, and token 3 (the end) -> 0.
CYCLE = {0: [0, 1, 0, 0], 1: [0, 0, 1, 0], 2: [1, 0, 0, 0], 3: [1, 0, 0, 0]}


def frequencies(tokens, size: int = len(PROBS)) -> np.ndarray:
    return np.bincount(np.asarray(tokens), minlength=size)


class TestSampling:
    @pytest.mark.parametrize("temperature", [0, 0.0, 1e-3, 1e-8])
    def test_temperature_towards_zero_is_the_argmax(self, temperature):
        rng = np.random.default_rng(0)
        tokens = [sample_next(PROBS, temperature, rng) for _ in range(500)]
        assert set(tokens) == {2}
        batch = np.stack([PROBS, PROBS[::-1], np.roll(PROBS, 1)])
        np.testing.assert_array_equal(sample_next(batch, temperature, rng), [2, 2, 3])

    def test_temperature_one_samples_the_models_distribution(self):
        rng = np.random.default_rng(1)
        tokens = sample_next(np.tile(PROBS, (DRAWS, 1)), 1.0, rng)
        observed = frequencies(tokens)
        result = stats.chisquare(observed, DRAWS * PROBS)
        assert result.pvalue > 1e-3, (observed, result)
        np.testing.assert_allclose(observed / DRAWS, PROBS, atol=0.01)

    def test_one_draw_at_a_time_follows_the_distribution_too(self):
        rng = np.random.default_rng(2)
        observed = frequencies([sample_next(PROBS, 1.0, rng) for _ in range(5000)])
        assert stats.chisquare(observed, 5000 * PROBS).pvalue > 1e-3

    @pytest.mark.parametrize("temperature", [0.5, 2.0])
    def test_temperature_reshapes_as_p_to_the_one_over_t(self, temperature):
        expected = PROBS ** (1 / temperature) / np.sum(PROBS ** (1 / temperature))
        np.testing.assert_allclose(apply_temperature(PROBS, temperature), expected, rtol=1e-12)
        # the same as softmax(log p / T), the form for logits (oracle: keras.ops.softmax)
        oracle = keras.ops.convert_to_numpy(keras.ops.softmax(np.log(PROBS) / temperature))
        np.testing.assert_allclose(apply_temperature(PROBS, temperature), oracle, rtol=1e-5)
        rng = np.random.default_rng(3)
        observed = frequencies(sample_next(np.tile(PROBS, (DRAWS, 1)), temperature, rng))
        assert stats.chisquare(observed, DRAWS * expected).pvalue > 1e-3

    def test_lower_temperature_is_more_likely_and_higher_flatter(self):
        entropy = [stats.entropy(apply_temperature(PROBS, t)) for t in (0.25, 0.5, 1.0, 2.0, 1e6)]
        assert entropy == sorted(entropy)
        assert entropy[-1] == pytest.approx(math.log(len(PROBS)), rel=1e-6)

    def test_a_token_without_probability_is_never_drawn(self):
        probs = np.array([0.5, 0.0, 0.5, 0.0])
        tokens = sample_next(np.tile(probs, (DRAWS, 1)), 1.0, np.random.default_rng(4))
        assert set(np.unique(tokens)) == {0, 2}
        assert apply_temperature(probs, 0.1)[1] == 0.0

    def test_weights_need_not_sum_to_one_and_tensors_are_read(self):
        tensor = keras.ops.convert_to_tensor(3 * PROBS)
        np.testing.assert_allclose(apply_temperature(tensor, 1.0), PROBS, rtol=1e-6)
        assert sample_next(tensor, 0.0) == 2

    def test_a_seeded_generator_repeats_its_samples(self):
        first, second = np.random.default_rng(7), np.random.default_rng(7)
        tokens = [sample_next(PROBS, 1.0, first) for _ in range(20)]
        assert tokens == [sample_next(PROBS, 1.0, second) for _ in range(20)]
        assert isinstance(tokens[0], int) and len(set(tokens)) > 1

    @pytest.mark.parametrize("temperature", [-1, -1e-9, float("nan"), float("inf"), "1.0", None, True])
    def test_an_invalid_temperature_is_refused(self, temperature):
        with pytest.raises(
            ValueError, match=r"temperature must be a finite number >= 0 .* Received: temperature"
        ):
            sample_next(PROBS, temperature)

    @pytest.mark.parametrize(
        "probs, message",
        [
            ([0.5, -0.1, 0.6], "finite and non-negative"),
            ([0.5, float("nan")], "finite and non-negative"),
            ([0.0, 0.0], "positive sum"),
            ([], "a distribution along its last axis"),
        ],
    )
    def test_invalid_probabilities_are_refused(self, probs, message):
        with pytest.raises(ValueError, match=message):
            sample_next(np.array(probs), 1.0)

    # generate: the lesson's loop, each sampled y<t> fed back as x<t+1>

    def test_each_sampled_token_is_the_next_input(self):
        fed = []

        def predict_next(token):
            fed.append(token)
            return CYCLE[token]

        tokens = generate(predict_next, seed=[3, 1], length=5, rng=np.random.default_rng(0))
        assert tokens == [2, 0, 1, 2, 0]
        assert fed == [3, 1, 2, 0, 1, 2]  # the whole seed first, then y<t> as x<t+1>

    def test_stops_at_the_end_token_without_returning_it(self):
        def predict_next(token):
            return [0.0, 0.0, 0.0, 1.0] if token == 2 else CYCLE[token]

        assert generate(predict_next, [0], length=10, end=3, rng=np.random.default_rng(0)) == [1, 2]

    def test_the_longest_sample_is_length(self):
        assert generate(lambda token: CYCLE[token], [0], length=0) == []
        assert len(generate(lambda token: CYCLE[token], [0], length=7)) == 7

    def test_temperature_one_follows_a_markov_chains_transitions(self):
        transitions = np.array([[0.2, 0.8], [0.6, 0.4]])
        tokens = generate(lambda token: transitions[token], [0], 6000, 1.0, np.random.default_rng(5))
        pairs = np.array(list(zip([0, *tokens[:-1]], tokens, strict=True)))
        for previous in (0, 1):
            following = pairs[pairs[:, 0] == previous, 1]
            observed = np.bincount(following, minlength=2)
            assert stats.chisquare(observed, len(following) * transitions[previous]).pvalue > 1e-3

    def test_greedy_generation_is_deterministic(self):
        transitions = np.array([[0.3, 0.7], [0.9, 0.1]])
        assert generate(lambda token: transitions[token], [0], 4, temperature=0) == [1, 0, 1, 0]

    @pytest.mark.parametrize(
        "kwargs, message",
        [
            ({"seed": []}, "seed must hold at least one token"),
            ({"length": -1}, "length must be a non-negative integer"),
            ({"temperature": -0.5}, "temperature must be a finite number >= 0"),
        ],
    )
    def test_bad_arguments_are_refused(self, kwargs, message):
        arguments = {"seed": [0], "length": 3, **kwargs}
        with pytest.raises(ValueError, match=message):
            generate(lambda token: CYCLE[token], **arguments)
