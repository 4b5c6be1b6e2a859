"""kerasdl.harness.curves.EpochEvaluation: logged values equal model.evaluate in inference mode."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from kerasdl.harness.curves import EpochEvaluation
from kerasdl.harness.run import start_run
from kerasdl.nn.layers import InvertedDropout


def scalars(path, tag):
    return [float(tf.make_ndarray(e.tensor_proto)) for e in EventAccumulator(str(path)).Reload().Tensors(tag)]


def test_logs_inference_mode_error_and_gap(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)).astype("float32"), rng.integers(0, 3, 64)
    train = tf.data.Dataset.from_tensor_slices((x[:48], y[:48])).batch(16)
    dev = tf.data.Dataset.from_tensor_slices((x[48:], y[48:])).batch(16)
    keras.utils.set_random_seed(0)
    layers = [keras.Input((4,)), keras.layers.Dense(16, activation="relu"), InvertedDropout(0.5, seed=0)]
    model = keras.Sequential([*layers, keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    run = start_run("callback_test", {"logdir": str(tmp_path), "run_name": "r"})
    curves = EpochEvaluation(run, {"train": train, "dev": dev}, prefix="variant")
    model.fit(train, epochs=2, shuffle=False, callbacks=[curves], verbose=0)
    run.close()
    # After training, the last logged values are model.evaluate's (dropout off: deterministic).
    final_train = model.evaluate(train, verbose=0, return_dict=True)
    final_dev = model.evaluate(dev, verbose=0, return_dict=True)
    run_dir = tmp_path / "callback_test" / "r"
    assert scalars(run_dir / "variant" / "train", "error")[-1] == pytest.approx(1 - final_train["accuracy"])
    assert scalars(run_dir / "variant" / "dev", "loss")[-1] == pytest.approx(final_dev["loss"], rel=1e-5)
    gap = (1 - final_dev["accuracy"]) - (1 - final_train["accuracy"])
    assert (
        scalars(run_dir / "variant", "gap") == pytest.approx(curves.history["gap"])
        and len(curves.history["gap"]) == 2
    )
    assert curves.history["gap"][-1] == pytest.approx(gap)
    assert scalars(run_dir / "variant", "learning_rate") == pytest.approx([0.001, 0.001])


def test_bad_gap_splits():
    with pytest.raises(ValueError, match="gap_splits must name two datasets"):
        EpochEvaluation(None, {"train": None}, prefix="x", gap_splits=("train", "dev"))
