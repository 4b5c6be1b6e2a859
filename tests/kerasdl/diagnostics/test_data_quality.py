"""Datalab's data-quality audit and the flagged label issues, against independent references.

References: a NumPy count of the confident joint's off-diagonal (Northcutt et al. 2021, section 3.1),
p(given label) read off the probability matrix, `scipy.stats.binomtest(...).proportion_ci("wilson")`, and
planted flips / duplicates / outliers on synthetic arrays whose truth is known.
"""

import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from kerasdl.diagnostics.data_quality import audit
from kerasdl.diagnostics.error_analysis import wilson_interval, wrong_label_statement
from kerasdl.diagnostics.label_issues import (
    detection_precision_recall,
    estimated_label_issues,
    find_label_issues,
    flag_label_issues,
    inject_label_noise,
    inject_pair_noise,
)
from kerasdl.diagnostics.report import SplitPredictions, log_data_quality
from tests.kerasdl.diagnostics.test_report import read_back


def numpy_confident_joint_issues(labels, probs):
    """Off-diagonal count of the confident joint, written from the paper's definition."""
    classes = probs.shape[1]
    thresholds = np.array([probs[labels == j, j].mean() for j in range(classes)])
    count = 0
    for given, row in zip(labels, probs, strict=True):
        confident = np.flatnonzero(row >= thresholds)
        if len(confident) == 0:
            continue
        guess = confident[0] if len(confident) == 1 else int(np.argmax(row))
        count += int(guess != given)
    return count


def mismatched_model(n=3000, classes=10, confused=0.15, sure_and_wrong=0.01, flip=0.05, seed=0):
    """Held-out probabilities like the main job's: a model often unsure between paired classes, 5% flips.

    Every example's true class gets most of the probability, except `confused` of them, where the
    model hesitates and gives its pair class (c xor 1) more: p(true) uniform in [0.08, 0.45]
    instead of [0.85, 0.93], and `sure_and_wrong` of them, where it is confidently wrong (p(true) in
    [0.005, 0.03]) and no detector can tell them from flips. Then `flip` of the labels are flipped
    uniformly to another class.
    """
    rng = np.random.default_rng(seed)
    true = rng.integers(0, classes, n)
    probs = rng.dirichlet(np.full(classes, 0.3), n) * 0.06
    confident = rng.uniform(0.85, 0.93, n)
    kind = rng.random(n)
    unsure, wrong = kind < confused, kind > 1 - sure_and_wrong
    confident[unsure] = rng.uniform(0.08, 0.45, unsure.sum())
    confident[wrong] = rng.uniform(0.005, 0.03, wrong.sum())
    probs[np.arange(n), true] += confident
    probs[np.arange(n), true ^ 1] += 0.94 - confident  # rows sum to 1
    noisy, flipped = inject_label_noise(true, flip, classes, seed=seed + 1)
    return true, noisy, flipped, probs


