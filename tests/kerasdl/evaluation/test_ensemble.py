"""Tests for kerasdl.evaluation.ensemble: the average against NumPy, independent members, a measured gain."""

import keras
import numpy as np
import pytest

from kerasdl.diagnostics import mcnemar_p_value
from kerasdl.evaluation.ensemble import Ensemble, Member, evaluate_ensemble, train_members


def _build(seed, inputs=6, classes=3, compile=True):
    model = keras.Sequential(
        [
            keras.Input((inputs,)),
            keras.layers.Dense(8, activation="tanh"),
            keras.layers.Dense(classes, activation="softmax"),
        ]
    )
    if compile:
        model.compile(optimizer=keras.optimizers.Adam(0.03), loss="sparse_categorical_crossentropy")
    return model


def _blobs(n, seed, noise=1.6):
    """Three overlapping Gaussian classes in 6-D: a noisy problem where members disagree."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(size=(3, 6))
    labels = rng.integers(0, 3, size=n)
    return (centres[labels] + noise * rng.normal(size=(n, 6))).astype(np.float32), labels


class TestEnsemble:
    def test_output_is_the_mean_of_member_outputs(self):
        members = [_build(s) for s in range(3)]
        x = np.random.default_rng(0).normal(size=(10, 6)).astype(np.float32)
        expected = np.mean([m.predict(x, verbose=0) for m in members], axis=0)
        np.testing.assert_allclose(Ensemble(members).predict(x, verbose=0), expected, rtol=1e-5, atol=1e-7)

    def test_from_logits_averages_softmaxes(self):
        members = [_build(s) for s in range(2)]
        logits = [keras.Model(m.inputs, m.layers[-1].output) for m in members]  # these still end in softmax
        x = np.random.default_rng(1).normal(size=(4, 6)).astype(np.float32)
        log_members = [
            keras.Sequential([keras.Input((6,)), m, keras.layers.Lambda(keras.ops.log)]) for m in logits
        ]
        expected = Ensemble(members).predict(x, verbose=0)
        np.testing.assert_allclose(
            Ensemble(log_members, from_logits=True).predict(x, verbose=0), expected, rtol=1e-4
        )

    def test_serialization_round_trip(self, tmp_path):
        ensemble = Ensemble([_build(s, compile=False) for s in range(2)])
        x = np.random.default_rng(2).normal(size=(3, 6)).astype(np.float32)
        expected = ensemble.predict(x, verbose=0)
        ensemble.save(tmp_path / "ensemble.keras")
        np.testing.assert_allclose(
            keras.saving.load_model(tmp_path / "ensemble.keras").predict(x, verbose=0), expected
        )

    def test_bad_members(self):
        with pytest.raises(ValueError, match="members"):
            Ensemble([])
        with pytest.raises(ValueError, match="seeds"):
            train_members(_build, lambda m, s: None, [1, 1])


class TestTrainAndEvaluate:
    def test_members_differ_by_seed_and_the_ensemble_beats_a_typical_member(self):
        x_train, y_train = _blobs(300, seed=0)
        x_test, y_test = _blobs(2000, seed=1)

        def fit(model, seed):
            model.fit(x_train, y_train, epochs=30, batch_size=64, shuffle=True, verbose=0)

        members = train_members(_build, fit, seeds=[0, 1, 2])
        first = [m.model.layers[0].kernel.numpy() for m in members]
        assert not np.allclose(first[0], first[1])  # different seeds, different networks

        report = evaluate_ensemble(members, x_test, y_test, batch_size=1000)
        assert report.seeds == [0, 1, 2] and len(report.members) == 3
        probabilities = [m.model.predict(x_test, verbose=0) for m in members]
        for scores, p in zip(report.members, probabilities, strict=True):
            assert scores.accuracy == pytest.approx(np.mean(p.argmax(-1) == y_test))
        average = np.mean(probabilities, axis=0)
        assert report.ensemble.accuracy == pytest.approx(np.mean(average.argmax(-1) == y_test))
        best = probabilities[int(np.argmax([s.accuracy for s in report.members]))]
        assert report.p_value_over_best == pytest.approx(
            mcnemar_p_value(best.argmax(-1) == y_test, average.argmax(-1) == y_test)
        )
        # Jensen: the cross-entropy of the averaged probabilities is at most the members' mean.
        assert report.ensemble.cross_entropy <= np.mean([s.cross_entropy for s in report.members]) + 1e-6
        # The measured effect: on this noisy problem, averaging beats a typical member.
        assert report.gain > 0
        assert report.ensemble.parameters == 3 * members[0].model.count_params()
        assert report.ensemble.train_seconds == pytest.approx(sum(m.train_seconds for m in members))
        assert report.cost_ratio_predict > 0

    def test_seeding_makes_members_reproducible(self):
        a = train_members(_build, lambda m, s: None, seeds=[7])[0].model.layers[0].kernel.numpy()
        b = train_members(_build, lambda m, s: None, seeds=[7])[0].model.layers[0].kernel.numpy()
        np.testing.assert_array_equal(a, b)

    def test_evaluate_checks_its_inputs(self):
        member = Member(0, _build(0), 0.0)
        with pytest.raises(ValueError, match="match"):
            evaluate_ensemble([member], np.zeros((3, 6), np.float32), np.zeros(2, int))
