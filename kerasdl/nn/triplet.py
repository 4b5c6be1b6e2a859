"""The triplet loss with batch-all, batch-hard and semi-hard mining: a Keras 3 loss on (labels, embeddings).

Course 4, Week 4 ("Triplet loss"; Schroff et al., FaceNet, 2015). An
encoding f(x) should put an anchor A nearer to a positive P (same identity)
than to a negative N (another identity), by a margin alpha:

    L(A, P, N) = max(||f(A) - f(P)||^2 - ||f(A) - f(N)||^2 + alpha, 0)

Most triplets of random images already satisfy d(A, P) + alpha <= d(A, N)
and teach nothing, so the lesson says "choose triplets that are hard to
train on". Here the triplets are mined inside each batch from its labels
(every pair of same-label examples is an anchor-positive pair, every
different-label example a negative), so the model is trained with
`model.fit(images, labels)` and ends in the embedding itself.

Distances d are squared Euclidean (`distance="squared"`, the lesson's) or
Euclidean (`distance="euclidean"`). The mining modes, each exactly:

- "all" (batch all): the mean of L over every valid triplet (a, p, n) of
  the batch, a != p, label(p) = label(a), label(n) != label(a): the
  lesson's J = sum L / m over the batch's triplets, easy ones (L = 0) included.
- "hard" (batch hard; Hermans et al., 2017): for each anchor, its farthest
  positive and its nearest negative, L averaged over the anchors.
- "semi_hard" (FaceNet's; the semantics of TensorFlow Addons'
  `TripletSemiHardLoss`): for each anchor-positive pair, the negative with
  the smallest d(a, n) among those with d(a, n) > d(a, p), i.e. farther than
  the positive but possibly inside the margin (d(a, p) < d(a, n) <
  d(a, p) + alpha gives a loss, beyond that L = 0). When no negative is
  farther than the positive (all are "hard"), the pair takes the anchor's
  farthest negative instead (the largest d(a, n)), as TensorFlow Addons did.
  L is averaged over the anchor-positive pairs.

Where TensorFlow Addons gave numbers without meaning, this loss leaves terms
out: an anchor without a positive, or without any negative, in the batch
contributes nothing (Addons counted such anchors with a made-up distance of
0), and a batch with no valid term has loss 0 (Addons' semi-hard loss was
NaN). Batches should hold several examples of each of several labels (e.g.
K images of each of P classes).

The oracle (tests/kerasdl/nn/test_triplet.py) is `kerasdl.scratch.triplet`,
loops over every triplet in NumPy.

Example:

    model = keras.Sequential([..., keras.layers.Dense(64), keras.layers.UnitNormalization()])
    model.compile("adam", TripletLoss(margin=0.2, mining="semi_hard"))
    model.fit(images, labels, batch_size=128)
"""

from __future__ import annotations

import keras
from keras import ops

MINING = ("all", "hard", "semi_hard")
DISTANCES = ("squared", "euclidean")


def pairwise_distances(embeddings, distance: str = "squared"):
    """d(i, j) for every pair of rows of `embeddings` [B, D]: [B, B], exactly 0 on the diagonal.

    Squared: ||x_i||^2 - 2 x_i . x_j + ||x_j||^2, floored at 0 (rounding can
    make it slightly negative). Euclidean: its square root, with a zero
    gradient (instead of an infinite one) where the distance is 0.
    """
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}. Received: distance={distance!r}")
    embeddings = ops.convert_to_tensor(embeddings)
    squared_norms = ops.sum(ops.square(embeddings), axis=-1)
    dot = ops.matmul(embeddings, ops.transpose(embeddings))
    squared = ops.maximum(squared_norms[:, None] - 2.0 * dot + squared_norms[None, :], 0.0)
    off_diagonal = 1.0 - ops.eye(ops.shape(embeddings)[0], dtype=squared.dtype)
    squared = squared * off_diagonal
    if distance == "squared":
        return squared
    zero = ops.equal(squared, 0.0)
    return ops.where(zero, 0.0, ops.sqrt(ops.where(zero, 1.0, squared)))


