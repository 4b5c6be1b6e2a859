"""kerasdl.nn.ctc against the NumPy reference (kerasdl.scratch.ctc), on every Keras backend.

The reference's loss is the forward algorithm, itself checked against the sum over every alignment
(tests/kerasdl/scratch/test_ctc.py); its best path is the greedy decoder.
"""

import itertools

import keras
import numpy as np
import pytest
from keras import ops

from kerasdl.nn.ctc import CTCLoss, ctc_decode
from kerasdl.scratch import ctc as reference
from kerasdl.scratch.gradient_check import relative_difference
from tests.backends.jacobians import compute_gradient
from tests.saving import reload

numpy = ops.convert_to_numpy


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def batch(seed=0, m=4, steps=9, classes=5, pad=-1, blank=0):
    """Random logits [m, T, V] and transcripts padded with `pad`, of lengths 0..3, no blank in them."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(m, steps, classes))
    characters = [k for k in range(classes) if k != blank]
    labels = np.full((m, 3), pad)
    transcripts = []
    for i in range(m):
        transcript = list(rng.choice(characters, size=i % 4))
        labels[i, : len(transcript)] = transcript
        transcripts.append(transcript)
    return logits, labels, transcripts


class TestLoss:
    @pytest.mark.parametrize(
        "blank, pad", [(0, -1), (4, -1), (0, 99)], ids=["blank_first", "blank_last", "pad_99"]
    )
    def test_equals_the_reference(self, blank, pad):
        logits, labels, transcripts = batch(blank=blank, pad=pad)
        loss = CTCLoss(blank=blank, pad=pad, reduction=None)
        per_example = numpy(loss(ops.convert_to_tensor(labels), ops.convert_to_tensor(logits, "float32")))
        expected = [
            reference.ctc_loss(log_softmax(x), t, blank) for x, t in zip(logits, transcripts, strict=True)
        ]
        np.testing.assert_allclose(per_example, expected, rtol=1e-4)

    def test_the_mean_over_the_batch(self):
        logits, labels, transcripts = batch(1)
        mean = float(
            numpy(CTCLoss()(ops.convert_to_tensor(labels), ops.convert_to_tensor(logits, "float32")))
        )
        expected = np.mean(
            [reference.ctc_loss(log_softmax(x), t) for x, t in zip(logits, transcripts, strict=True)]
        )
        assert mean == pytest.approx(expected, rel=1e-4)

    def test_gradients_equal_numerical_gradients_of_the_reference(self):
        logits, labels, transcripts = batch(2, m=2, steps=4, classes=3)
        loss = CTCLoss(reduction="sum")
        labels = ops.convert_to_tensor(labels)
        theoretical, _ = compute_gradient(lambda z: loss(labels, z), [logits.astype("float32")])

        def reference_total(z):
            return sum(reference.ctc_loss(log_softmax(x), t) for x, t in zip(z, transcripts, strict=True))

        numerical, delta = np.zeros(logits.size), 1e-5
        for i in range(logits.size):
            step = np.zeros(logits.size)
            step[i] = delta
            step = step.reshape(logits.shape)
            numerical[i] = (reference_total(logits + step) - reference_total(logits - step)) / (2 * delta)
        assert relative_difference(theoretical[0][0], numerical) < 1e-3  # float32 gradients

    def test_round_trips_through_the_safe_loader(self, tmp_path):
        inputs = keras.Input((6, 2))
        model = keras.Model(inputs, keras.layers.Dense(4)(inputs))
        model.compile(optimizer="adam", loss=CTCLoss(blank=3, pad=-2))
        model.optimizer.build(model.trainable_variables)  # saved with its slots, as after training
        loaded = reload(model, tmp_path)
        assert isinstance(loaded.loss, CTCLoss) and (loaded.loss.blank, loaded.loss.pad) == (3, -2)

    @pytest.mark.parametrize(
        "kwargs, message",
        [
            ({"blank": 1, "pad": 1}, "pad must differ from the blank"),
            ({"blank": 0.5}, "blank must be an integer"),
        ],
    )
    def test_bad_arguments(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            CTCLoss(**kwargs)


class TestDecode:
    def test_greedy_is_the_reference_best_path(self):
        logits, _, _ = batch(3, m=6, steps=12)
        decoded = ctc_decode(ops.convert_to_tensor(logits, "float32"))
        assert decoded == [reference.best_path(x) for x in logits]

    def test_lengths_leave_the_padding_frames_out(self):
        logits, _, _ = batch(4, m=3, steps=10)
        lengths = np.array([10, 6, 3], "int32")
        decoded = ctc_decode(ops.convert_to_tensor(logits, "float32"), lengths)
        assert decoded == [reference.best_path(x[:n]) for x, n in zip(logits, lengths, strict=True)]

    def test_a_wide_beam_finds_the_most_likely_transcript(self):
        # Small enough to list every transcript: the beam's answer is the argmax of P(y | x).
        steps, classes = 4, 3
        for seed in range(4):
            logits, _, _ = batch(10 + seed, m=1, steps=steps, classes=classes)
            log_probs = log_softmax(logits[0])
            transcripts = {
                tuple(reference.collapse(p)) for p in itertools.product(range(classes), repeat=steps)
            }
            best = min(transcripts, key=lambda t: reference.ctc_loss(log_probs, t))
            (found,) = ctc_decode(ops.convert_to_tensor(logits, "float32"), beam_width=64)
            assert tuple(found) == best

    def test_a_beam_width_below_one_is_refused(self):
        with pytest.raises(ValueError, match="beam_width must be at least 1"):
            ctc_decode(np.zeros((1, 2, 3), "float32"), beam_width=0)
