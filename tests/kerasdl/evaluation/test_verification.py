"""kerasdl.evaluation.verification against scikit-learn's ROC and AUC, and brute-force loops for the rest."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sklearn_roc_curve

from kerasdl.evaluation.verification import (
    Episodes,
    choose_threshold,
    one_shot_accuracy,
    one_shot_episodes,
    pair_distances,
    roc_auc,
    roc_curve,
    sample_pairs,
    threshold_accuracy,
)


def scored_pairs(seed: int, count: int = 300, levels: int | None = None):
    """Random same/different labels and scores that lean towards "same"; `levels` rounds them (ties)."""
    rng = np.random.default_rng(seed)
    same = rng.random(count) < 0.4
    scores = rng.normal(size=count) + 1.2 * same
    return same, (np.round(scores * levels) / levels if levels else scores)


@pytest.mark.parametrize("levels", [None, 2])
def test_roc_and_auc_equal_scikit_learn(levels):
    for seed in range(5):
        same, scores = scored_pairs(seed, levels=levels)
        fpr, tpr, thresholds = roc_curve(same, scores)
        want_fpr, want_tpr, want_thresholds = sklearn_roc_curve(same, scores, drop_intermediate=False)
        np.testing.assert_allclose(fpr, want_fpr, rtol=0, atol=1e-12)
        np.testing.assert_allclose(tpr, want_tpr, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(thresholds, want_thresholds)
        assert roc_auc(same, scores) == pytest.approx(roc_auc_score(same, scores), abs=1e-12)


def test_auc_of_perfect_reversed_and_tied_scores():
    same = np.array([True, True, False, False])
    assert roc_auc(same, [4.0, 3.0, 2.0, 1.0]) == 1.0
    assert roc_auc(same, [1.0, 2.0, 3.0, 4.0]) == 0.0
    assert roc_auc(same, [1.0, 1.0, 1.0, 1.0]) == 0.5  # every comparison a tie: one half each


def test_roc_refuses_one_kind_of_pair_and_non_finite_scores():
    with pytest.raises(ValueError, match="needs same and different pairs"):
        roc_curve([True, True], [0.1, 0.2])
    with pytest.raises(ValueError, match="1 not finite"):
        roc_curve([True, False], [0.1, np.nan])


def test_the_chosen_threshold_reaches_the_best_accuracy_of_any_threshold():
    for seed in range(5):
        same, scores = scored_pairs(seed, levels=4 if seed % 2 else None)
        best = max(np.mean((scores >= t) == same) for t in [*np.unique(scores), np.inf])
        chosen = choose_threshold(same, scores)
        assert chosen.accuracy == pytest.approx(best, abs=1e-12)
        assert threshold_accuracy(same, scores, chosen.threshold) == pytest.approx(best, abs=1e-12)
        # a midpoint between two neighbouring distinct scores, not a score itself (unless at an end)
        assert chosen.threshold not in set(scores) or chosen.threshold == scores.min()


def test_the_threshold_is_the_midpoint_of_the_gap_between_the_classes():
    chosen = choose_threshold([True, True, False, False], [0.9, 0.7, 0.3, 0.1])
    assert chosen.threshold == pytest.approx(0.5) and chosen.accuracy == 1.0


def test_sample_pairs_are_half_same_and_name_distinct_examples():
    labels = np.repeat(np.arange(3), [50, 5, 2])
    pairs = sample_pairs(labels, count=401, seed=0)
    assert len(pairs) == 401 and pairs.same.sum() == 201
    np.testing.assert_array_equal(pairs.same, labels[pairs.first] == labels[pairs.second])
    assert np.all(pairs.first != pairs.second)
    # same pairs come from each class in proportion to its pairs: 50*49 : 5*4 : 2*1
    same_class = labels[pairs.first[pairs.same]]
    assert np.mean(same_class == 0) > 0.95
    again = sample_pairs(labels, count=401, seed=0)
    np.testing.assert_array_equal(again.first, pairs.first)  # seeded
    with pytest.raises(ValueError, match="two classes"):
        sample_pairs(np.zeros(5), count=10, seed=0)


def test_pair_distances_are_squared_euclidean_or_euclidean():
    embeddings = np.array([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]])
    pairs = sample_pairs(np.array([0, 0, 1]), count=4, seed=1)
    want = [
        np.sum((embeddings[i] - embeddings[j]) ** 2) for i, j in zip(pairs.first, pairs.second, strict=True)
    ]
    np.testing.assert_allclose(pair_distances(embeddings, pairs), want)
    np.testing.assert_allclose(pair_distances(embeddings, pairs, squared=False), np.sqrt(want))


def brute_force_one_shot(embeddings, labels, episodes: Episodes) -> float:
    """Query by query: the label of the nearest support example (first on ties) against the query's label."""
    right = 0
    for support, queries in zip(episodes.support, episodes.queries, strict=True):
        for query in queries:
            distances = [np.linalg.norm(embeddings[query] - embeddings[s]) for s in support]
            right += labels[support[int(np.argmin(distances))]] == labels[query]
    return right / episodes.queries.size


def test_one_shot_episodes_and_accuracy_against_a_loop():
    rng = np.random.default_rng(0)
    labels = rng.permutation(np.repeat([2, 5, 7], 20))
    episodes = one_shot_episodes(labels, episodes=200, seed=3)
    assert episodes.support.shape == episodes.queries.shape == (200, 3)
    np.testing.assert_array_equal(episodes.classes, [2, 5, 7])
    assert np.all(labels[episodes.support] == episodes.classes) and np.all(
        labels[episodes.queries] == [2, 5, 7]
    )
    assert np.all(episodes.support != episodes.queries)
    noisy = rng.normal(size=(60, 4)) + 1.5 * np.eye(4)[np.searchsorted([2, 5, 7], labels)]
    accuracy = one_shot_accuracy(noisy, episodes)
    assert accuracy == pytest.approx(brute_force_one_shot(noisy, labels, episodes), abs=1e-12)
    assert 0.4 < accuracy < 0.95  # between chance (1/3) and perfect: the loop had something to compare
    separated = 10.0 * np.eye(4)[np.searchsorted([2, 5, 7], labels)]
    assert one_shot_accuracy(separated, episodes) == 1.0
    with pytest.raises(ValueError, match="two examples or more"):
        one_shot_episodes(np.array([0, 0, 1]), episodes=5, seed=0)
