"""kerasdl.nn.multitask: the masked loss against NumPy, exact zero gradients for '?' labels."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from kerasdl.nn import multitask
from kerasdl.nn.autodiff import value_and_gradients

RNG = np.random.default_rng(0)


def _numpy_loss(y, p):
    """J = 1/m sum_i sum_{j labelled} -y log p - (1 - y) log(1 - p)."""
    labelled = y >= 0
    terms = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    return np.where(labelled, terms, 0).sum() / len(y)


class TestMaskedBinaryCrossentropy:
    def test_matches_numpy(self):
        y = multitask.hide_labels(RNG.integers(0, 2, size=(16, 4)), 0.3, seed=1)
        p = RNG.uniform(0.05, 0.95, size=(16, 4))
        assert (y == multitask.MISSING).any() and (y >= 0).any()
        loss = multitask.MaskedBinaryCrossentropy()(y, p.astype("float32"))
        assert float(loss) == pytest.approx(_numpy_loss(y, p), rel=1e-4)

    @pytest.mark.parametrize("from_logits", [False, True])
    def test_missing_labels_have_exactly_zero_gradient_and_no_effect(self, from_logits):
        y = np.array([[1, -1, 0, 1], [-1, -1, 1, 0], [0, 1, -1, -1]])
        raw = RNG.normal(size=(3, 4)).astype("float32")
        loss_fn = multitask.MaskedBinaryCrossentropy(from_logits=from_logits)

        def predictions(raw):
            return raw if from_logits else ops.sigmoid(raw)

        loss, (grad,) = value_and_gradients(lambda raw: loss_fn(y, predictions(raw)), [raw])
        missing = y < 0
        assert np.all(grad[missing] == 0.0)
        assert np.all(grad[~missing] != 0.0)
        # Whatever the network predicts for a '?' label, the loss is the same.
        changed = raw.copy()
        changed[missing] += 5.0
        again = loss_fn(y, predictions(ops.convert_to_tensor(changed)))
        assert float(again) == pytest.approx(float(loss), rel=1e-6)
        # Logits and probabilities give the same value.
        other = multitask.MaskedBinaryCrossentropy(from_logits=not from_logits)
        same = other(y, ops.sigmoid(raw) if from_logits else raw)
        assert float(same) == pytest.approx(float(loss), rel=1e-4)

    def test_serialization(self):
        loss = multitask.MaskedBinaryCrossentropy(from_logits=True)
        restored = keras.losses.deserialize(keras.losses.serialize(loss))
        assert isinstance(restored, multitask.MaskedBinaryCrossentropy) and restored.from_logits

    def test_rejects_bad_argument(self):
        with pytest.raises(ValueError, match="from_logits=1"):
            multitask.MaskedBinaryCrossentropy(from_logits=1)


def test_masked_accuracy_counts_labelled_entries_only():
    y = np.array([[1, -1], [0, 1], [-1, 0]])
    p = np.array([[0.9, 0.9], [0.8, 0.7], [0.1, 0.6]], "float32")
    metric = multitask.MaskedBinaryAccuracy()
    metric.update_state(y, p)
    assert float(metric.result()) == pytest.approx(2 / 4)  # right: (0,0), (1,1); wrong: (1,0), (2,1)
    task1 = multitask.MaskedBinaryAccuracy(task=1)
    task1.update_state(y, p)
    assert float(task1.result()) == pytest.approx(1 / 2)
    with pytest.raises(ValueError, match="threshold=1.5"):
        multitask.MaskedBinaryAccuracy(threshold=1.5)


def test_fashion_attributes_and_hidden_labels():
    attributes = multitask.fashion_attributes(np.arange(10))
    assert attributes.shape == (10, len(multitask.ATTRIBUTES))
    np.testing.assert_array_equal(np.flatnonzero(attributes[:, 0] == 1), [5, 7, 9])  # footwear
    np.testing.assert_array_equal(np.flatnonzero(attributes[:, 3] == 1), [8])  # carried: bag
    assert attributes[3, 2] == multitask.MISSING  # a dress may or may not have sleeves
    labels = np.zeros((10_000, 4), np.int64)
    hidden = multitask.hide_labels(labels, 0.25, seed=3)
    assert abs((hidden == multitask.MISSING).mean() - 0.25) < 0.02
    np.testing.assert_array_equal(hidden, multitask.hide_labels(labels, 0.25, seed=3))
    with pytest.raises(ValueError, match="labels"):
        multitask.fashion_attributes(np.array([10]))
