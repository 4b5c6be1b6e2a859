"""Skip-gram with negative sampling (word2vec), as a Keras model trained by `fit`.

Course 5, Week 2 ("Word2Vec", "Negative Sampling"; Mikolov et al. 2013,
"Distributed Representations of Words and Phrases and their
Compositionality"). Skip-gram pairs a target word w with a context word c
seen within a window around it. Instead of a softmax over the whole
vocabulary, negative sampling turns each pair into k + 1 binary problems:
is (w, c) a real pair (label 1), and is (w, n_k) one for k words n_1..n_k
drawn at random (label 0)? With v_w = E[w] the target's embedding and u_c
= E'[c] the context embedding (a second matrix), the loss of one pair is

    L(w, c) = -log sigma(u_c . v_w) - sum_{k=1..K} log sigma(-u_{n_k} . v_w)

(the lesson's P(y = 1 | c, t) = sigma(theta_t^T e_c), with e = v and theta
= u). `sgns_loss` computes it from the logits [u_c . v_w, u_{n_1} . v_w,
...] as softplus(-l_0) + sum_k softplus(l_k), which is the same expression
without overflow. After training, E holds the word vectors.

The negatives (`NegativeSampler`) come from the unigram distribution raised
to the 3/4, as the lesson and the paper say,

    P(n) = f(n)^(3/4) / sum_j f(j)^(3/4),       f(n) = the count of word n,

*conditioned on n != c*: a negative is never the positive context word of
its pair, and its distribution is exactly P renormalised without c,
P(n | n != c) = P(n) / (1 - P(c)), with P rounded to integer weights
(`integer_weights`). There is no rejection loop: the sampler
draws by inverse transform on integer weights (each word owns an interval
of [0, T) as long as its weight) from the range with c's interval cut out,
so one draw per negative is exact and c cannot come out. Negatives of one
pair are drawn independently (they may repeat, and may be the target w,
as in word2vec). TensorFlow's word2vec tutorial uses
`tf.random.log_uniform_candidate_sampler` instead: a Zipf guess of the
frequencies from the word's rank, not the unigram^(3/4) of the corpus, and
it can return the positive word as a negative (tensorflow#44758).

Initialisation as in word2vec and gensim: E uniform in [-0.5/d, 0.5/d], E'
zeros. `SkipGram` samples the negatives inside the model (a seeded
`keras.random.SeedGenerator`, whose state the backups keep) and needs no
labels: `fit` takes batches of pairs [B, 2] (target, context) and minimises the mean
of L over the batch. `word2vec_optimizer` is word2vec's own optimiser for
it: plain SGD at a per-pair rate falling linearly over the training.

Everything is `keras.ops`; the sampler uses int32 weights and a float64
uniform draw. Under JAX without x64 enabled the draw is float32, which
can move the probability of a word of integer weight w by up to 128 / w
of itself (under 1% for the rarest word of a vocabulary of 30,000 words
cut at min_count 5); the positive is still never drawn.

Example:

    model = SkipGram(vocabulary.size, 100, vocabulary.counts, negatives=5, seed=1)
    pairs = pipelines.words.skipgram_dataset(stream, 5, 4096, keep=keep)
    model.compile(optimizer=word2vec_optimizer(4096, 5 * int(pairs.cardinality())))
    model.fit(pairs, epochs=5)
    vectors = model.word_vectors()            # E, [vocabulary size, d]
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

MAX_TOTAL_WEIGHT = 2**31 - 1  # the integer weights of a sampler sum to at most this (int32 arithmetic)
WORD2VEC_LEARNING_RATE = 0.025  # word2vec's and gensim's alpha for skip-gram
WORD2VEC_FINAL_SHARE = 1e-4 / 0.025  # gensim's min_alpha / alpha: where the linear decay ends


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
    return int(value)


def _check_positive_number(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number. Received: {name}={value!r}")
    return float(value)


def sgns_loss(logits):
    """The negative-sampling loss of each pair, [B], from logits [B, 1 + K] (positive first).

    L = -log sigma(l_0) - sum_k log sigma(-l_k) = softplus(-l_0) + sum_k softplus(l_k).
    """
    logits = ops.convert_to_tensor(logits)
    return ops.softplus(-logits[:, 0]) + ops.sum(ops.softplus(logits[:, 1:]), axis=-1)


def skipgram_logits(target_embeddings, context_embeddings, targets, contexts, negatives):
    """[u_c . v_w, u_{n_1} . v_w, ..., u_{n_K} . v_w] per pair, [B, 1 + K].

    Args:
        target_embeddings: E [V, d] (v_w = E[w]).
        context_embeddings: E' [V, d] (u_c = E'[c]).
        targets, contexts: int word ids [B].
        negatives: int word ids [B, K].
    """
    candidates = ops.concatenate([ops.cast(contexts, "int32")[:, None], ops.cast(negatives, "int32")], axis=1)
    v = ops.take(target_embeddings, ops.cast(targets, "int32"), axis=0)  # [B, d]
    u = ops.take(context_embeddings, candidates, axis=0)  # [B, 1 + K, d]
    return ops.einsum("bd,bkd->bk", v, u)


def integer_weights(counts: Sequence[int] | np.ndarray, power: float = 0.75) -> np.ndarray:
    """counts^power as int64 weights summing to at most 2^31 - 1, each seen word weighing at least 1.

    The sampler draws word n with probability weight(n) / total; rounding
    moves each probability by at most 0.5 / total relative to its weight
    (for a vocabulary of 30,000 words about 1e-5 of the rarest word's).
    Words with count 0 (PAD, UNK) weigh 0 and are never drawn.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or np.any(counts < 0) or not np.all(np.isfinite(counts)):
        raise ValueError(f"counts must be a 1-D array of non-negative counts. Received: shape={counts.shape}")
    if not (np.isfinite(power) and power >= 0):
        raise ValueError(f"power must be a non-negative number. Received: power={power!r}")
    seen = counts > 0
    if seen.sum() < 2:
        raise ValueError(
            "counts must give at least two words a nonzero count (a negative must differ from the "
            f"positive). Received: {int(seen.sum())} nonzero counts"
        )
    powered = np.where(seen, np.power(counts, power, where=seen, out=np.zeros_like(counts)), 0.0)
    scale = (MAX_TOTAL_WEIGHT - len(counts)) / powered.sum()
    return np.where(seen, np.maximum(1, np.floor(powered * scale + 0.5)), 0).astype(np.int64)


def negative_distribution(counts, power: float = 0.75, exclude: int | None = None) -> np.ndarray:
    """The exact distribution `NegativeSampler` draws from, float64 [V] (for tests and reports).

    P(n) = weight(n) / sum of weights, with word `exclude` (the positive) removed and the rest renormalised.
    """
    weights = integer_weights(counts, power).astype(np.float64)
    if exclude is not None:
        weights[exclude] = 0.0
    return weights / weights.sum()


def word2vec_optimizer(
    batch_size: int,
    total_steps: int,
    learning_rate: float = WORD2VEC_LEARNING_RATE,
    final_share: float = WORD2VEC_FINAL_SHARE,
) -> keras.optimizers.SGD:
    """Plain SGD at word2vec's per-pair learning rate, falling linearly over the whole training.

    word2vec (and gensim) step after every pair, at a rate alpha that falls
    linearly from 0.025 to 0.0001 between the first pair and the last.
    `SkipGram` minimises a batch's *mean* loss, so the same per-pair step
    is alpha * `batch_size` on it: each word moves by the sum of its pairs'
    word2vec updates, computed at the batch's start instead of one after
    the other. The rate is a function of the step (Keras'
    `PolynomialDecay` with power 1), so a resumed run continues it.

    Args:
        batch_size: pairs per batch.
        total_steps: batches in the whole training (epochs x batches per epoch).
        learning_rate: alpha at the start, per pair.
        final_share: alpha at the end, as a share of the start.
    """
    start = _check_positive_number("learning_rate", learning_rate) * _check_positive_int(
        "batch_size", batch_size
    )
    schedule = keras.optimizers.schedules.PolynomialDecay(
        start, _check_positive_int("total_steps", total_steps), start * final_share, power=1.0
    )
    return keras.optimizers.SGD(schedule)


@keras.saving.register_keras_serializable(package="kerasdl")
class NegativeSampler(keras.layers.Layer):
    """Draws K negative words per positive from unigram^power, never the positive itself.

    The conditional distribution is exact (module docstring): word n != c
    comes out with probability weight(n) / (T - weight(c)), where weight =
    `integer_weights(counts, power)` and T their sum.

    Args:
        counts: the count of each word id in the corpus (0 for PAD / UNK).
        negatives: K, the negatives per positive (the paper: 5-20 for small
            corpora, 2-5 for large ones).
        power: the exponent of the unigram distribution (3/4 in the paper).
        seed: seed of the layer's `SeedGenerator` (None: a random one).

    Call arguments:
        positives: int tensor [B] of positive (context) word ids.

    Returns:
        int32 tensor [B, K] of negative word ids, each != its row's positive.
    """

    def __init__(self, counts, negatives: int = 5, power: float = 0.75, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.negatives = _check_positive_int("negatives", negatives)
        self.power = float(power)
        weights = integer_weights(counts, self.power)  # validates counts and power
        self._counts = np.asarray(counts, dtype=np.int64)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._word_weights = weights.astype(np.int32)
        # Word n owns the integers [cumulative[n] - weight[n], cumulative[n]) of [0, total).
        self._cumulative = np.cumsum(weights).astype(np.int32)
        self._total = int(weights.sum())
        self.built = True

    @property
    def counts(self) -> list[int]:
        """The count of each word id, as given."""
        return self._counts.tolist()

    @property
    def vocabulary_size(self) -> int:
        return len(self._counts)

    def call(self, positives):
        positives = ops.cast(positives, "int32")
        shape = ops.shape(positives)
        weights = ops.convert_to_tensor(self._word_weights)
        cumulative = ops.convert_to_tensor(self._cumulative)
        positive_weight = ops.take(weights, positives)  # [B]
        positive_start = ops.take(cumulative, positives) - positive_weight
        remaining = ops.cast(self._total - positive_weight, "float64")  # the range without c's interval
        uniform = keras.random.uniform((*shape, self.negatives), dtype="float64", seed=self.seed_generator)
        position = ops.cast(ops.floor(uniform * remaining[..., None]), "int32")
        position = ops.minimum(position, ops.cast(remaining[..., None], "int32") - 1)
        # Positions at or past c's interval move up by its length: c's interval is skipped exactly.
        position = ops.where(
            position >= positive_start[..., None], position + positive_weight[..., None], position
        )
        flat = ops.searchsorted(cumulative, ops.reshape(position, (-1,)), side="right")
        return ops.reshape(ops.cast(flat, "int32"), (*shape, self.negatives))

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.negatives)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "counts": self.counts,
            "negatives": self.negatives,
            "power": self.power,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="kerasdl")
