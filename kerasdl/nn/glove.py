"""GloVe: word vectors from a weighted least-squares fit of log co-occurrence counts, trained by `fit`.

Course 5, Week 2 ("GloVe word vectors"; Pennington, Socher and Manning
2014, "GloVe: Global Vectors for Word Representation"). X_ij counts how
often word j occurs in the window of word i (`pipelines.words.
cooccurrence_matrix`, with the paper's 1/distance weighting). GloVe asks
w_i . w~_j + b_i + b~_j to be log X_ij, weighting each nonzero entry by
f(X_ij):

    J = sum_{i,j: X_ij > 0} f(X_ij) (w_i . w~_j + b_i + b~_j - log X_ij)^2

    f(x) = (x / x_max)^alpha   if x < x_max,   else 1

with x_max = 100 and alpha = 3/4 (the paper's values and the defaults).
f(0) = 0, so the sum runs over the nonzero entries only, and f caps the
weight of very frequent pairs ("of the", "in a"). Words and contexts play
symmetric roles, so w and w~ differ only by their random start; the
paper's final vectors are their sum, w + w~ (`GloVe.word_vectors`).

Training (`GloVe` is a Keras model, `GloVeLoss` its loss): batches of
nonzero entries, inputs (i, j) pairs [B, 2] and targets X_ij [B].
`GloVeLoss` sums over the batch by default (`reduction="sum"`), so a batch's
loss is J restricted to its entries, as the paper's stochastic updates
see it. The optimizer the paper uses is AdaGrad at learning rate 0.05;
glove.c starts its squared-gradient sums at 1 and minimises J / 2, which
differs from J by a constant factor that AdaGrad nearly cancels:
`paper_optimizer()` is `keras.optimizers.Adagrad(0.05,
initial_accumulator_value=1.0)`. glove.c steps after every entry; a batch
steps once for all its entries, and AdaGrad's step (learning rate times
the gradient over the root of its squared sums) is about as long for the
sum of many entries' gradients as for one, so batched training needs a
larger rate to move as far per epoch (`paper_optimizer(learning_rate)`).
That rate has to be chosen for each batch size and profile, on a measure
other than the one reported: `experiments.embeddings` chose its default
on WordSim-353, not on the analogies (benchmarks/glove_learning_rate.py).
Initialisation as in glove.c: every weight uniform in [-0.5/d, 0.5/d].

`kerasdl.scratch.glove` is the NumPy oracle (tests/kerasdl/nn/test_glove.py).

Example:

    model = GloVe(vocabulary.size, 100)
    model.compile(optimizer=paper_optimizer(0.5), loss=GloVeLoss())
    model.fit(pipelines.datasets.shuffled_batches(pairs, counts, 32768, seed=0), epochs=25)
    vectors = model.word_vectors()            # w + w~, [vocabulary size, d]
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

X_MAX, ALPHA = 100.0, 0.75  # the paper's cutoff and exponent of f
PAPER_LEARNING_RATE = 0.05


def _check_positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number. Received: {name}={value!r}")
    return float(value)


def glove_weighting(x, x_max: float = X_MAX, alpha: float = ALPHA):
    """f(x) = (x / x_max)^alpha for x < x_max, else 1, elementwise."""
    x = ops.convert_to_tensor(x)
    return ops.where(x < x_max, ops.power(ops.maximum(x, 0.0) / x_max, alpha), ops.ones_like(x))


def glove_loss(cooccurrences, predictions, x_max: float = X_MAX, alpha: float = ALPHA):
    """f(X_ij) (prediction - log X_ij)^2 for each entry (X_ij > 0), same shape as the inputs."""
    cooccurrences = ops.convert_to_tensor(cooccurrences)
    predictions = ops.convert_to_tensor(predictions)
    cooccurrences = ops.cast(cooccurrences, predictions.dtype)
    return glove_weighting(cooccurrences, x_max, alpha) * ops.square(predictions - ops.log(cooccurrences))


def glove_predictions(w, w_tilde, b, b_tilde, pairs):
    """w_i . w~_j + b_i + b~_j for each (i, j) row of `pairs` [B, 2]; w, w~ [V, d], b, b~ [V] or [V, 1]."""
    pairs = ops.cast(pairs, "int32")
    i, j = pairs[:, 0], pairs[:, 1]
    dot = ops.sum(ops.take(w, i, axis=0) * ops.take(w_tilde, j, axis=0), axis=-1)
    return dot + ops.reshape(ops.take(b, i, axis=0), (-1,)) + ops.reshape(ops.take(b_tilde, j, axis=0), (-1,))


def paper_optimizer(learning_rate: float = PAPER_LEARNING_RATE) -> keras.optimizers.Adagrad:
    """AdaGrad as glove.c runs it: learning rate 0.05 (per entry), squared-gradient sums starting at 1."""
    return keras.optimizers.Adagrad(learning_rate, initial_accumulator_value=1.0)


@keras.saving.register_keras_serializable(package="kerasdl")
class GloVeLoss(keras.losses.Loss):
    """GloVe's weighted squared error: y_true = X_ij (> 0), y_pred = w_i . w~_j + b_i + b~_j.

    Args:
        x_max: the count from which f(x) = 1 (100).
        alpha: the exponent of f below x_max (3/4).
        reduction: "sum" (default: J over the batch's entries) or any Keras reduction.
    """

    def __init__(
        self,
        x_max: float = X_MAX,
        alpha: float = ALPHA,
        reduction: str = "sum",
        name: str = "glove",
        **kwargs,
    ):
        super().__init__(name=name, reduction=reduction, **kwargs)
        self.x_max = _check_positive("x_max", x_max)
        self.alpha = _check_positive("alpha", alpha)

    def call(self, y_true, y_pred):
        return glove_loss(ops.reshape(y_true, ops.shape(y_pred)), y_pred, self.x_max, self.alpha)

    def get_config(self) -> dict:
        return {**super().get_config(), "x_max": self.x_max, "alpha": self.alpha}


@keras.saving.register_keras_serializable(package="kerasdl")
class GloVe(keras.Model):
    """Word vectors w, context vectors w~ and their biases b, b~; predicts log X_ij.

    Args:
        vocabulary_size: V, word ids 0..V-1.
        embedding_dim: d.
        seed: seed of the uniform initialisation in [-0.5/d, 0.5/d].

    Call arguments:
        pairs: int [B, 2], an (i, j) entry of X per row.

    Returns:
        w_i . w~_j + b_i + b~_j, [B].
    """

    def __init__(self, vocabulary_size: int, embedding_dim: int, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("vocabulary_size", vocabulary_size), ("embedding_dim", embedding_dim)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
        self.vocabulary_size, self.embedding_dim, self.seed = int(vocabulary_size), int(embedding_dim), seed
        half_width = 0.5 / self.embedding_dim

        def table(name: str, width: int, offset: int) -> keras.layers.Embedding:
            seed_k = None if seed is None else seed + offset
            initializer = keras.initializers.RandomUniform(-half_width, half_width, seed=seed_k)
            return keras.layers.Embedding(
                vocabulary_size, width, embeddings_initializer=initializer, dtype=self.dtype_policy, name=name
            )

        self.word_embedding = table("word_embedding", embedding_dim, 0)
        self.context_embedding = table("context_embedding", embedding_dim, 1)
        self.word_bias = table("word_bias", 1, 2)
        self.context_bias = table("context_bias", 1, 3)

    def build(self, input_shape=None):
        for layer in (self.word_embedding, self.context_embedding, self.word_bias, self.context_bias):
            layer.build((None,))
        self.built = True

    def call(self, pairs):
        return glove_predictions(
            self.word_embedding.embeddings,
            self.context_embedding.embeddings,
            self.word_bias.embeddings,
            self.context_bias.embeddings,
            pairs,
        )

    def word_vectors(self) -> np.ndarray:
        """w + w~, the paper's final vectors, as a NumPy array [V, d]."""
        return ops.convert_to_numpy(self.word_embedding.embeddings + self.context_embedding.embeddings)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "embedding_dim": self.embedding_dim,
            "seed": self.seed,
        }
