"""Lesson cross-entropies: finite at y_pred = 0 or 1, equal to keras.losses, equal to the lesson's formula."""

import keras
import numpy as np
import pytest
from keras import ops

from kerasdl.nn import losses
from kerasdl.nn.autodiff import value_and_gradients
from kerasdl.training.saving import load_model, save_model
from tests.backends.gaps import keras_optimizer_not_allowlisted, rtol64

RNG = np.random.default_rng(0)
CLASSES = 5


def probabilities(n=64):
    return ops.convert_to_numpy(ops.softmax(RNG.normal(scale=3, size=(n, CLASSES)).astype("float32")))


def saturated_probabilities():
    """Rows with exact 0s and a 1, as float32 softmax gives for large logit gaps."""
    p = np.zeros((4, CLASSES), "float32")
    p[np.arange(4), [0, 1, 2, 3]] = 1.0
    return p


CASES = {
    # name: (ours, keras' function, labels, predictions) with predictions in probability space
    "binary": (
        losses.binary_crossentropy,
        keras.losses.binary_crossentropy,
        lambda p: (p > 0.2).astype("float32"),
        lambda p: p,
    ),
    "categorical": (
        losses.categorical_crossentropy,
        keras.losses.categorical_crossentropy,
        lambda p: np.eye(CLASSES, dtype="float32")[RNG.integers(0, CLASSES, len(p))],
        lambda p: p,
    ),
    "sparse": (
        losses.sparse_categorical_crossentropy,
        keras.losses.sparse_categorical_crossentropy,
        lambda p: RNG.integers(0, CLASSES, len(p)),
        lambda p: p,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
class TestAgainstKeras:
    def test_probabilities_match_keras_including_exact_zeros_and_ones(self, case):
        ours, theirs, labels, _ = CASES[case]
        for p in (probabilities(), saturated_probabilities()):
            y = labels(p)
            # Keras' sparse loss renormalizes after clipping: at most (classes - 1) * epsilon apart.
            np.testing.assert_allclose(
                ops.convert_to_numpy(ours(y, p)),
                ops.convert_to_numpy(theirs(y, p)),
                rtol=1e-6,
                atol=CLASSES * keras.config.epsilon(),
            )

    def test_logits_match_keras(self, case):
        ours, theirs, labels, _ = CASES[case]
        z = RNG.normal(scale=30, size=(64, CLASSES)).astype("float32")  # saturated sigmoids and softmaxes
        y = labels(z)
        np.testing.assert_allclose(
            ops.convert_to_numpy(ours(y, z, from_logits=True)),
            ops.convert_to_numpy(theirs(y, z, from_logits=True)),
            rtol=1e-5,
            atol=1e-6,
        )

    @pytest.mark.parametrize("from_logits", [False, True])
    def test_finite_loss_and_gradient_at_the_edges(self, case, from_logits):
        ours = CASES[case][0]
        p = saturated_probabilities()
        # Labels that contradict the saturated predictions: the literal formula takes log(0) here.
        wrong = {
            "binary": 1 - p,
            "categorical": np.roll(p, 1, axis=-1),
            "sparse": (p.argmax(-1) + 1) % CLASSES,
        }
        y = wrong[case]
        x = np.where(p == 1, 1e4, -1e4).astype("float32") if from_logits else p
        value = ops.convert_to_numpy(ours(y, x, from_logits=from_logits))
        _, (gradient,) = value_and_gradients(lambda x: ops.sum(ours(y, x, from_logits=from_logits)), [x])
        assert np.all(np.isfinite(value)) and np.all(np.isfinite(gradient))
        assert np.all(value > 10)  # and still large: a confident wrong answer costs a lot


def test_the_literal_lesson_formula_is_infinite_where_ours_is_not():
    a, y = np.array([[0.0, 1.0]], "float32"), np.array([[1.0, 0.0]], "float32")
    with np.errstate(divide="ignore"):
        literal = -(y * np.log(a) + (1 - y) * np.log(1 - a))
    assert np.all(np.isinf(literal))
    assert np.isfinite(ops.convert_to_numpy(losses.binary_crossentropy(y, a))).all()


def test_binary_matches_the_lesson_formula_inside_the_clip():
    a = RNG.uniform(0.01, 0.99, size=(32, 3))
    y = (RNG.uniform(size=(32, 3)) > 0.5).astype("float64")
    expected = np.mean(-(y * np.log(a) + (1 - y) * np.log(1 - a)), axis=-1)
    # ops.mean over the last axis is float32 outside TensorFlow (tests/backends/gaps.py).
    np.testing.assert_allclose(
        ops.convert_to_numpy(losses.binary_crossentropy(y, a)), expected, rtol=rtol64(1e-12)
    )


def test_categorical_matches_the_lesson_formula_inside_the_clip():
    e = np.exp(RNG.normal(size=(64, CLASSES)))
    p = e / e.sum(axis=-1, keepdims=True)
    y = np.eye(CLASSES)[RNG.integers(0, CLASSES, len(p))]
    np.testing.assert_allclose(
        ops.convert_to_numpy(losses.categorical_crossentropy(y, p)),
        -np.sum(y * np.log(p), axis=-1),
        rtol=1e-12,
    )


def test_sparse_labels_with_a_trailing_axis():
    p = probabilities(8)
    labels = RNG.integers(0, CLASSES, 8)
    np.testing.assert_allclose(
        ops.convert_to_numpy(losses.sparse_categorical_crossentropy(labels[:, None], p)),
        ops.convert_to_numpy(losses.sparse_categorical_crossentropy(labels, p)),
    )


@pytest.mark.parametrize("epsilon", [0, -1e-7, 0.5, 2])
def test_rejects_bad_epsilon(epsilon):
    with pytest.raises(ValueError, match="Received: epsilon="):
        losses.BinaryCrossentropy(epsilon=epsilon)


@keras_optimizer_not_allowlisted
def test_loss_classes_train_and_load_through_registration(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(CLASSES)])
    model.compile("sgd", losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = RNG.normal(size=(16, 4)).astype("float32"), RNG.integers(0, CLASSES, 16)
    expected = ops.convert_to_numpy(
        keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, model.predict(x, verbose=0))
    )
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), expected, rtol=1e-6)
    loaded = load_model(save_model(model, tmp_path / "model.keras"))
    assert isinstance(loaded.loss, losses.SparseCategoricalCrossentropy) and loaded.loss.from_logits
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0), expected, rtol=1e-6)


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("smoothing", [0.1, 0.3])
def test_label_smoothing_matches_keras(from_logits, smoothing):
    """Oracle: Keras' own losses with `label_smoothing` (the sparse version against one-hot labels)."""
    logits = RNG.normal(scale=2, size=(32, CLASSES)).astype("float32")
    given = logits if from_logits else ops.convert_to_numpy(ops.softmax(logits))
    labels = RNG.integers(0, CLASSES, 32)
    one_hot = np.eye(CLASSES, dtype="float32")[labels]
    expected = keras.losses.categorical_crossentropy(
        one_hot, given, from_logits=from_logits, label_smoothing=smoothing
    )
    for ours in (
        losses.categorical_crossentropy(one_hot, given, from_logits=from_logits, label_smoothing=smoothing),
        losses.sparse_categorical_crossentropy(
            labels, given, from_logits=from_logits, label_smoothing=smoothing
        ),
    ):
        np.testing.assert_allclose(ops.convert_to_numpy(ours), ops.convert_to_numpy(expected), rtol=1e-5)
    binary_given = logits[:, :1] if from_logits else ops.convert_to_numpy(ops.sigmoid(logits[:, :1]))
    binary_labels = (labels[:, None] % 2).astype("float32")
    np.testing.assert_allclose(
        ops.convert_to_numpy(losses.binary_crossentropy(
            binary_labels, binary_given, from_logits=from_logits, label_smoothing=smoothing
        )),
        ops.convert_to_numpy(keras.losses.binary_crossentropy(
            binary_labels, binary_given, from_logits=from_logits, label_smoothing=smoothing
        )),
        rtol=1e-5,
    )  # fmt: skip
    loss = losses.SparseCategoricalCrossentropy(from_logits=from_logits, label_smoothing=smoothing)
    assert losses.SparseCategoricalCrossentropy.from_config(loss.get_config()).label_smoothing == smoothing
    with pytest.raises(ValueError, match="label_smoothing=1"):
        losses.SparseCategoricalCrossentropy(label_smoothing=1)
