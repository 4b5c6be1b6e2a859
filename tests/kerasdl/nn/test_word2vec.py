"""kerasdl.nn.word2vec against its distribution (chi-square), the NumPy reference and numerical gradients.

The sampler's oracle is the lesson's formula computed here from the counts,
f(n)^(3/4) / sum_j f(j)^(3/4), renormalised without the positive word; the
loss and gradients' oracle is kerasdl.scratch.word2vec (loops, hand-derived
gradients) and central differences (`compute_gradient`).
"""

import keras
import numpy as np
import pytest
import scipy.stats
from keras import ops

from kerasdl.nn.autodiff import value_and_gradients
from kerasdl.nn.word2vec import (
    NegativeSampler,
    SkipGram,
    integer_weights,
    negative_distribution,
    sgns_loss,
    skipgram_logits,
)
from kerasdl.scratch import word2vec as reference
from tests.backends.gaps import (
    atol64,
    keras_optimizer_not_allowlisted,
    needs_float64_matmul,
    rtol64,
)
from tests.backends.jacobians import compute_gradient
from tests.saving import reload

numpy = ops.convert_to_numpy
COUNTS = np.array([0, 0, 900, 400, 150, 60, 20, 8, 3, 1])  # PAD and UNK never occur
DRAWS = 12_000  # rows of 5 negatives: 60,000 draws per chi-square test


def lesson_distribution(counts, positive: int) -> np.ndarray:
    """f^(3/4) normalised, with the positive left out and the rest renormalised."""
    powered = np.asarray(counts, np.float64) ** 0.75
    powered[positive] = 0.0
    return powered / powered.sum()


def draw(sampler: NegativeSampler, positives) -> np.ndarray:
    return numpy(sampler(ops.convert_to_tensor(np.asarray(positives, np.int32))))


