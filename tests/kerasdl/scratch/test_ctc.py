"""kerasdl.scratch.ctc against the definition (a sum over every alignment) and TensorFlow's CTC.

The definition is enumerated on alphabets and lengths small enough to list every path; TensorFlow
(`tf.nn.ctc_loss`, `tf.nn.ctc_greedy_decoder`) is a second, independent implementation.
"""

import itertools

import numpy as np
import pytest

from kerasdl.scratch.ctc import best_path, collapse, ctc_loss

BLANK = 0


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def random_log_probs(seed, steps, classes):
    return log_softmax(np.random.default_rng(seed).normal(scale=2.0, size=(steps, classes)))


def enumerated_loss(log_probs, label):
    """-log of the summed probability of every path of length T that collapses to `label`."""
    steps, classes = log_probs.shape
    total = 0.0
    for path in itertools.product(range(classes), repeat=steps):
        if collapse(path, BLANK) == list(label):
            total += np.exp(sum(log_probs[t, k] for t, k in enumerate(path)))
    return -np.log(total) if total > 0 else np.inf


class TestCollapse:
    def test_merges_repeats_then_drops_blanks(self):
        assert collapse([1, 1, 0, 0, 2, 2, 2, 0, 1], BLANK) == [1, 2, 1]
        assert collapse([1, 0, 1], BLANK) == [1, 1]  # a blank separates two equal characters
        assert collapse([0, 0, 0], BLANK) == []
        assert collapse([3, 3, 1], blank=3) == [1]


class TestLoss:
    @pytest.mark.parametrize("label", [[], [1], [2, 1], [1, 1], [1, 2, 1], [2, 2, 2]])
    def test_equals_the_sum_over_every_alignment(self, label):
        log_probs = random_log_probs(len(label), steps=6, classes=3)
        assert ctc_loss(log_probs, label) == pytest.approx(enumerated_loss(log_probs, label), rel=1e-10)

    def test_a_label_longer_than_its_frames_allow_has_no_path(self):
        # "1 1" needs 3 frames (1, blank, 1): with 2 frames no path reads as it.
        assert ctc_loss(random_log_probs(0, 2, 3), [1, 1]) == np.inf
        assert np.isfinite(ctc_loss(random_log_probs(0, 3, 3), [1, 1]))

    def test_the_blank_in_a_label_is_refused(self):
        with pytest.raises(ValueError, match="must not contain the blank"):
            ctc_loss(random_log_probs(0, 4, 3), [1, 0])

    def test_equals_tensorflow(self):
        tf = pytest.importorskip("tensorflow")
        rng = np.random.default_rng(5)
        for seed in range(6):
            steps, classes = 12, 6
            log_probs = random_log_probs(seed, steps, classes)
            label = list(rng.integers(1, classes, size=rng.integers(1, 6)))
            theirs = tf.nn.ctc_loss(
                labels=tf.constant([label], tf.int32),
                logits=tf.constant(log_probs[None], tf.float32),
                label_length=tf.constant([len(label)]),
                logit_length=tf.constant([steps]),
                logits_time_major=False,
                blank_index=BLANK,
            )
            assert ctc_loss(log_probs, label) == pytest.approx(float(theirs[0]), rel=1e-5)


class TestBestPath:
    def test_equals_tensorflow_greedy_decoder(self):
        tf = pytest.importorskip("tensorflow")
        for seed in range(8):
            log_probs = random_log_probs(seed, 15, 5)
            # TensorFlow's decoder treats the last class as the blank: move ours (0) there.
            time_major = np.roll(log_probs, -1, axis=-1)[:, None, :]
            (decoded,), _ = tf.nn.ctc_greedy_decoder(tf.constant(time_major, tf.float32), tf.constant([15]))
            theirs = (
                [int(k) + 1 for k in tf.sparse.to_dense(decoded).numpy()[0]]
                if decoded.values.shape[0]
                else []
            )
            assert best_path(log_probs, BLANK) == theirs

    def test_the_best_path_need_not_give_the_most_likely_transcript(self):
        # Two frames: "1" is spread over three paths (1_, _1, 11), blank-blank over one.
        probs = np.array([[0.4, 0.35, 0.25], [0.4, 0.35, 0.25]])
        log_probs = np.log(probs)
        assert best_path(log_probs) == []
        assert ctc_loss(log_probs, [1]) < ctc_loss(log_probs, [])  # P("1") = 0.4025 > P("") = 0.16
