"""kerasdl.nn.siamese against a NumPy reference and keras.layers.Dense with copied weights, training."""

import keras
import numpy as np
import pytest
from keras import ops

from kerasdl.nn.autodiff import value_and_gradients
from kerasdl.nn.siamese import SiameseHead, pair_features

numpy = ops.convert_to_numpy


def reference(first, second, kernel, bias, form):
    """The lesson's y_hat = sigmoid(sum_k w_k phi_k + b), element by element in float64."""
    first, second = np.asarray(first, np.float64), np.asarray(second, np.float64)
    out = np.empty(len(first))
    for i in range(len(first)):
        total = float(bias[0])
        for k in range(first.shape[1]):
            a, b = first[i, k], second[i, k]
            if form == "absolute":
                phi = abs(a - b)
            else:
                phi = (a - b) ** 2 / (abs(a) + abs(b)) if abs(a) + abs(b) > 0 else 0.0
            total += kernel[k, 0] * phi
        out[i] = 1 / (1 + np.exp(-total))
    return out[:, None]


def encodings(seed: int, batch: int = 6, dimensions: int = 5):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch, dimensions)).astype("float32"), rng.normal(
        size=(batch, dimensions)
    ).astype("float32")


@pytest.mark.parametrize("form", ["absolute", "chi_square"])
def test_equals_the_reference_and_dense_on_phi_with_copied_weights(form):
    first, second = encodings(0)
    first[0, 1] = second[0, 1] = 0.0  # a 0/0 term of the chi-square form: 0
    head = SiameseHead(form, bias_initializer="ones")
    got = numpy(head([first, second]))
    kernel, bias = (numpy(w) for w in head.weights)
    np.testing.assert_allclose(got, reference(first, second, kernel, bias, form), rtol=1e-5)
    dense = keras.layers.Dense(1, activation="sigmoid")
    dense.build((None, first.shape[1]))
    dense.set_weights([kernel, bias])
    np.testing.assert_allclose(got, numpy(dense(pair_features(first, second, form))), rtol=1e-6)
    np.testing.assert_allclose(got, numpy(head([second, first])), rtol=1e-6)  # symmetric


def test_chi_square_is_the_lessons_form_on_non_negative_features():
    first, second = (np.abs(e) for e in encodings(1))
    lesson = (first - second) ** 2 / (first + second)
    np.testing.assert_allclose(numpy(pair_features(first, second, "chi_square")), lesson, rtol=1e-6)


def test_gradients_are_finite_where_both_features_are_zero():
    first, second = encodings(2)
    first[:, 0] = second[:, 0] = 0.0
    _, gradients = value_and_gradients(
        lambda a, b: ops.sum(pair_features(a, b, "chi_square")), [first, second]
    )
    assert all(np.all(np.isfinite(g)) for g in gradients)
    assert np.all(gradients[0][:, 0] == 0)  # the 0/0 term is the constant 0


def test_learns_to_tell_same_from_different_pairs_and_survives_saving(tmp_path):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 8))
    labels_a, labels_b = rng.integers(0, 4, 400), rng.integers(0, 4, 400)
    labels_b[:200] = labels_a[:200]
    a = (centres[labels_a] + 0.2 * rng.normal(size=(400, 8))).astype("float32")
    b = (centres[labels_b] + 0.2 * rng.normal(size=(400, 8))).astype("float32")
    same = (labels_a == labels_b).astype("float32")[:, None]
    first, second = keras.Input((8,)), keras.Input((8,))
    keras.utils.set_random_seed(0)
    model = keras.Model([first, second], SiameseHead("absolute", name="head")([first, second]))
    model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy", metrics=["accuracy"])
    model.fit([a, b], same, epochs=12, batch_size=100, verbose=0)
    assert model.evaluate([a, b], same, verbose=0, return_dict=True)["accuracy"] > 0.95
    assert np.sum(numpy(model.get_layer("head").kernel)) < 0  # a larger difference: less likely the same
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    restored.set_weights(model.get_weights())
    np.testing.assert_allclose(numpy(restored([a, b])), numpy(model([a, b])), rtol=1e-6)
    assert restored.get_layer("head").form == "absolute"


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="form must be one of"):
        SiameseHead("cosine")
    with pytest.raises(ValueError, match="form must be one of"):
        pair_features(np.zeros((1, 2)), np.zeros((1, 2)), "l2")
    with pytest.raises(ValueError, match="a list of two encodings"):
        SiameseHead().build([(None, 3), (None, 4)])
