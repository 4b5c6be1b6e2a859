"""Resume after interruption, modelled on Keras' backup_and_restore_test.py (InterruptingCallback)
and TensorFlow's CheckpointManager tests (keep-N, corrupt and half-written checkpoints)."""

import os
import signal

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasdl.backup import (
    BackupAndRestore,
    BackupStore,
    TrainingInterrupted,
    training_variables,
)
from kerasdl.nan_guard import NanGuard, NonFiniteLossError

EPOCHS, EXAMPLES, BATCH = 4, 200, 20
STEPS_PER_EPOCH = EXAMPLES // BATCH
# Counts the train steps that really ran, across fit() calls; it is no part of any model or backup.
STEPS_RUN = tf.Variable(0, dtype=tf.int64, trainable=False)


class CountingModel(keras.Sequential):
    def train_step(self, data):
        STEPS_RUN.assign_add(1)
        return super().train_step(data)


def make_model(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = CountingModel(
        [
            keras.Input((8,)),
            keras.layers.Dense(16),
            keras.layers.BatchNormalization(),
            # A separate ReLU: oneDNN's fused MatMul+BiasAdd+Relu turns NaN into 0 (see test_nan_guard.py).
            keras.layers.ReLU(),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(3),
        ]
    )
    schedule = keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=7, decay_rate=0.5)
    model.compile(
        keras.optimizers.Adam(schedule),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def make_dataset(nan_at_batch: int | None = None) -> tf.data.Dataset:
    """A dataset that reshuffles every epoch, as the experiments' training sets do.

    Its orders depend on the global seed too, which `start_run` sets the same in every process.
    """
    tf.random.set_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(EXAMPLES, 8)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 1).astype("int64")
    if nan_at_batch is not None:
        x[(nan_at_batch - 1) * BATCH] = np.nan
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
    return tf.data.Dataset.from_tensor_slices((x, y)).shuffle(EXAMPLES, seed=1).batch(BATCH)


class InterruptingCallback(keras.callbacks.Callback):
    """Raises at the start of (epoch, batch), both zero-based; batch None: at the epoch's start."""

    def __init__(self, epoch: int, batch: int | None = None, exception=RuntimeError):
        super().__init__()
        self.epoch, self.batch, self.exception = epoch, batch, exception
        self._current = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._current = epoch
        if self.batch is None and epoch == self.epoch:
            raise self.exception("Interrupting!")

    def on_train_batch_begin(self, batch, logs=None):
        if self._current == self.epoch and batch == self.batch:
            raise self.exception("Interrupting!")


def fit(model, callbacks, dataset=None):
    dataset = dataset if dataset is not None else make_dataset()
    return model.fit(dataset, epochs=EPOCHS, callbacks=callbacks, verbose=0, shuffle=False)


def assert_same_state(model, reference):
    for a, b in zip(training_variables(model), training_variables(reference), strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), a.path)


@pytest.fixture(scope="module")
def uninterrupted():
    model = make_model()
    history = fit(model, [])
    return model, history.history


def interrupted_then_resumed(backup_dir, interrupt: InterruptingCallback, save_freq="epoch"):
    """Trains until `interrupt` fires, then resumes in a fresh model and dataset (as a new process would)."""
    STEPS_RUN.assign(0)
    first = make_model()
    with pytest.raises(RuntimeError, match="Interrupting!"):
        dataset = make_dataset()
        fit(first, [BackupAndRestore(backup_dir, save_freq, dataset=dataset), interrupt], dataset)
    second = make_model(seed=123)  # other initial weights: everything must come from the backup
    dataset = make_dataset()
    backup = BackupAndRestore(backup_dir, save_freq, dataset=dataset)
    history = fit(second, [backup], dataset)
    return second, history.history, backup