class TestEstimateAndScores:
    def test_confident_joint_count_on_a_hand_example(self):
        # Thresholds: class 0 -> mean(0.9, 0.8, 0.1) = 0.6; class 1 -> mean(0.7, 0.9, 0.2) = 0.6.
        # Example 2 (labelled 0, p = [0.1, 0.9]) reaches only class 1's threshold: an issue; example 5
        # (labelled 1, p = [0.8, 0.2]) reaches only class 0's: an issue. The others agree with their label.
        labels = np.array([0, 0, 0, 1, 1, 1])
        probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.3, 0.7], [0.1, 0.9], [0.8, 0.2]])
        assert numpy_confident_joint_issues(labels, probs) == 2
        assert estimated_label_issues(labels, probs) == 2

    def test_estimate_matches_the_numpy_count_on_a_larger_matrix(self):
        _, noisy, _, probs = mismatched_model(n=800, seed=3)
        assert estimated_label_issues(noisy, probs) == numpy_confident_joint_issues(noisy, probs)

    def test_flagged_set_is_the_low_quality_end_capped_at_the_estimate(self):
        labels = np.array([0, 0, 0, 1, 1, 1])
        probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.01, 0.99], [0.3, 0.7], [0.1, 0.9], [0.98, 0.02]])
        issues = flag_label_issues(labels, probs, threshold=0.03)
        np.testing.assert_array_equal(issues.indices, [2, 5])  # p(given) 0.01, then 0.02
        np.testing.assert_allclose(issues.self_confidence, [0.01, 0.02])
        np.testing.assert_array_equal(issues.suggested, [1, 0])
        assert issues.estimated == numpy_confident_joint_issues(labels, probs)
        # Never more than the estimate: with an estimate of 1 only the most suspicious stays.
        capped = flag_label_issues(labels, probs, threshold=0.5, estimated=1)
        np.testing.assert_array_equal(capped.indices, [2])
        assert "cleanlab estimates 1 label issues" in capped.to_markdown(["a", "b"])
        with pytest.raises(ValueError, match="threshold=1.5"):
            flag_label_issues(labels, probs, threshold=1.5)

    def test_planted_flips_are_found_precisely_where_confident_learning_is_not(self):
        """Measured on this generator (seeds 0, 1, 2): flagged set precision 0.83-0.88 at recall
        0.87-0.93; confident learning's own set precision 0.43-0.49 at recall 0.87-0.95."""
        for seed in (0, 1):
            _, noisy, flipped, probs = mismatched_model(seed=seed)
            precision, recall = detection_precision_recall(flag_label_issues(noisy, probs).mask, flipped)
            assert precision >= 0.75 and recall >= 0.8
            cl_precision, _ = detection_precision_recall(find_label_issues(noisy, probs).mask, flipped)
            assert cl_precision < 0.6


class TestPairNoise:
    def test_flips_exactly_the_share_between_partners(self):
        labels = np.repeat(np.arange(4), 50)
        noisy, flipped = inject_pair_noise(labels, 0.1, [(0, 2)], seed=4)
        assert flipped.sum() == 20
        assert set(labels[flipped]) <= {0, 2} and np.all(noisy[flipped] == 2 - labels[flipped])
        np.testing.assert_array_equal(noisy[~flipped], labels[~flipped])
        again, _ = inject_pair_noise(labels, 0.1, [(0, 2)], seed=4)
        np.testing.assert_array_equal(again, noisy)

    def test_rejects_overlapping_pairs_and_too_many_flips(self):
        with pytest.raises(ValueError, match="disjoint"):
            inject_pair_noise(np.arange(4), 0.1, [(0, 1), (1, 2)])
        with pytest.raises(ValueError, match="2 flips asked of 1"):
            inject_pair_noise(np.array([0, 3, 3, 3]), 0.5, [(0, 1)])


class TestWilson:
    @pytest.mark.parametrize("count,n", [(0, 10), (3, 8), (24, 577), (50, 50), (283, 577)])
    def test_matches_scipy(self, count, n):
        reference = scipy.stats.binomtest(count, n).proportion_ci(0.95, method="wilson")
        np.testing.assert_allclose(wilson_interval(count, n), (reference.low, reference.high), atol=1e-9)

    def test_edges(self):
        assert wilson_interval(0, 0) == (0.0, 1.0)
        with pytest.raises(ValueError, match="count=5, n=3"):
            wilson_interval(5, 3)

    def test_statement_says_the_share_its_interval_and_the_estimate(self):
        flagged = np.zeros(100, bool)
        flagged[:3] = True
        errors = np.zeros(100, bool)
        errors[:8] = True
        low, high = scipy.stats.binomtest(3, 8).proportion_ci(method="wilson")
        text = wrong_label_statement(flagged, errors, estimated=11)
        assert f"3 of 8 dev errors (37.5%, 95% interval {100 * low:.1f}-{100 * high:.1f}%)" in text
        assert "3 flagged in all 100 dev examples" in text and "cleanlab estimates 11 label issues" in text


