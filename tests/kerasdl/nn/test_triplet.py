"""kerasdl.nn.triplet against kerasdl.scratch.triplet (loops over triplets): values, edge cases, gradients."""

import keras
import numpy as np
import pytest
from keras import ops

from kerasdl.nn.autodiff import value_and_gradients
from kerasdl.nn.triplet import TripletLoss, pairwise_distances, triplet_loss
from kerasdl.scratch import triplet as scratch
from tests.backends.gaps import rtol64
from tests.saving import reload

numpy = ops.convert_to_numpy
MINING = ["all", "hard", "semi_hard"]


def batch(seed: int, classes: int = 4, per_class: int = 4, dimensions: int = 3):
    """A P x K batch (P classes, K examples each), shuffled, with float64 embeddings."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat(np.arange(classes), per_class))
    return labels, rng.normal(size=(len(labels), dimensions))


@pytest.mark.parametrize("distance", ["squared", "euclidean"])
@pytest.mark.parametrize("mining", MINING)
def test_equals_the_triplet_by_triplet_reference(mining, distance):
    for seed in range(3):
        labels, embeddings = batch(seed)
        got = float(triplet_loss(labels, embeddings, margin=0.5, mining=mining, distance=distance))
        want = scratch.MINING[mining](labels, embeddings, margin=0.5, squared=distance == "squared")
        assert got == pytest.approx(want, rel=rtol64(1e-9)), seed


def test_semi_hard_takes_the_nearest_negative_beyond_the_positive_or_else_the_farthest():
    # On a line: anchor 0 at 0; positive 1 at 1 (d = 1); negatives at 1.2 (d 1.44), 3 (d 9) and 0.5 (d 0.25).
    labels = np.array([0, 0, 1, 2, 3])
    embeddings = np.array([[0.0], [1.0], [1.2], [3.0], [0.5]])
    # anchor 0, positive 1: negatives beyond d = 1 are 1.44 and 9; the nearest, 1.44: 1 - 1.44 + 2 = 1.56.
    # anchor 1, positive 0: d = 1; negatives at 0.04, 4 and 0.25; beyond 1 only 4: 1 - 4 + 2 = -1 -> 0.
    assert float(triplet_loss(labels, embeddings, margin=2.0)) == pytest.approx((1.56 + 0) / 2)
    # With the positive at 4 (d = 16) no negative of anchor 0 is beyond it: its farthest, 9, is taken.
    # anchor 1 (at 4): d(1, 0) = 16; negatives at 7.84, 1, 12.25: none beyond 16, the farthest is 12.25.
    far = np.array([[0.0], [4.0], [1.2], [3.0], [0.5]])
    expected = ((16 - 9 + 2) + (16 - 12.25 + 2)) / 2
    assert float(triplet_loss(labels, far, margin=2.0)) == pytest.approx(expected)
    assert scratch.semi_hard(labels, far, margin=2.0) == pytest.approx(expected)


@pytest.mark.parametrize("mining", MINING)
def test_a_batch_without_a_term_has_loss_zero(mining):
    one_label = (np.zeros(4), np.random.default_rng(0).normal(size=(4, 2)))  # no negatives
    all_different = (np.arange(4), np.random.default_rng(1).normal(size=(4, 2)))  # no positives
    for labels, embeddings in (one_label, all_different):
        assert float(triplet_loss(labels, embeddings, mining=mining)) == 0.0
        assert scratch.MINING[mining](labels, embeddings) == 0.0


def test_anchors_without_negatives_or_positives_are_left_out():
    labels = np.array([0, 0, 1, 2, 2])  # anchor 2 (label 1) has no positive
    embeddings = np.random.default_rng(2).normal(size=(5, 2))
    for mining in MINING:
        got = float(triplet_loss(labels, embeddings, mining=mining))
        assert got == pytest.approx(scratch.MINING[mining](labels, embeddings)), mining


def test_pairwise_distances_are_exact_zero_on_the_diagonal_with_finite_gradients():
    embeddings = np.array([[1.0, 2.0], [1.0, 2.0], [0.0, 0.0]])  # two equal rows: distance 0 off the diagonal
    d = numpy(pairwise_distances(embeddings, "euclidean"))
    np.testing.assert_allclose(d, [[0, 0, 5**0.5], [0, 0, 5**0.5], [5**0.5, 5**0.5, 0]], atol=1e-12)
    _, (gradient,) = value_and_gradients(lambda e: ops.sum(pairwise_distances(e, "euclidean")), [embeddings])
    assert np.all(np.isfinite(numpy(gradient)))


@pytest.mark.parametrize("mining", MINING)
def test_gradients_equal_central_differences_of_the_reference(mining):
    labels, embeddings = batch(seed=5, classes=3, per_class=3, dimensions=2)
    _, (gradient,) = value_and_gradients(lambda e: triplet_loss(labels, e, 0.5, mining), [embeddings])
    numerical = np.zeros_like(embeddings)
    step = 1e-6
    for index in np.ndindex(embeddings.shape):
        up, down = embeddings.copy(), embeddings.copy()
        up[index] += step
        down[index] -= step
        numerical[index] = (
            scratch.MINING[mining](labels, up, 0.5) - scratch.MINING[mining](labels, down, 0.5)
        ) / (2 * step)
    np.testing.assert_allclose(numpy(gradient), numerical, atol=1e-6)


def test_a_model_trains_with_it_saves_and_reloads(tmp_path):
    labels, _ = batch(seed=6, classes=4, per_class=8)
    rng = np.random.default_rng(7)
    x = (rng.normal(size=(len(labels), 6)) + 2 * np.eye(6)[labels]).astype("float32")  # separable classes
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4), keras.layers.UnitNormalization()])
    loss = TripletLoss(margin=0.2, mining="semi_hard")
    model.compile(keras.optimizers.Adam(0.05), loss)
    before = float(numpy(loss(labels, model(x))))
    model.fit(np.tile(x, (30, 1)), np.tile(labels, 30), batch_size=len(labels), shuffle=False, verbose=0)
    assert float(numpy(loss(labels, model(x)))) < 0.8 * before
    loaded = reload(model, tmp_path)
    assert loaded.loss.get_config() == loss.get_config()
    np.testing.assert_allclose(numpy(loaded(x)), numpy(model(x)), rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"margin": -0.1}, "margin must be a number >= 0. Received: margin=-0.1"),
        (
            {"mining": "easy"},
            r"mining must be one of \('all', 'hard', 'semi_hard'\). Received: mining='easy'",
        ),
        ({"distance": "cosine"}, "distance must be one of"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TripletLoss(**kwargs)