class SkipGram(keras.Model):
    """Skip-gram with negative sampling: target embeddings E, context embeddings E', the loss `sgns_loss`.

    Args:
        vocabulary_size: V, word ids 0..V-1.
        embedding_dim: d.
        counts: the count of each id, for the negative sampler (0 for PAD / UNK).
        negatives: K negatives per pair.
        power: the unigram exponent of the negative distribution (3/4).
        seed: seed of the negative sampler.

    Call arguments:
        pairs: int [B, 2], a (target, context) pair per row.

    Returns:
        logits [B, 1 + K]: u_c . v_w, then u_{n_k} . v_w for the K sampled negatives.

    Trained by `fit` on batches of pairs without labels: the
    loss is the mean of `sgns_loss` over the batch (plus any regularizer's).
    `word_vectors()` returns E.
    """

    def __init__(
        self,
        vocabulary_size: int,
        embedding_dim: int,
        counts,
        negatives: int = 5,
        power: float = 0.75,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = _check_positive_int("vocabulary_size", vocabulary_size)
        self.embedding_dim = _check_positive_int("embedding_dim", embedding_dim)
        if len(counts) != self.vocabulary_size:
            raise ValueError(
                f"counts must hold one count per word id. Received: {len(counts)} counts for "
                f"vocabulary_size={vocabulary_size}"
            )
        half_width = 0.5 / self.embedding_dim
        self.target_embedding = keras.layers.Embedding(
            vocabulary_size,
            embedding_dim,
            embeddings_initializer=keras.initializers.RandomUniform(-half_width, half_width, seed=seed),
            dtype=self.dtype_policy,
            name="target_embedding",
        )
        self.context_embedding = keras.layers.Embedding(
            vocabulary_size,
            embedding_dim,
            embeddings_initializer="zeros",
            dtype=self.dtype_policy,
            name="context_embedding",
        )
        self.sampler = NegativeSampler(counts, negatives, power, seed, name="negative_sampler")

    def build(self, input_shape=None):
        self.target_embedding.build((None,))
        self.context_embedding.build((None,))
        self.built = True

    def call(self, pairs, training=None):
        pairs = ops.cast(pairs, "int32")
        targets, contexts = pairs[:, 0], pairs[:, 1]
        negatives = self.sampler(contexts)
        return skipgram_logits(
            self.target_embedding.embeddings, self.context_embedding.embeddings, targets, contexts, negatives
        )

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = ops.mean(sgns_loss(y_pred))
        if self.losses:
            loss = loss + ops.sum(self.losses)
        return loss

    def word_vectors(self) -> np.ndarray:
        """E, the target embeddings, as a NumPy array [V, d]."""
        return ops.convert_to_numpy(self.target_embedding.embeddings)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "embedding_dim": self.embedding_dim,
            "counts": self.sampler.counts,
            "negatives": self.sampler.negatives,
            "power": self.sampler.power,
            "seed": self.sampler.seed,
        }
