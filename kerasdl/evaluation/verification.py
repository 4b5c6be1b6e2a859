"""Verification and one-shot identification, scored: pairs, ROC, AUC, a threshold chosen on dev, episodes.

Course 4, Week 4 ("One-shot learning", "Siamese network", "Face
verification and binary classification"). Verification answers "is x_i the
same identity as x_j?" from a similarity score s(x_i, x_j): the negative
distance -d(f(x_i), f(x_j)) of their encodings, or the probability y-hat of a
binary head. Its quality does not depend on a threshold:

- `roc_curve`: the true-positive rate (same pairs called same) against the
  false-positive rate (different pairs called same) at every threshold t,
  "same" meaning s >= t; the same points as scikit-learn's
  `roc_curve(..., drop_intermediate=False)`;
- `roc_auc`: the area under it, by the trapezoid rule: the probability that
  a random same pair scores above a random different pair, ties counting
  one half (Mann-Whitney), as scikit-learn's `roc_auc_score`.

The lesson's decision "same if d(x_i, x_j) <= tau" needs one tau: choose it
on a validation set of pairs (`choose_threshold`, highest accuracy) and
report the test accuracy at that tau (`threshold_accuracy`), never a
threshold tuned on test.

One-shot identification ("learning from one example"): each episode holds
one support example per class and a query per class, and a query is
identified as the class of its nearest support example
(`one_shot_episodes`, `one_shot_accuracy`). With 3 classes chance is 1/3.

Example:

    pairs = sample_pairs(labels, count=4000, seed=0)
    scores = -pair_distances(embeddings, pairs)
    auc = roc_auc(pairs.same, scores)
    chosen = choose_threshold(validation.same, validation_scores)
    test_accuracy = threshold_accuracy(pairs.same, scores, chosen.threshold)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Pairs:
    """Pairs of examples: indices `first` and `second` [P], and `same` [P] (True when their labels agree)."""

    first: np.ndarray
    second: np.ndarray
    same: np.ndarray

    def __len__(self) -> int:
        return len(self.same)


def sample_pairs(labels, count: int, seed: int) -> Pairs:
    """`count` random pairs of distinct examples, half of one label (rounded up) and half of two labels.

    Each same pair draws a label in proportion to the pairs it has, then two
    different examples of it; each different pair draws two examples until
    their labels differ. Pairs may repeat (they are drawn with replacement).

    Raises:
        ValueError: `count` < 2, or no label with two examples, or a single label.
    """
    labels = np.ravel(np.asarray(labels))
    classes, counts = np.unique(labels, return_counts=True)
    if count < 2 or len(classes) < 2 or counts.max() < 2:
        raise ValueError(
            "sample_pairs needs count >= 2 and labels with at least two classes, one of two examples. "
            f"Received: count={count}, {len(classes)} classes, at most {counts.max(initial=0)} examples each"
        )
    rng = np.random.default_rng(seed)
    same_count = (count + 1) // 2
    members = [np.flatnonzero(labels == c) for c in classes]
    weights = counts * (counts - 1.0)
    chosen = rng.choice(len(classes), size=same_count, p=weights / weights.sum())
    first, second = np.empty(same_count, np.int64), np.empty(same_count, np.int64)
    for k, c in enumerate(chosen):
        first[k], second[k] = rng.choice(members[c], size=2, replace=False)
    different_first, different_second = [], []
    while len(different_first) < count - same_count:
        i, j = rng.integers(len(labels), size=2)
        if labels[i] != labels[j]:
            different_first.append(i)
            different_second.append(j)
    first = np.concatenate([first, np.asarray(different_first, np.int64)])
    second = np.concatenate([second, np.asarray(different_second, np.int64)])
    return Pairs(first, second, labels[first] == labels[second])


def pair_distances(embeddings, pairs: Pairs, squared: bool = True) -> np.ndarray:
    """||f(x_i) - f(x_j)||^2 (or ||.|| with `squared=False`) of every pair, in float64: [P]."""
    embeddings = np.asarray(embeddings, np.float64)
    squared_distances = np.sum((embeddings[pairs.first] - embeddings[pairs.second]) ** 2, axis=-1)
    return squared_distances if squared else np.sqrt(squared_distances)


def _check_scores(same, scores) -> tuple[np.ndarray, np.ndarray]:
    same = np.ravel(np.asarray(same)).astype(bool)
    scores = np.ravel(np.asarray(scores, np.float64))
    if len(same) != len(scores) or not np.all(np.isfinite(scores)):
        raise ValueError(
            f"same and scores must be one finite score per pair. Received: {len(same)} labels, "
            f"{len(scores)} scores, {int(np.sum(~np.isfinite(scores)))} not finite"
        )
    if same.all() or not same.any():
        raise ValueError(
            f"the ROC needs same and different pairs. Received: {int(same.sum())} same of {len(same)}"
        )
    return same, scores


def roc_curve(same, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds): the ROC at every distinct score, from the highest, after a first point (0, 0).

    Point k calls "same" every pair with score >= thresholds[k]; the first
    threshold is +inf (no pair called same), the last the lowest score (every
    pair). The higher the score, the more alike the pair: pass -distance.
    """
    same, scores = _check_scores(same, scores)
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores, sorted_same = scores[order], same[order]
    last_of_each = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(sorted_scores) - 1]
    true_positives = np.cumsum(sorted_same)[last_of_each]
    false_positives = (last_of_each + 1) - true_positives
    tpr = np.r_[0.0, true_positives / same.sum()]
    fpr = np.r_[0.0, false_positives / (~same).sum()]
    return fpr, tpr, np.r_[np.inf, sorted_scores[last_of_each]]


