"""The triplet loss in NumPy, triplet by triplet: the oracle of `kerasdl.nn.triplet`.

Course 4, Week 4 ("Triplet loss"): L(A, P, N) = max(d(A, P) - d(A, N) + alpha, 0)
with d the squared (the lesson's) or plain Euclidean distance. Each mining
mode is written as loops over the batch, from its definition:

- `batch_all`: the mean of L over every (a, p, n) with a != p, same label
  for a and p, another label for n;
- `batch_hard`: per anchor, the farthest positive and the nearest negative;
  the mean over anchors that have both;
- `semi_hard`: per anchor-positive pair, the nearest negative among those
  farther than the positive (d(a, n) > d(a, p)); when there is none, the
  anchor's farthest negative (TensorFlow Addons' `TripletSemiHardLoss`);
  the mean over pairs whose anchor has a negative.

A batch without any term has loss 0.

Example:

    >>> import numpy as np
    >>> batch_all(np.array([0, 0, 1]), np.array([[0.0], [1.0], [1.5]]), margin=0.5)
    0.625
"""

from __future__ import annotations

import numpy as np


def distance(x: np.ndarray, y: np.ndarray, squared: bool = True) -> float:
    """||x - y||^2, or ||x - y|| with `squared=False`."""
    value = float(np.sum((np.asarray(x, np.float64) - np.asarray(y, np.float64)) ** 2))
    return value if squared else value**0.5


def _triplet(d_ap: float, d_an: float, margin: float) -> float:
    return max(d_ap - d_an + margin, 0.0)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def batch_all(labels, embeddings, margin: float = 0.2, squared: bool = True) -> float:
    labels = np.ravel(labels)
    m = len(labels)
    losses = []
    for a in range(m):
        for p in range(m):
            if p == a or labels[p] != labels[a]:
                continue
            for n in range(m):
                if labels[n] != labels[a]:
                    d_ap = distance(embeddings[a], embeddings[p], squared)
                    d_an = distance(embeddings[a], embeddings[n], squared)
                    losses.append(_triplet(d_ap, d_an, margin))
    return _mean(losses)


def batch_hard(labels, embeddings, margin: float = 0.2, squared: bool = True) -> float:
    labels = np.ravel(labels)
    m = len(labels)
    losses = []
    for a in range(m):
        positives = [distance(embeddings[a], embeddings[p], squared) for p in range(m)
                     if p != a and labels[p] == labels[a]]  # fmt: skip
        negatives = [
            distance(embeddings[a], embeddings[n], squared) for n in range(m) if labels[n] != labels[a]
        ]
        if positives and negatives:
            losses.append(_triplet(max(positives), min(negatives), margin))
    return _mean(losses)


def semi_hard(labels, embeddings, margin: float = 0.2, squared: bool = True) -> float:
    labels = np.ravel(labels)
    m = len(labels)
    losses = []
    for a in range(m):
        negatives = [
            distance(embeddings[a], embeddings[n], squared) for n in range(m) if labels[n] != labels[a]
        ]
        if not negatives:
            continue
        for p in range(m):
            if p == a or labels[p] != labels[a]:
                continue
            d_ap = distance(embeddings[a], embeddings[p], squared)
            farther = [d_an for d_an in negatives if d_an > d_ap]
            d_an = min(farther) if farther else max(negatives)
            losses.append(_triplet(d_ap, d_an, margin))
    return _mean(losses)


MINING = {"all": batch_all, "hard": batch_hard, "semi_hard": semi_hard}