def _masked_mean(values, mask):
    mask = ops.cast(mask, values.dtype)
    count = ops.sum(mask)
    return ops.sum(values * mask) / ops.maximum(count, 1.0)


def triplet_loss(
    labels, embeddings, margin: float = 0.2, mining: str = "semi_hard", distance: str = "squared"
):
    """The batch's triplet loss (a scalar) under one mining mode; see the module docstring.

    Args:
        labels: [B] (or [B, 1]) integer labels.
        embeddings: [B, D] encodings f(x).
        margin: alpha.
        mining: "all", "hard" or "semi_hard".
        distance: "squared" or "euclidean".
    """
    if mining not in MINING:
        raise ValueError(f"mining must be one of {MINING}. Received: mining={mining!r}")
    embeddings = ops.convert_to_tensor(embeddings)
    labels = ops.reshape(ops.convert_to_tensor(labels), (-1,))
    d = pairwise_distances(embeddings, distance)
    same = ops.equal(labels[:, None], labels[None, :])
    eye = ops.cast(ops.eye(ops.shape(d)[0]), "bool")
    positive = ops.logical_and(same, ops.logical_not(eye))  # [a, p]
    negative = ops.logical_not(same)  # [a, n]
    has_negative = ops.any(negative, axis=1)
    large = ops.max(d) + 1.0  # stands in for +inf in masked minima (keeps gradients finite)
    if mining == "hard":
        hardest_positive = ops.max(ops.where(positive, d, 0.0), axis=1)
        hardest_negative = ops.min(ops.where(negative, d, large), axis=1)
        losses = ops.relu(hardest_positive - hardest_negative + margin)
        return _masked_mean(losses, ops.logical_and(ops.any(positive, axis=1), has_negative))
    d_ap = d[:, :, None]  # [a, p, 1]
    d_an = d[:, None, :]  # [a, 1, n]
    if mining == "all":
        valid = ops.logical_and(positive[:, :, None], negative[:, None, :])
        return _masked_mean(ops.relu(d_ap - d_an + margin), valid)
    farther = ops.logical_and(negative[:, None, :], d_an > d_ap)  # [a, p, n]: negatives beyond the positive
    semi_hard = ops.min(ops.where(farther, d_an, large), axis=2)  # [a, p]
    farthest = ops.max(ops.where(negative, d, 0.0), axis=1)  # [a]
    chosen = ops.where(ops.any(farther, axis=2), semi_hard, farthest[:, None])
    losses = ops.relu(d - chosen + margin)
    return _masked_mean(losses, ops.logical_and(positive, has_negative[:, None]))


@keras.saving.register_keras_serializable(package="kerasdl")
class TripletLoss(keras.losses.Loss):
    """The triplet loss of a batch of (labels, embeddings), with in-batch mining (module docstring).

    Args:
        margin: alpha, >= 0.
        mining: "semi_hard" (default), "hard" or "all".
        distance: "squared" (the lesson's ||f(A) - f(P)||^2) or "euclidean".
        name: the loss's name.

    Call arguments:
        y_true: [B] or [B, 1] integer labels.
        y_pred: [B, D] embeddings.

    The value is already the batch's mean over its mined terms, so the
    reduction is fixed ("none" would not give per-example losses: terms
    belong to pairs, not examples).
    """

    def __init__(
        self,
        margin: float = 0.2,
        mining: str = "semi_hard",
        distance: str = "squared",
        name: str = "triplet_loss",
        **kwargs,
    ):
        if not margin >= 0:
            raise ValueError(f"margin must be a number >= 0. Received: margin={margin}")
        if mining not in MINING:
            raise ValueError(f"mining must be one of {MINING}. Received: mining={mining!r}")
        if distance not in DISTANCES:
            raise ValueError(f"distance must be one of {DISTANCES}. Received: distance={distance!r}")
        kwargs.pop("reduction", None)
        super().__init__(name=name, reduction="sum_over_batch_size", **kwargs)
        self.margin = float(margin)
        self.mining = mining
        self.distance = distance

    def call(self, y_true, y_pred):
        return triplet_loss(y_true, y_pred, self.margin, self.mining, self.distance)

    def get_config(self):
        return {"name": self.name, "margin": self.margin, "mining": self.mining, "distance": self.distance}
