"""kerasdl.harness.course3_report and learning_curves: the pieces around the report that need no training."""

import keras
import numpy as np
import pytest
import scipy.special

from kerasdl.harness.course3_report import (
    class_probabilities,
    compiled_for_report,
    has_accuracy_metric,
    takes_one_hot_labels,
)
from kerasdl.harness.learning_curves import parse_fractions


@pytest.mark.parametrize(
    "text, fractions",
    [("1/8,1/4,1/2,1", (0.125, 0.25, 0.5, 1.0)), ("0.3, 0.6, 1", (0.3, 0.6, 1.0)), ("none", ()), ("0", ())],
)
def test_learning_curve_fractions(text, fractions):
    assert parse_fractions(text) == pytest.approx(fractions)


@pytest.mark.parametrize("text", ["1/2,1/4,1", "1/4,1/2", "1", "a,b", "0,1", "1/0,1", "1/2,1/2,1"])
def test_learning_curve_fractions_that_are_refused(text):
    with pytest.raises(ValueError, match=f"--learning-curve .*received {text!r}"):
        parse_fractions(text)


def dense(activation, metrics=None, compile=True):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation=activation)])
    if compile:
        model.compile(loss="sparse_categorical_crossentropy", metrics=metrics)
    return model


def test_outputs_are_probabilities_even_from_a_model_that_gives_logits():
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    logits = dense(None, compile=False)
    np.testing.assert_allclose(
        class_probabilities(logits, x), scipy.special.softmax(logits.predict(x, verbose=0), axis=1), rtol=1e-5
    )
    softmax = dense("softmax", compile=False)
    np.testing.assert_allclose(class_probabilities(softmax, x), softmax.predict(x, verbose=0), rtol=1e-6)


def test_a_model_gets_an_accuracy_metric_for_the_decomposition():
    assert has_accuracy_metric(dense("softmax", ["accuracy"]))
    assert has_accuracy_metric(dense("softmax", [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]))
    assert not has_accuracy_metric(dense("softmax", []))
    assert not has_accuracy_metric(dense("softmax", compile=False))
    x, y = np.random.default_rng(1).normal(size=(16, 3)).astype("float32"), np.arange(16) % 4
    one_hot = dense("softmax", ["accuracy"])
    one_hot.compile(loss="categorical_crossentropy", metrics=["accuracy"])
    assert takes_one_hot_labels(one_hot) and not takes_one_hot_labels(dense("softmax", ["accuracy"]))
    for model in (dense(None, compile=False), dense("softmax", []), one_hot):
        model = compiled_for_report(model)
        predicted = class_probabilities(model, x).argmax(axis=1)
        results = model.evaluate(x, y, verbose=0, return_dict=True)
        assert results["accuracy"] == pytest.approx(np.mean(predicted == y))
    uncompiled_logits = compiled_for_report(dense(None, compile=False))
    assert uncompiled_logits.loss.get_config()["from_logits"] is True