class TestResume:
    def test_interrupt_at_epoch(self, tmp_path, uninterrupted):
        reference, reference_history = uninterrupted
        model, history, backup = interrupted_then_resumed(tmp_path, InterruptingCallback(epoch=2))
        assert backup.restored_position["epoch"] == 2 and backup.restored_position["step"] == 20
        assert len(history["loss"]) == EPOCHS - 2  # only the epochs not done yet
        assert int(STEPS_RUN.numpy()) == EPOCHS * STEPS_PER_EPOCH
        assert int(model.optimizer.iterations) == EPOCHS * STEPS_PER_EPOCH
        assert_same_state(model, reference)
        assert history["loss"] == reference_history["loss"][2:]

    def test_interrupt_at_batch_with_batch_backups(self, tmp_path, uninterrupted):
        reference, reference_history = uninterrupted
        model, history, backup = interrupted_then_resumed(
            tmp_path, InterruptingCallback(epoch=1, batch=4), save_freq=1
        )
        assert backup.restored_position["epoch"] == 1 and backup.restored_position["batch"] == 4
        assert int(STEPS_RUN.numpy()) == EPOCHS * STEPS_PER_EPOCH  # no step run twice, none skipped
        assert_same_state(model, reference)
        # The interrupted epoch's metrics continue from the backed-up sums.
        assert history["loss"] == reference_history["loss"][1:]
        assert history["accuracy"] == reference_history["accuracy"][1:]

    def test_interrupt_at_batch_with_epoch_backups_redoes_the_epoch(self, tmp_path, uninterrupted):
        reference, _ = uninterrupted
        model, _, backup = interrupted_then_resumed(tmp_path, InterruptingCallback(epoch=1, batch=4))
        assert backup.restored_position == {**backup.restored_position, "epoch": 1, "batch": 0, "step": 10}
        assert int(STEPS_RUN.numpy()) == EPOCHS * STEPS_PER_EPOCH + 4  # the 4 lost steps run again
        assert int(model.optimizer.iterations) == EPOCHS * STEPS_PER_EPOCH
        assert_same_state(model, reference)

    def test_ctrl_c_stops_after_the_batch_with_a_backup(self, tmp_path, uninterrupted):
        reference, _ = uninterrupted

        class CtrlC(keras.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                if int(self.model.optimizer.iterations) == 13:
                    os.kill(os.getpid(), signal.SIGINT)

        STEPS_RUN.assign(0)
        previous = signal.getsignal(signal.SIGINT)
        with pytest.raises(TrainingInterrupted, match=r"SIGINT at epoch 2, batch 4 \(step 14\)"):
            dataset = make_dataset()
            fit(make_model(), [CtrlC(), BackupAndRestore(tmp_path, dataset=dataset)], dataset)
        assert signal.getsignal(signal.SIGINT) is previous
        assert BackupStore(tmp_path).latest_position()["step"] == 14
        dataset = make_dataset()
        model = make_model(seed=5)
        fit(model, [BackupAndRestore(tmp_path, dataset=dataset)], dataset)
        assert int(STEPS_RUN.numpy()) == EPOCHS * STEPS_PER_EPOCH
        assert_same_state(model, reference)

    def test_tensorboard_curves_continue_without_duplicates(self, tmp_path, uninterrupted):
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        _, reference_history = uninterrupted
        logdir = tmp_path / "tb"
        for interrupt in ([InterruptingCallback(epoch=2)], []):
            dataset = make_dataset()
            callbacks = [BackupAndRestore(tmp_path / "backup", dataset=dataset)]
            callbacks += [keras.callbacks.TensorBoard(logdir, write_graph=False)] + interrupt
            try:
                fit(make_model(), callbacks, dataset)
            except RuntimeError:
                pass
        points = []
        for event_file in sorted((logdir / "train").glob("events.out.tfevents*")):
            accumulator = EventAccumulator(str(event_file))
            accumulator.Reload()
            points += [
                (e.step, float(tf.make_ndarray(e.tensor_proto))) for e in accumulator.Tensors("epoch_loss")
            ]
        assert len(list((logdir / "train").glob("events.out.tfevents*"))) == 2  # one per process
        assert [step for step, _ in points] == list(range(EPOCHS))
        np.testing.assert_allclose([v for _, v in points], reference_history["loss"], rtol=1e-6)

    def test_finished_run_trains_no_more(self, tmp_path):
        dataset = make_dataset()
        fit(make_model(), [BackupAndRestore(tmp_path, dataset=dataset)], dataset)
        STEPS_RUN.assign(0)
        history = fit(make_model(), [BackupAndRestore(tmp_path)])
        assert int(STEPS_RUN.numpy()) == 0 and history.history == {}

    def test_backup_of_another_model_is_refused(self, tmp_path):
        BackupStore(tmp_path).save(training_variables(make_model()), {"epoch": 1, "batch": 0, "step": 10})
        other = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
        other.compile("adam", "mse")
        with pytest.raises(ValueError, match="another model"):
            other.fit(np.zeros((4, 8)), np.zeros((4, 3)), callbacks=[BackupAndRestore(tmp_path)], verbose=0)

    @pytest.mark.parametrize("save_freq", [0, -1, 1.5, "batch", True])
    def test_rejects_bad_save_freq(self, tmp_path, save_freq):
        with pytest.raises(ValueError, match="Received: save_freq="):
            BackupAndRestore(tmp_path, save_freq=save_freq)


class TestNonFiniteLoss:
    def test_nan_at_batch_2_names_the_step_and_keeps_the_last_good_backup(self, tmp_path):
        # The backup callback comes first: it must itself refuse to save the NaN state.
        callbacks = [BackupAndRestore(tmp_path, save_freq=1), NanGuard()]
        with pytest.raises(NonFiniteLossError, match=r"nan at step 2, epoch 1, batch 2"):
            fit(make_model(), callbacks, make_dataset(nan_at_batch=2))
        position = BackupStore(tmp_path).latest_position()
        assert (position["epoch"], position["batch"], position["step"]) == (0, 1, 1)
        # The kept backup is the state after the one good step: finite, and what that step gives.
        one_step = make_model()
        one_step.fit(make_dataset(nan_at_batch=2).take(1), epochs=1, verbose=0)
        expected = training_variables(one_step)
        arrays, _ = BackupStore(tmp_path).load()
        for variable, value in zip(expected, arrays[: len(expected)], strict=True):
            assert np.all(np.isfinite(value)), variable.path
            np.testing.assert_array_equal(value, keras.ops.convert_to_numpy(variable), variable.path)