class TestNegativeSampler:
    @pytest.mark.parametrize("positive", [2, 5, 9], ids=["most_frequent", "middle", "rarest"])
    def test_draws_follow_unigram_to_the_three_quarters_without_the_positive(self, positive):
        negatives = draw(NegativeSampler(COUNTS, negatives=5, seed=positive), np.full(DRAWS, positive))
        observed = np.bincount(negatives.ravel(), minlength=len(COUNTS))
        expected = lesson_distribution(COUNTS, positive) * negatives.size
        assert observed[positive] == 0 and observed[0] == observed[1] == 0
        support = expected > 0
        result = scipy.stats.chisquare(observed[support], expected[support])
        assert result.pvalue > 1e-3, (observed, expected, result)

    def test_never_returns_the_positive_of_its_row(self):
        rng = np.random.default_rng(0)
        positives = rng.choice(np.arange(2, len(COUNTS)), size=20_000, p=lesson_distribution(COUNTS, 0)[2:])
        negatives = draw(NegativeSampler(COUNTS, negatives=8, seed=1), positives)
        assert negatives.shape == (20_000, 8) and negatives.dtype == np.int32
        assert not np.any(negatives == positives[:, None])
        assert np.all(negatives >= 2)  # a word that never occurs is never drawn
        # With two words, every negative is the other one.
        assert np.all(draw(NegativeSampler([0, 0, 7, 1], negatives=3, seed=2), [2, 3, 2]) == [[3], [2], [3]])

    def test_integer_weights_are_the_formula_to_rounding(self):
        counts = np.array([0, 0, 10**6, 12_345, 77, 5])
        weights = integer_weights(counts)
        assert (
            weights[:2].tolist() == [0, 0]
            and weights.sum() < 2**31
            and weights.min(initial=1, where=counts > 0) >= 1
        )
        np.testing.assert_allclose(
            weights[2:] / weights.sum(), counts[2:] ** 0.75 / np.sum(counts[2:] ** 0.75), rtol=1e-5
        )
        np.testing.assert_allclose(
            negative_distribution(COUNTS, exclude=3), lesson_distribution(COUNTS, 3), rtol=1e-6
        )

    def test_the_same_seed_draws_the_same_negatives(self):
        positives = np.arange(2, 10)
        first = draw(NegativeSampler(COUNTS, seed=3), positives)
        assert np.array_equal(first, draw(NegativeSampler(COUNTS, seed=3), positives))
        assert not np.array_equal(first, draw(NegativeSampler(COUNTS, seed=4), positives))

    @pytest.mark.parametrize(
        "kwargs, message",
        [
            ({"negatives": 0}, "negatives must be a positive integer. Received: negatives=0"),
            ({"counts": [0, 0, 5]}, "counts must give at least two words a nonzero count"),
            ({"counts": [3, -1, 5]}, "counts must be a 1-D array of non-negative counts"),
            ({"power": -1.0}, "power must be a non-negative number. Received: power=-1.0"),
        ],
    )
    def test_bad_arguments(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            NegativeSampler(**{"counts": COUNTS, **kwargs})


# -- the loss and its gradients --------------------------------------------------------------------------

V, D = 7, 3
TARGETS = np.array([2, 3, 2, 6])
CONTEXTS = np.array([3, 2, 4, 2])
NEGATIVES = np.array([[4, 5], [6, 6], [2, 5], [3, 4]])  # a repeated negative, and one equal to its target


@pytest.fixture(scope="module")
def embeddings():
    rng = np.random.default_rng(7)
    return rng.normal(0, 0.8, (V, D)), rng.normal(0, 0.8, (V, D))


def mean_loss(target_embeddings, context_embeddings):
    logits = skipgram_logits(target_embeddings, context_embeddings, TARGETS, CONTEXTS, NEGATIVES)
    return ops.sum(sgns_loss(logits)) / len(TARGETS)  # ops.mean computes in float32 under JAX (keras#23223)


class TestLoss:
    def test_sgns_loss_is_the_lessons_formula(self, embeddings):
        target, context = embeddings
        logits = numpy(skipgram_logits(target, context, TARGETS, CONTEXTS, NEGATIVES))
        losses = numpy(sgns_loss(logits))
        for b in range(len(TARGETS)):
            v_w, u_c, u_ns = target[TARGETS[b]], context[CONTEXTS[b]], context[NEGATIVES[b]]
            assert logits[b, 0] == pytest.approx(u_c @ v_w, rel=rtol64(1e-12))
            assert losses[b] == pytest.approx(reference.pair_loss(v_w, u_c, u_ns), rel=rtol64(1e-12))
        # Large logits: no overflow (softplus), the loss of a confident right answer is ~0.
        assert numpy(sgns_loss(np.array([[800.0, -800.0]]))).tolist() == [0.0]

    def test_gradients_equal_the_reference(self, embeddings):
        loss, (d_target, d_context) = value_and_gradients(mean_loss, embeddings)
        expected_loss, expected_target, expected_context = reference.batch_loss_and_gradients(
            *embeddings, TARGETS, CONTEXTS, NEGATIVES
        )
        assert float(numpy(loss)) == pytest.approx(expected_loss, rel=rtol64(1e-12))
        np.testing.assert_allclose(numpy(d_target), expected_target, rtol=rtol64(1e-10), atol=atol64(1e-12))
        np.testing.assert_allclose(numpy(d_context), expected_context, rtol=rtol64(1e-10), atol=atol64(1e-12))

    @needs_float64_matmul
    def test_gradients_equal_central_differences(self, embeddings):
        theoretical, numerical = compute_gradient(mean_loss, embeddings)
        for exact, estimate in zip(theoretical, numerical, strict=True):
            np.testing.assert_allclose(exact, estimate, rtol=1e-5, atol=1e-7)


# -- the model ----------------------------------------------------------------------------------------------


class TestSkipGram:
    def test_logits_score_the_context_then_negatives_that_are_never_it(self):
        model = SkipGram(len(COUNTS), 4, COUNTS, negatives=3, seed=0, dtype="float64")
        model.build()
        rng = np.random.default_rng(1)
        target, context = rng.normal(size=(len(COUNTS), 4)), rng.normal(size=(len(COUNTS), 4))
        model.target_embedding.embeddings.assign(target)
        model.context_embedding.embeddings.assign(context)
        pairs = np.array([[2, 3], [4, 2], [9, 8], [3, 2]], np.int32)
        logits = numpy(model(pairs))
        assert logits.shape == (4, 4)
        scores = context @ target[pairs[:, 0]].T  # [word, pair]: u_word . v_target
        np.testing.assert_allclose(logits[:, 0], scores[pairs[:, 1], np.arange(4)], rtol=1e-12)
        for b, (_, c) in enumerate(pairs):
            # Each negative logit is the score of one word; the scores are distinct, so that word is known.
            words = [int(np.argmin(np.abs(scores[:, b] - logit))) for logit in logits[b, 1:]]
            assert c not in words and all(w >= 2 for w in words)
            np.testing.assert_allclose(logits[b, 1:], scores[words, b], rtol=1e-12)

    def test_initialisation_is_word2vecs(self):
        model = SkipGram(len(COUNTS), 50, COUNTS, seed=0)
        model.build()
        target = model.word_vectors()
        assert target.shape == (len(COUNTS), 50) and np.abs(target).max() <= 0.5 / 50
        assert np.all(numpy(model.context_embedding.embeddings) == 0)

    @keras_optimizer_not_allowlisted
    def test_round_trip_through_the_safe_loader(self, tmp_path):
        model = SkipGram(len(COUNTS), 4, COUNTS, negatives=2, power=0.5, seed=3)
        model.compile(optimizer=keras.optimizers.Adam(0.01))
        model.fit(np.array([[2, 3], [3, 2], [4, 5]] * 4, np.int32), epochs=1, batch_size=4, verbose=0)
        loaded = reload(model, tmp_path)
        assert isinstance(loaded, SkipGram) and loaded.get_config() == model.get_config()
        assert loaded.sampler.counts == COUNTS.tolist() and loaded.sampler.power == 0.5
        np.testing.assert_array_equal(loaded.word_vectors(), model.word_vectors())
        np.testing.assert_array_equal(
            numpy(loaded.context_embedding.embeddings), numpy(model.context_embedding.embeddings)
        )

    @pytest.mark.parametrize(
        "kwargs, message",
        [
            ({"embedding_dim": 0}, "embedding_dim must be a positive integer. Received: embedding_dim=0"),
            ({"counts": [0, 0, 1]}, "counts must hold one count per word id. Received: 3 counts"),
        ],
    )
    def test_bad_arguments(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            SkipGram(**{"vocabulary_size": len(COUNTS), "embedding_dim": 4, "counts": COUNTS, **kwargs})


def planted_pairs(
    rng, groups: int = 2, words_per_group: int = 8, contexts_per_group: int = 4, size: int = 3000
):
    """Skip-gram pairs where the words of a group share their contexts and no group shares another's.

    Targets are ids 2.. in groups of `words_per_group`; group g's contexts are its own block of ids
    after them.
    """
    first_context = 2 + groups * words_per_group
    group = rng.integers(0, groups, size)
    targets = 2 + group * words_per_group + rng.integers(0, words_per_group, size)
    contexts = first_context + group * contexts_per_group + rng.integers(0, contexts_per_group, size)
    vocabulary = first_context + groups * contexts_per_group
    return np.stack([targets, contexts], axis=1).astype(np.int32), vocabulary


def test_words_that_share_contexts_end_up_closer_than_words_that_do_not():
    """The measured effect: after training, words of one group are nearer each other than other groups'."""
    rng = np.random.default_rng(0)
    pairs, vocabulary = planted_pairs(rng)
    counts = np.bincount(pairs.ravel(), minlength=vocabulary)
    keras.utils.set_random_seed(0)
    model = SkipGram(vocabulary, 8, counts, negatives=3, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    history = model.fit(pairs, batch_size=256, epochs=3, shuffle=True, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    vectors = model.word_vectors()[2:18]
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = unit @ unit.T
    same = np.kron(np.eye(2), np.ones((8, 8))).astype(bool) & ~np.eye(16, dtype=bool)
    different = ~np.kron(np.eye(2), np.ones((8, 8))).astype(bool)
    assert cosine[same].min() > cosine[different].max(), (cosine[same].min(), cosine[different].max())
    assert cosine[same].mean() - cosine[different].mean() > 0.3