def planted_audit_case():
    """Labels, probabilities and embeddings with one near-duplicate pair and one far outlier planted."""
    _, noisy, flipped, probs = mismatched_model(n=600, seed=5)
    rng = np.random.default_rng(5)
    features = 0.5 * rng.normal(size=(600, 16)).astype("float32") + 4 * np.eye(10, 16)[noisy]
    features[41] = features[40] + 1e-4  # a near duplicate of 40
    features[99] = 4 * np.eye(16)[15]  # along an axis no class uses (Datalab compares directions: cosine)
    return noisy, flipped, probs, features


def test_audit_finds_planted_issues_and_logs_them(tmp_path):
    labels, flipped, probs, features = planted_audit_case()
    writer = tf.summary.create_file_writer(str(tmp_path / "tb"))
    predictions = SplitPredictions(
        np.zeros((600, 4, 4, 1), np.uint8), labels, probs, tuple("abcdefghij"), split="dev"
    )
    quality, scores = log_data_quality(writer, 1, predictions, features, truth=flipped)
    writer.close()
    np.testing.assert_allclose(quality.label_quality, probs[np.arange(600), labels])  # self-confidence
    reference = flag_label_issues(labels, probs)
    np.testing.assert_array_equal(quality.label_issues.indices, reference.indices)
    assert any({40, 41} <= set(group.tolist()) for group in quality.near_duplicate_sets)
    assert quality.outliers[0] == 99
    assert scores["estimated"] == numpy_confident_joint_issues(labels, probs)
    assert scores["count"] == len(reference) and scores["outliers"] == len(quality.outliers)
    logged = read_back(tmp_path / "tb")
    assert float(logged["label_issues/dev/estimated"]) == scores["estimated"]
    assert "sets of near duplicates" in logged["data_quality/dev/table"].item().decode()
    # Without embeddings: label issues and outliers from the probabilities only.
    assert audit(labels, probs).near_duplicate_sets == []


def test_with_nothing_flagged_the_lowest_quality_examples_are_still_shown(tmp_path):
    labels = np.repeat(np.arange(3), 20)
    probs = np.full((60, 3), 0.05)
    probs[np.arange(60), labels] = 0.9
    probs[7] = [0.3, 0.6, 0.1]  # doubtful, but the given label keeps 0.3: not flagged
    writer = tf.summary.create_file_writer(str(tmp_path / "tb"))
    quality, scores = log_data_quality(
        writer, 1, SplitPredictions(np.zeros((60, 4, 4, 1), np.uint8), labels, probs, ("a", "b", "c")), None
    )
    writer.close()
    assert scores["count"] == 0 and quality.lowest_quality(labels, probs, 1).indices.tolist() == [7]
    logged = read_back(tmp_path / "tb")
    assert "None flagged; the thumbnails show the 24 examples of lowest label quality" in (
        logged["label_issues/dev/table"].item().decode()
    )
    assert "label_issues/dev/suspects" in logged


def test_a_class_no_example_has_is_left_out_not_an_error():
    labels = np.repeat([0, 2], 30)  # class 1 is in the model, not in this split
    probs = np.full((60, 3), 0.05)
    probs[np.arange(60), labels] = 0.9
    probs[4] = [0.02, 0.08, 0.9]  # labelled 0, looks like 2
    quality = audit(labels, probs)
    np.testing.assert_array_equal(quality.label_issues.indices, [4])
    assert quality.label_issues.suggested.tolist() == [2]
    # Over the classes present, example 4's label keeps 0.02 / (0.02 + 0.9) of the probability.
    assert quality.label_quality[4] == pytest.approx(0.02 / 0.92)


def test_audit_runs_in_process(monkeypatch):
    """No process pool: a fork beside TensorFlow's running threads can deadlock (it hung a test worker)."""
    import multiprocessing.pool

    def refuse(*args, **kwargs):
        raise AssertionError("audit started a process pool")

    monkeypatch.setattr(multiprocessing.pool.Pool, "__init__", refuse)
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(4), 400)
    quality = audit(probs.argmax(axis=1), probs, rng.normal(size=(400, 6)))
    assert quality.size == 400
