"""The from-scratch training loop and the train_step override, against model.fit."""

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from kerasdl.harness.curves import EpochCurves
from kerasdl.harness.run import start_run
from kerasdl.training.backup import BackupStore, optimizer_step, training_variables
from kerasdl.training.loop import CustomStepModel, TrainingLoop, clip_by_global_norm
from kerasdl.training.nan_guard import NonFiniteLossError

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _data(n=100, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64") + (x[:, 2] > 1).astype("int64")
    return x, y


def _dataset(batch_size=16):
    x, y = _data()
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(
        batch_size
    )  # 100 = 6 x 16 + 4: a partial last batch


def _sequential(seed=1):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(3)]
    )


def _fit_reference(epochs=3, learning_rate=0.1):
    model = _sequential()
    model.compile(keras.optimizers.SGD(learning_rate), LOSS, jit_compile=False)
    history = model.fit(_dataset(), epochs=epochs, shuffle=False, verbose=0)
    return model, history.history


def _assert_same_weights(a, b, atol):
    for left, right in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(left, right, atol=atol, rtol=0)


class TestTrainingLoop:
    @pytest.mark.parametrize("strategy", ["default", "one_device"])
    def test_same_weights_as_fit_for_plain_sgd(self, strategy):
        reference, reference_history = _fit_reference()
        strategy = (
            tf.distribute.get_strategy()
            if strategy == "default"
            else tf.distribute.OneDeviceStrategy("/cpu:0")
        )
        with strategy.scope():
            model = _sequential()
            optimizer = keras.optimizers.SGD(0.1)
        loop = TrainingLoop(model, optimizer, LOSS, strategy=strategy)
        history = loop.fit(_dataset(), epochs=3, verbose=0)
        _assert_same_weights(model, reference, atol=1e-6)
        np.testing.assert_allclose(history["loss"], reference_history["loss"], rtol=1e-6)
        # One trace for full and ragged batches alike (the signature has a None batch dimension).
        assert [f.experimental_get_tracing_count() for f in loop._functions.values()] == [1]
        # The weights moved: the comparison is not between two untrained models.
        assert np.abs(model.get_weights()[0] - _sequential().get_weights()[0]).max() > 1e-2

    def test_jit_compile_gives_the_same_weights(self):
        reference, _ = _fit_reference(epochs=2)
        model = _sequential()
        TrainingLoop(model, keras.optimizers.SGD(0.1), LOSS, jit_compile=True).fit(
            _dataset(), epochs=2, verbose=0
        )
        _assert_same_weights(model, reference, atol=1e-5)

    def test_gradient_norm_is_measured_and_clipping_bounds_each_step(self):
        x, y = _data(16)
        model = _sequential()
        with tf.GradientTape() as tape:
            loss = LOSS(y, model(x, training=True))
        norm = float(tf.linalg.global_norm(tape.gradient(loss, model.trainable_variables)))
        before = model.get_weights()
        clip = norm / 10
        loop = TrainingLoop(model, keras.optimizers.SGD(1.0), LOSS, clip_global_norm=clip)
        history = loop.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(16), epochs=1, verbose=0)
        assert history["gradient_norm"][0] == pytest.approx(norm, rel=1e-5)
        step = np.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(model.get_weights(), before, strict=True)))
        assert step == pytest.approx(clip, rel=1e-4)  # lr 1: the update is the clipped gradient

    def test_metrics_validation_and_epoch_curves_through_on_epoch_end(self, logdir):
        run = start_run("training_test", {"logdir": str(logdir), "seed": 0})
        loop = TrainingLoop(_sequential(), keras.optimizers.SGD(0.5), LOSS,
                            metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")])  # fmt: skip
        curves = EpochCurves(run.curves, {"train": _dataset(), "dev": _dataset()}, evaluator=loop)
        history = loop.fit(_dataset(), epochs=4, validation_data=_dataset(), on_epoch_end=curves.on_epoch_end,
                           verbose=0)  # fmt: skip
        run.close()
        assert history["accuracy"][-1] > history["accuracy"][0]
        assert history["val_loss"][-1] < history["val_loss"][0]
        # Validation uses the same examples here, in inference mode: it equals a separate evaluate().
        assert loop.evaluate(_dataset())["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-6)
        # The loop writes no curves itself: the harness's EpochCurves does, evaluating through the loop.
        assert [step for step, _ in run.curves.points("dev", "loss")] == [1, 2, 3, 4]
        assert run.curves.values("dev", "loss") == pytest.approx(history["val_loss"], rel=1e-6)
        error = [1 - accuracy for accuracy in history["val_accuracy"]]
        assert run.curves.values("dev", "error") == pytest.approx(error, abs=1e-6)
        assert run.curves.values("train", "learning_rate") == pytest.approx([0.5] * 4)
        for subrun, tags in (("train", {"loss", "error", "learning_rate"}), ("dev", {"loss", "error"})):
            assert tags <= set(EventAccumulator(str(run.dir / subrun)).Reload().Tags()["tensors"])
        assert not (run.dir / "validation").exists()
        with pytest.raises(TypeError, match="run"):
            loop.fit(_dataset(), run=run, verbose=0)

    def test_diverging_loss_is_an_error(self):
        x, y = _data()
        x[0, 0] = np.nan
        loop = TrainingLoop(_sequential(), keras.optimizers.SGD(0.1), LOSS)
        with pytest.raises(FloatingPointError, match="clip_global_norm"):
            loop.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(16), verbose=0)

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="Received: clip_global_norm=0"):
            TrainingLoop(_sequential(), keras.optimizers.SGD(), LOSS, clip_global_norm=0)
        with pytest.raises(ValueError, match="Received: epochs=0"):
            TrainingLoop(_sequential(), keras.optimizers.SGD(), LOSS).fit(_dataset(), epochs=0)
        with pytest.raises(ValueError, match="infinite dataset"):
            TrainingLoop(_sequential(), keras.optimizers.SGD(), LOSS).fit(_dataset().repeat(), verbose=0)

    def test_dataset_of_unknown_length_runs_one_pass(self):
        # filter() hides the cardinality: the epoch ends when the iterator does.
        dataset = _dataset().filter(lambda x, y: True)
        assert int(dataset.cardinality()) == int(tf.data.UNKNOWN_CARDINALITY)
        loop = TrainingLoop(_sequential(), keras.optimizers.SGD(0.1), LOSS)
        history = loop.fit(dataset, epochs=2, verbose=0)
        reference, reference_history = _fit_reference(epochs=2)
        np.testing.assert_allclose(history["loss"], reference_history["loss"], rtol=1e-6)


