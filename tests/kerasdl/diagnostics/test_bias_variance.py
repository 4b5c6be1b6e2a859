import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from kerasdl.diagnostics import DecompositionCallback, classification_error, decompose
from kerasdl.harness.run import start_run


class TestLessonTables:
    """Course 3, Week 1 and Week 2 worked examples."""

    def test_focus_on_bias(self):  # human 1%, train 8%, dev 10%
        d = decompose(human=0.01, train=0.08, dev=0.10)
        assert d.avoidable_bias == pytest.approx(0.07) and d.variance == pytest.approx(0.02)
        rec = d.recommendation()
        assert rec.focus == "avoidable_bias" and "train a bigger model" in rec.actions

    def test_focus_on_variance(self):  # human 7.5%, train 8%, dev 10%
        d = decompose(human=0.075, train=0.08, dev=0.10)
        assert d.avoidable_bias == pytest.approx(0.005) and d.variance == pytest.approx(0.02)
        rec = d.recommendation()
        assert rec.focus == "variance" and any("regularize" in a for a in rec.actions)

    @pytest.mark.parametrize(
        "train, train_dev, dev, focus",
        [
            (0.01, 0.09, 0.10, "variance"),  # the lesson's variance problem
            (0.01, 0.015, 0.10, "data_mismatch"),  # the lesson's data mismatch problem
            (0.10, 0.11, 0.12, "avoidable_bias"),  # the lesson's bias problem
            (0.10, 0.11, 0.20, "avoidable_bias"),  # bias and data mismatch
        ],
    )
    def test_mismatched_distributions_with_train_dev(self, train, train_dev, dev, focus):
        d = decompose(human=0.0, train=train, dev=dev, train_dev=train_dev)
        assert d.variance == pytest.approx(train_dev - train)
        assert d.data_mismatch == pytest.approx(dev - train_dev)
        assert d.recommendation().focus == focus

    def test_bias_and_mismatch_both_flagged(self):
        rec = decompose(human=0.0, train=0.10, dev=0.20, train_dev=0.11).recommendation()
        assert rec.also == ("data_mismatch",)
        assert any(
            "synthesis" in a for a in decompose(0.0, 0.01, 0.10, train_dev=0.015).recommendation().actions
        )

    def test_overfitting_to_dev_asks_for_a_bigger_dev_set(self):
        rec = decompose(human=0.01, train=0.02, dev=0.03, train_dev=0.025, test=0.08).recommendation()
        assert rec.focus == "dev_overfitting" and rec.actions == ("get a bigger dev set",)

    def test_surpassed_human_level(self):
        d = decompose(human=0.05, train=0.03, dev=0.06, train_dev=0.035)
        rec = d.recommendation()
        assert d.surpassed_human and rec.surpassed_human
        assert (
            rec.focus == "data_mismatch"
        )  # a negative avoidable bias never wins nor is reported as a gap to close
        assert "below human-level" in rec.rationale
        assert any("Bayes error" in a for a in rec.actions)

    def test_no_gap(self):
        assert decompose(human=0.05, train=0.05, dev=0.05).recommendation().focus == "none"

    def test_rejects_percentages(self):
        with pytest.raises(ValueError, match="Received: dev=10"):
            decompose(human=0.01, train=0.08, dev=10)

    def test_markdown_shows_numbers(self):
        text = decompose(human=0.01, train=0.08, dev=0.10, train_dev=0.09, test=0.11).to_markdown()
        assert "| avoidable bias | 7.00% |" in text and "| overfitting to the dev set | 1.00% |" in text


def test_callback_measures_inference_mode_errors_and_logs_scalars(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    datasets = {
        name: tf.data.Dataset.from_tensor_slices((x, y)).batch(64) for name in ("train", "train_dev", "dev")
    }
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dropout(0.9), keras.layers.Dense(2, activation="softmax")]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    run = start_run("unit", {"logdir": str(tmp_path), "seed": 0})
    callback = DecompositionCallback(datasets, human_error=0.0, run=run)
    model.fit(datasets["train"], epochs=2, callbacks=[callback], verbose=0, shuffle=False)
    run.close()
    assert len(callback.history) == 2
    error, _ = classification_error(model, datasets["dev"])
    predicted = np.argmax(model.predict(x, verbose=0), axis=1)
    assert error == pytest.approx(np.mean(predicted != y))  # inference mode: dropout is off
    assert callback.history[-1].dev == pytest.approx(error)
    tags = EventAccumulator(str(run.dir / "decomposition")).Reload().Tags()["tensors"]
    assert {"decomposition/avoidable_bias", "decomposition/variance", "decomposition/data_mismatch"} <= set(
        tags
    )
    assert "custom_scalars__config__" in tags  # the gaps-on-one-chart layout
    assert "error" in EventAccumulator(str(run.dir / "train_dev")).Reload().Tags()["tensors"]


def test_callback_needs_train_and_dev(tmp_path):
    with pytest.raises(ValueError, match="must include 'train' and 'dev'"):
        DecompositionCallback({"train": None}, 0.0, None)
