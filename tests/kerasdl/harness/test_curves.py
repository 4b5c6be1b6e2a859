"""kerasdl.harness.curves: values equal model.evaluate in inference mode, persist, come back on resume."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from kerasdl.harness.curves import CURVES, CurveLog, EpochCurves, decomposition_history, epoch_history
from kerasdl.harness.run import start_run
from kerasdl.nn.layers import InvertedDropout


def scalars(path, tag):
    return [float(tf.make_ndarray(e.tensor_proto)) for e in EventAccumulator(str(path)).Reload().Tensors(tag)]


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, 4)).astype("float32"), rng.integers(0, 3, n)
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(16), x, y


def model_with_dropout():
    keras.utils.set_random_seed(0)
    layers = [keras.Input((4,)), keras.layers.Dense(16, activation="relu"), InvertedDropout(0.5, seed=0)]
    model = keras.Sequential([*layers, keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_logs_inference_mode_error_gap_and_learning_rate(tmp_path):
    (train, x, y), (dev, _, _) = data(48, 0), data(16, 1)
    model = model_with_dropout()
    run = start_run("curves", {"logdir": str(tmp_path), "run_name": "r"})
    curves = EpochCurves(run.curves, {"train": train, "dev": dev}, prefix="variant")
    model.fit(train, epochs=2, shuffle=False, callbacks=[curves], verbose=0)
    run.close()
    # The last logged values are model.evaluate's, and the error is that of argmax predictions (dropout off).
    predicted = np.argmax(model.predict(x, verbose=0), axis=1)
    final_dev = model.evaluate(dev, verbose=0, return_dict=True)
    train_error = float(np.mean(predicted != y))
    run_dir = tmp_path / "curves" / "r"
    assert scalars(run_dir / "variant" / "train", "error")[-1] == pytest.approx(train_error)
    assert scalars(run_dir / "variant" / "dev", "loss")[-1] == pytest.approx(final_dev["loss"], rel=1e-5)
    gap = (1 - final_dev["accuracy"]) - train_error
    assert scalars(run_dir / "variant" / "gaps", "gap")[-1] == pytest.approx(gap)
    assert scalars(run_dir / "variant" / "train", "learning_rate") == pytest.approx([0.001, 0.001])
    history = epoch_history(run.curves, ("train", "dev"), prefix="variant")
    assert history["epoch"] == [1, 2] and history["gap"][-1] == pytest.approx(gap)
    assert history["train"]["error"] == pytest.approx(scalars(run_dir / "variant" / "train", "error"))


def test_the_whole_decomposition_with_a_human_level(tmp_path):
    splits = {name: data(32, seed)[0] for seed, name in enumerate(("train", "train_dev", "dev", "test"))}
    model = model_with_dropout()
    run = start_run("curves", {"logdir": str(tmp_path), "run_name": "r"})
    curves = EpochCurves(run.curves, splits, human_error=0.05)
    model.fit(splits["train"], epochs=2, callbacks=[curves], verbose=0, shuffle=False)
    run.close()
    errors = {n: 1 - model.evaluate(d, verbose=0, return_dict=True)["accuracy"] for n, d in splits.items()}
    (last,) = decomposition_history(run.curves, 0.05)[-1:]
    assert last.avoidable_bias == pytest.approx(errors["train"] - 0.05)
    assert last.data_mismatch == pytest.approx(errors["dev"] - errors["train_dev"])
    assert last.dev_overfitting == pytest.approx(errors["test"] - errors["dev"])
    # One TensorBoard run per gap (one colour each in the gaps chart), all under the tag "decomposition".
    gap_runs = sorted(path.name for path in (run.dir / "gaps").iterdir() if path.is_dir())
    assert (
        gap_runs == sorted(last.gaps()) == ["avoidable_bias", "data_mismatch", "dev_overfitting", "variance"]
    )
    for gap, value in last.gaps().items():
        assert scalars(run.dir / "gaps" / gap, "decomposition")[-1] == pytest.approx(value)
    assert scalars(run.dir / "human_level", "error") == [pytest.approx(0.05)] * 2
    tags = EventAccumulator(str(run.dir / "human_level")).Reload().Tags()["tensors"]
    assert "custom_scalars__config__" in tags  # the gaps-on-one-chart layout


def test_points_persist_and_a_resumed_log_reads_them_back(tmp_path):
    writers = {}

    def writer(subrun):
        return writers.setdefault(subrun, tf.summary.create_file_writer(str(tmp_path / subrun)))

    log = CurveLog(tmp_path, writer, resume=False)
    log.log("a/train", "error", 1, 0.5)
    log.log("a/train", "error", 2, 0.4)
    log.save()
    log.log("a/train", "error", 3, 0.3)  # not saved: lost by a crash here
    again = CurveLog(tmp_path, writer, resume=True)
    assert again.points("a/train", "error") == [(1, 0.5), (2, 0.4)]
    again.log("a/train", "error", 2, 0.45)  # an epoch trained again replaces its point
    again.save()
    assert json.loads((tmp_path / CURVES).read_text()) == {"a/train": {"error": {"1": 0.5, "2": 0.45}}}
    assert CurveLog(tmp_path, writer, resume=False).points("a/train", "error") == []  # a new run starts empty
    assert again.as_dict("a") == {"a/train": {"error": [[1, 0.5], [2, 0.45]]}}
    assert again.as_dict("b") == {}
    worker = CurveLog(tmp_path / "trials" / "t0", writer, resume=False)  # another process's folder
    worker.log("dev", "error", 1, 0.7)
    worker.save()
    again.include(tmp_path / "trials" / "t0", "trials/t0")
    again.include(tmp_path / "trials" / "missing", "trials/missing")  # nothing saved there: nothing added
    assert again.as_dict("trials") == {"trials/t0/dev": {"error": [[1, 0.7]]}}


def test_every_nth_epoch_and_always_the_last(tmp_path):
    train, _, _ = data(32, 0)
    model = model_with_dropout()
    run = start_run("curves", {"logdir": str(tmp_path), "run_name": "r"})
    curves = EpochCurves(run.curves, {"train": train}, gap_splits=None, every=2)
    model.fit(train, epochs=5, callbacks=[curves], verbose=0, shuffle=False)
    assert [step for step, _ in run.curves.points("train", "error")] == [2, 4, 5]


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="Received: every=0"):
        EpochCurves(None, {"train": None}, gap_splits=None, every=0)
    with pytest.raises(ValueError, match="gap_splits must name two datasets"):
        EpochCurves(None, {"train": None}, prefix="x", gap_splits=("train", "dev"))
    with pytest.raises(ValueError, match="must include 'train' and 'dev'"):
        EpochCurves(None, {"train": None}, human_error=0.1)
    with pytest.raises(ValueError, match="Received: human_error=1.5"):
        EpochCurves(None, {"train": None, "dev": None}, human_error=1.5)