def _shuffled_dataset():
    """Reshuffles every pass (a new order per iterator), so a resume must keep the data order too."""
    x, y = _data()
    return tf.data.Dataset.from_tensor_slices((x, y)).shuffle(100, seed=3).batch(16)  # 7 batches


def _adam_loop(seed=1):
    return TrainingLoop(_sequential(seed), keras.optimizers.Adam(0.01), LOSS)


class TestBackupAndResume:
    def test_interrupted_then_resumed_equals_uninterrupted_bit_for_bit(self, tmp_path):
        reference = _adam_loop()
        reference.fit(_shuffled_dataset(), epochs=4, verbose=0)

        def interrupt(epoch, logs):
            if epoch == 2:  # epoch 3 trained, its backup not written yet: the resume redoes it
                raise KeyboardInterrupt

        interrupted = _adam_loop()
        with pytest.raises(KeyboardInterrupt):
            interrupted.fit(_shuffled_dataset(), epochs=4, verbose=0, on_epoch_end=interrupt,
                            backup_dir=tmp_path)  # fmt: skip
        assert BackupStore(tmp_path).latest_position() == {"epoch": 2, "batch": 0, "step": 14}

        resumed = _adam_loop()  # the same seeds (they also seed the shuffle), a new model and optimizer
        resumed.model.set_weights([w + 1.0 for w in resumed.model.get_weights()])  # overwritten by the backup
        history = resumed.fit(_shuffled_dataset(), epochs=4, verbose=0, backup_dir=tmp_path)
        assert len(history["loss"]) == 2  # epochs 3 and 4 only
        assert optimizer_step(resumed.optimizer) == optimizer_step(reference.optimizer) == 28
        for left, right in zip(
            training_variables(resumed.model, resumed.optimizer),
            training_variables(reference.model, reference.optimizer),
            strict=True,
        ):
            np.testing.assert_array_equal(left.numpy(), right.numpy())  # weights and Adam's slots

    def test_resumed_data_order_matters(self, tmp_path):
        """Without replaying the finished epochs' iterators the result differs: the test above can fail."""
        reference = _adam_loop()
        reference.fit(_shuffled_dataset(), epochs=3, verbose=0)
        first = _adam_loop()
        first.fit(_shuffled_dataset(), epochs=2, verbose=0)
        restarted = _adam_loop()
        restarted.model.set_weights(first.model.get_weights())
        restarted.optimizer.build(restarted.model.trainable_variables)
        for target, value in zip(restarted.optimizer.variables, first.optimizer.variables, strict=True):
            target.assign(value)
        restarted.fit(_shuffled_dataset(), epochs=1, verbose=0)  # epoch 3 with epoch 1's order
        differences = [
            np.abs(a - b).max()
            for a, b in zip(restarted.model.get_weights(), reference.model.get_weights(), strict=True)
        ]
        assert max(differences) > 0

    def test_a_finished_fit_trains_no_more(self, tmp_path):
        loop = _adam_loop()
        loop.fit(_shuffled_dataset(), epochs=2, verbose=0, backup_dir=tmp_path)
        weights = loop.model.get_weights()
        again = _adam_loop(seed=5)
        assert again.fit(_shuffled_dataset(), epochs=2, verbose=0, backup_dir=tmp_path) == {}
        assert optimizer_step(again.optimizer) == 14
        for left, right in zip(again.model.get_weights(), weights, strict=True):
            np.testing.assert_array_equal(left, right)

    def test_nan_names_the_step_and_keeps_the_last_good_backup(self, tmp_path):
        x, y = _data()
        loop = _adam_loop()
        loop.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(16), epochs=1, verbose=0,
                 backup_dir=tmp_path)  # fmt: skip
        good = loop.model.get_weights()
        x[20, 0] = np.nan  # in batch 2 (examples 16-31)
        bad = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
        resumed = _adam_loop()
        with pytest.raises(NonFiniteLossError, match=r"at step 9, epoch 2, batch 2\b"):
            resumed.fit(bad, epochs=3, verbose=0, backup_dir=tmp_path)
        store = BackupStore(tmp_path)
        assert [entry["position"]["epoch"] for entry in store.entries()] == [1]
        check = _adam_loop(seed=9)
        assert check.fit(bad.take(0), epochs=1, verbose=0, backup_dir=tmp_path) == {}
        for left, right in zip(check.model.get_weights(), good, strict=True):
            np.testing.assert_array_equal(left, right)

    def test_backup_of_another_model_is_refused(self, tmp_path):
        _adam_loop().fit(_dataset(), epochs=1, verbose=0, backup_dir=tmp_path)
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])
        loop = TrainingLoop(model, keras.optimizers.Adam(0.01), LOSS)
        with pytest.raises(ValueError, match="another model"):
            loop.fit(_dataset(), epochs=2, verbose=0, backup_dir=tmp_path)


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from tests.kerasdl.training.test_loop import LOSS, _dataset, _sequential
    from kerasdl.training.loop import CustomStepModel, TrainingLoop

    def train(strategy, clip):
        with strategy.scope():
            model = _sequential()
            optimizer = keras.optimizers.SGD(0.1)
        loop = TrainingLoop(model, optimizer, LOSS, strategy=strategy, clip_global_norm=clip,
                            metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")])
        history = loop.fit(_dataset(batch_size=20), epochs=2, verbose=0)
        return model.get_weights(), history

    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    out = {"replicas": mirrored.num_replicas_in_sync}
    for clip in (None, 0.2):
        a, ha = train(tf.distribute.get_strategy(), clip)
        b, hb = train(mirrored, clip)
        out[str(clip)] = {
            "max_weight_diff": max(float(np.abs(x - y).max()) for x, y in zip(a, b)),
            "loss": [ha["loss"], hb["loss"]], "norm": [ha["gradient_norm"], hb["gradient_norm"]],
            "accuracy": [ha["accuracy"], hb["accuracy"]],
        }
    def fit_custom_step(strategy):
        with strategy.scope():
            inputs = keras.Input((6,))
            outputs = keras.layers.Dense(3)(keras.layers.Dense(8, activation="tanh")(inputs))
            model = CustomStepModel(inputs, outputs, clip_global_norm=0.2)
            model.set_weights(_sequential().get_weights())
            model.compile(keras.optimizers.SGD(0.1), LOSS, jit_compile=False)
        history = model.fit(_dataset(batch_size=20), epochs=2, shuffle=False, verbose=0)
        return model.get_weights(), history.history

    a, ha = fit_custom_step(tf.distribute.get_strategy())
    b, hb = fit_custom_step(mirrored)
    out["custom_step"] = {
        "max_weight_diff": max(float(np.abs(x - y).max()) for x, y in zip(a, b)),
        "loss": [ha["loss"], hb["loss"]], "norm": [ha["gradient_norm"], hb["gradient_norm"]],
    }
    print("RESULT" + json.dumps(out))
    """
)


def test_mirrored_strategy_over_two_cpus_matches_one_replica():
    # Two logical CPU devices must be configured before TensorFlow starts: a fresh process.
    completed = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT], capture_output=True, text=True, timeout=300, check=False
    )
    line = next((x for x in completed.stdout.splitlines() if x.startswith("RESULT")), None)
    assert line is not None, completed.stderr[-3000:]
    result = json.loads(line[len("RESULT") :])
    assert result["replicas"] == 2
    for clip in ("None", "0.2"):  # 0.2 is below the gradient norms, so clipping is active
        entry = result[clip]
        assert entry["max_weight_diff"] < 1e-5, entry
        np.testing.assert_allclose(entry["loss"][0], entry["loss"][1], rtol=1e-5)
        np.testing.assert_allclose(entry["norm"][0], entry["norm"][1], rtol=1e-5)
        np.testing.assert_allclose(entry["accuracy"][0], entry["accuracy"][1], rtol=1e-6)
        assert min(entry["norm"][0]) > 0.2 or clip == "None"
    # The train_step override under the same strategy: fit, clipping and the norm metric agree too.
    entry = result["custom_step"]
    assert entry["max_weight_diff"] < 1e-5, entry
    np.testing.assert_allclose(entry["loss"][0], entry["loss"][1], rtol=1e-5)
    np.testing.assert_allclose(entry["norm"][0], entry["norm"][1], rtol=1e-5)


def test_clip_by_global_norm_matches_tf():
    grads = [tf.constant([[3.0, 4.0]]), None, tf.constant([12.0])]
    clipped, norm = clip_by_global_norm(grads, 6.5)
    expected, expected_norm = tf.clip_by_global_norm([grads[0], grads[2]], 6.5)
    assert float(norm) == pytest.approx(float(expected_norm)) == pytest.approx(13.0)
    assert clipped[1] is None
    np.testing.assert_allclose(clipped[0], expected[0])
    np.testing.assert_allclose(clipped[2], expected[1])


class TestCustomStepModel:
    def _model(self, clip=None):
        keras.utils.set_random_seed(1)
        inputs = keras.Input((6,))
        outputs = keras.layers.Dense(3)(keras.layers.Dense(8, activation="tanh")(inputs))
        model = CustomStepModel(inputs, outputs, clip_global_norm=clip)
        model.set_weights(_sequential().get_weights())  # the same start as the reference
        return model

    def test_fit_with_callback_sees_gradient_norm_and_matches_plain_fit(self):
        reference, reference_history = _fit_reference(epochs=2)
        model = self._model()
        model.compile(keras.optimizers.SGD(0.1), LOSS, metrics=["accuracy"], jit_compile=False)
        seen = []
        callback = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(dict(logs)))
        history = model.fit(_dataset(), epochs=2, shuffle=False, verbose=0, callbacks=[callback])
        assert [set(logs) for logs in seen] == [{"loss", "accuracy", "gradient_norm"}] * 2
        assert all(logs["gradient_norm"] > 0 for logs in seen)
        np.testing.assert_allclose(history.history["loss"], reference_history["loss"], rtol=1e-6)
        _assert_same_weights(model, reference, atol=1e-6)

    def test_clipping_changes_the_steps(self):
        free, clipped = self._model(), self._model(clip=0.05)
        for model in (free, clipped):
            model.compile(keras.optimizers.SGD(1.0), LOSS, jit_compile=False)
        start = free.get_weights()
        x, y = _data(16)
        free.fit(x, y, batch_size=16, epochs=1, verbose=0)
        history = clipped.fit(x, y, batch_size=16, epochs=1, verbose=0)
        step = np.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(clipped.get_weights(), start, strict=True)))
        assert history.history["gradient_norm"][0] > 0.05
        assert step == pytest.approx(0.05, rel=1e-4)
        assert not np.allclose(free.get_weights()[0], clipped.get_weights()[0])

    def test_serialization_round_trip(self, tmp_path):
        model = self._model(clip=0.5)
        model.compile(keras.optimizers.SGD(0.1), LOSS)
        model.save(tmp_path / "model.keras")
        loaded = keras.saving.load_model(tmp_path / "model.keras")
        assert isinstance(loaded, CustomStepModel) and loaded.clip_global_norm == 0.5
        x, _ = _data(4)
        np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