def roc_auc(same, scores) -> float:
    """The area under the ROC (trapezoids): P(score of a same pair > of a different pair), ties one half."""
    fpr, tpr, _ = roc_curve(same, scores)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def threshold_accuracy(same, scores, threshold: float) -> float:
    """The share of pairs called right when "same" means score >= threshold."""
    same = np.ravel(np.asarray(same)).astype(bool)
    return float(np.mean((np.ravel(np.asarray(scores, np.float64)) >= threshold) == same))


@dataclass(frozen=True)
class Threshold:
    """A decision threshold on the score and the accuracy it gave on the pairs it was chosen on."""

    threshold: float
    accuracy: float


def choose_threshold(same, scores) -> Threshold:
    """The threshold of highest accuracy on these pairs (choose it on validation pairs, never on test).

    Every threshold between two neighbouring distinct scores decides these
    pairs the same way; the one returned is the midpoint of the best such
    interval (the higher threshold of equally accurate ones), so new pairs
    scoring near either end are decided as neither neighbour would suggest
    more than the other. At the ends it is the lowest score (all "same") or
    +inf (none).
    """
    fpr, tpr, thresholds = roc_curve(same, scores)
    same = np.ravel(np.asarray(same)).astype(bool)
    positives, negatives = same.sum(), (~same).sum()
    accuracy = (tpr * positives + (1 - fpr) * negatives) / len(same)
    best = int(np.argmax(accuracy))
    upper = thresholds[best]
    lower = thresholds[best + 1] if best + 1 < len(thresholds) else -np.inf
    threshold = upper if not np.isfinite(upper) or not np.isfinite(lower) else (upper + lower) / 2
    return Threshold(float(threshold), float(accuracy[best]))


@dataclass(frozen=True)
class Episodes:
    """One-shot episodes: `support` and `queries` [E, W], example indices; column w is of `classes[w]`."""

    classes: np.ndarray
    support: np.ndarray
    queries: np.ndarray

    def __len__(self) -> int:
        return len(self.support)


def one_shot_episodes(labels, episodes: int, seed: int) -> Episodes:
    """`episodes` random episodes over every class of `labels`: one support and one other query per class.

    Raises:
        ValueError: fewer than 2 classes, or a class with fewer than 2 examples.
    """
    labels = np.ravel(np.asarray(labels))
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2 or counts.min() < 2 or episodes < 1:
        raise ValueError(
            "one-shot episodes need episodes >= 1 and two classes or more, each with two examples or more. "
            f"Received: episodes={episodes}, "
            f"counts per class {dict(zip(classes.tolist(), counts.tolist(), strict=True))}"
        )
    rng = np.random.default_rng(seed)
    support = np.empty((episodes, len(classes)), np.int64)
    queries = np.empty_like(support)
    for w, c in enumerate(classes):
        members = np.flatnonzero(labels == c)
        first = rng.integers(len(members), size=episodes)
        second = rng.integers(len(members) - 1, size=episodes)
        second += second >= first  # a different example of the same class
        support[:, w], queries[:, w] = members[first], members[second]
    return Episodes(classes, support, queries)


def one_shot_accuracy(embeddings, episodes: Episodes) -> float:
    """The share of queries whose nearest support example (squared Euclidean) is of their own class.

    A query equally near two support examples goes to the first in `classes`.
    """
    embeddings = np.asarray(embeddings, np.float64)
    support = embeddings[episodes.support]  # [E, W, D]
    queries = embeddings[episodes.queries]  # [E, W, D]
    distances = np.sum((queries[:, :, None, :] - support[:, None, :, :]) ** 2, axis=-1)  # [E, query, support]
    nearest = np.argmin(distances, axis=-1)
    return float(np.mean(nearest == np.arange(episodes.support.shape[1])[None, :]))
