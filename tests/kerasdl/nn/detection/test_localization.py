"""Localization and landmarks: targets by hand, the head against Dense with copied weights, the loss against
the lesson's formula written vector by vector."""

import keras
import numpy as np
import pytest
from keras import ops

from kerasdl.nn.detection.localization import LocalizationHead, LocalizationLoss, localization_targets
from kerasdl.scratch import detection as scratch
from tests.saving import reload

numpy = ops.convert_to_numpy
N_CLASSES, N_LANDMARKS = 3, 2
WIDTH = 5 + N_CLASSES + 2 * N_LANDMARKS


def random_vectors(seed: int, m: int = 8):
    """(predictions in (0, 1) with softmax-like classes, targets with p_c = 1 for about half the rows)."""
    rng = np.random.default_rng(seed)
    y_hat = rng.uniform(0.01, 0.99, (m, WIDTH))
    y_hat[:, 5 : 5 + N_CLASSES] /= y_hat[:, 5 : 5 + N_CLASSES].sum(axis=1, keepdims=True)
    y = rng.uniform(0, 1, (m, WIDTH))
    y[:, 0] = rng.uniform(size=m) < 0.5
    y[:, 5 : 5 + N_CLASSES] = np.eye(N_CLASSES)[rng.integers(0, N_CLASSES, m)]
    return y_hat, y


def test_targets_by_hand():
    boxes = np.array([[[0.2, 0.1, 0.6, 0.5]], [[0, 0, 0, 0]]])  # y from 0.2 to 0.6, x from 0.1 to 0.5; empty
    landmarks = np.array([[[[0.3, 0.4], [0.2, 0.5]]], [[[0, 0], [0, 0]]]])
    targets = localization_targets(boxes, np.array([[1], [-1]]), N_CLASSES, landmarks)
    # (p_c, b_x, b_y, b_h, b_w, c_1, c_2, c_3, l_1x, l_1y, l_2x, l_2y)
    np.testing.assert_allclose(targets[0], [1, 0.3, 0.4, 0.4, 0.4, 0, 1, 0, 0.3, 0.4, 0.2, 0.5], atol=1e-7)
    np.testing.assert_array_equal(targets[1], np.zeros(WIDTH))


def test_targets_refuse_two_objects():
    with pytest.raises(ValueError, match="at most one object per image; image 0 has 2"):
        localization_targets(np.zeros((1, 2, 4)), np.array([[0, 1]]), N_CLASSES)


@pytest.mark.parametrize("form", ["lesson", "practical"])
def test_loss_equals_the_lessons_formula_vector_by_vector(form):
    y_hat, y = random_vectors(seed=0)
    loss = LocalizationLoss(N_CLASSES, N_LANDMARKS, form=form, dtype="float64", reduction=None)
    if form == "lesson":
        expected = [scratch.localization_loss(a, b) for a, b in zip(y_hat, y, strict=True)]
    else:
        expected = [
            scratch.localization_loss_practical(a, b, N_CLASSES) for a, b in zip(y_hat, y, strict=True)
        ]
    np.testing.assert_allclose(numpy(loss(y, y_hat)), expected, rtol=1e-10)


def test_without_an_object_only_p_c_counts():
    y_hat, y = random_vectors(seed=1)
    y[:, 0] = 0
    changed = y.copy()
    changed[:, 1:] = 1 - changed[:, 1:]  # "don't care" entries
    for form in ("lesson", "practical"):
        loss = LocalizationLoss(N_CLASSES, N_LANDMARKS, form=form, reduction=None)
        np.testing.assert_allclose(numpy(loss(y, y_hat)), numpy(loss(changed, y_hat)))


def test_head_is_a_dense_layer_then_each_parts_activation():
    inputs = np.random.default_rng(2).normal(size=(4, 6)).astype("float32")
    head = LocalizationHead(N_CLASSES, N_LANDMARKS, bias_initializer="random_normal")
    outputs = numpy(head(inputs))
    dense = keras.layers.Dense(WIDTH)
    dense.build((None, 6))
    dense.set_weights(head.get_weights())
    z = numpy(dense(inputs)).astype(np.float64)
    sigmoid = 1 / (1 + np.exp(-z))
    softmax = np.exp(z[:, 5:8]) / np.exp(z[:, 5:8]).sum(axis=1, keepdims=True)
    expected = np.concatenate([sigmoid[:, :5], softmax, sigmoid[:, 8:]], axis=1)
    np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-6)


def test_a_model_with_head_and_loss_trains_saves_and_reloads(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(16, 5)).astype("float32")
    _, y = random_vectors(seed=4, m=16)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="relu"),
                              LocalizationHead(N_CLASSES, N_LANDMARKS)])  # fmt: skip
    loss = LocalizationLoss(N_CLASSES, N_LANDMARKS, form="practical")
    model.compile(keras.optimizers.Adam(0.05), loss)
    before = float(numpy(loss(y, model(x))))
    model.fit(np.tile(x, (10, 1)), np.tile(y, (10, 1)), batch_size=16, verbose=0)
    assert float(numpy(loss(y, model(x)))) < 0.8 * before
    loaded = reload(model, tmp_path)
    np.testing.assert_allclose(numpy(loaded(x)), numpy(model(x)), rtol=1e-6)
    assert loaded.loss.get_config() == model.loss.get_config()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: LocalizationHead(0), "num_classes must be an integer >= 1. Received: num_classes=0"),
        (lambda: LocalizationHead(2, num_landmarks=-1), "num_landmarks must be an integer >= 0"),
        (lambda: LocalizationLoss(2, form="cubic"), "form must be one of"),
    ],
)
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()
