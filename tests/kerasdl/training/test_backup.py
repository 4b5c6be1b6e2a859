"""Resume after interruption, modelled on Keras' backup_and_restore_test.py (InterruptingCallback)
and TensorFlow's CheckpointManager tests (keep-N, corrupt and half-written checkpoints)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasdl.training import io as kerasdl_io
from kerasdl.training.backup import (
    MANIFEST,
    BackupAndRestore,
    BackupCorruptError,
    BackupStore,
    TrainingInterrupted,
    training_variables,
)
from kerasdl.training.nan_guard import NanGuard, NonFiniteLossError
from tests.events import scalar_points
from tests.kerasdl.training import resumable_job
from tests.kerasdl.training.test_io import dead_pid, live_process, temporary_name

EPOCHS, EXAMPLES, BATCH = 4, 200, 20
STEPS_PER_EPOCH = EXAMPLES // BATCH
# Counts the train steps that really ran, across fit() calls; it is no part of any model or backup.
STEPS_RUN = tf.Variable(0, dtype=tf.int64, trainable=False)


class CountingModel(keras.Sequential):
    def train_step(self, data):
        # Depends on the batch, so it cannot run before a get_next that ends the epoch.
        STEPS_RUN.assign_add(tf.cast(tf.size(data[1]) > 0, tf.int64))
        return super().train_step(data)


def make_model(seed: int = 0, steps_per_execution: int = 1) -> keras.Model:
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
        steps_per_execution=steps_per_execution,
    )
    return model


def make_dataset(nan_at_batch: int | None = None, unknown_length: bool = False) -> tf.data.Dataset:
    """A dataset that reshuffles every epoch, as the experiments' training sets do.

    Its orders depend on the global seed too, which `start_run` sets the same in every process.
    With `unknown_length`, its cardinality is unknown (as after `filter`), which changes how `fit`
    makes iterators.
    """
    tf.random.set_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(EXAMPLES, 8)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 1).astype("int64")
    if nan_at_batch is not None:
        x[(nan_at_batch - 1) * BATCH] = np.nan
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(EXAMPLES, seed=1).batch(BATCH)
    return dataset.filter(lambda x, y: True) if unknown_length else dataset


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
        np.testing.assert_array_equal(a.value.numpy(), b.value.numpy(), a.path)


@pytest.fixture(scope="module")
def uninterrupted():
    model = make_model()
    history = fit(model, [])
    return model, history.history


def interrupted_then_resumed(
    backup_dir, interrupt: InterruptingCallback, save_freq="epoch", steps_per_execution=1, **data
):
    """Trains until `interrupt` fires, then resumes in a fresh model and dataset (as a new process would)."""
    STEPS_RUN.assign(0)
    first = make_model(steps_per_execution=steps_per_execution)
    with pytest.raises(RuntimeError, match="Interrupting!"):
        dataset = make_dataset(**data)
        fit(first, [BackupAndRestore(backup_dir, save_freq, dataset=dataset), interrupt], dataset)
    second = make_model(
        seed=123, steps_per_execution=steps_per_execution
    )  # other initial weights: everything must come from the backup
    dataset = make_dataset(**data)
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

    def test_interrupt_at_epoch_with_a_dataset_of_unknown_length(self, tmp_path):
        reference = make_model()
        fit(reference, [], make_dataset(unknown_length=True))
        model, _, _ = interrupted_then_resumed(tmp_path, InterruptingCallback(epoch=2), unknown_length=True)
        assert int(STEPS_RUN.numpy()) == EPOCHS * STEPS_PER_EPOCH
        assert_same_state(model, reference)

    @pytest.mark.parametrize("steps_per_execution", [1, 2])
    def test_interrupt_at_batch_with_batch_backups(self, tmp_path, uninterrupted, steps_per_execution):
        reference, reference_history = uninterrupted
        model, history, backup = interrupted_then_resumed(
            tmp_path,
            InterruptingCallback(epoch=1, batch=4),
            save_freq=2,
            steps_per_execution=steps_per_execution,
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

    def test_corrupt_newest_backup_resumes_from_the_previous_one(self, tmp_path, uninterrupted):
        reference, _ = uninterrupted
        STEPS_RUN.assign(0)
        with pytest.raises(RuntimeError, match="Interrupting!"):
            dataset = make_dataset()
            fit(
                make_model(),
                [BackupAndRestore(tmp_path, 1, dataset=dataset), InterruptingCallback(1, 4)],
                dataset,
            )
        newest = tmp_path / BackupStore(tmp_path).entries()[-1]["file"]
        newest.write_bytes(newest.read_bytes()[:-10])  # torn by a crash of the disk, not of the writer
        dataset = make_dataset()
        backup = BackupAndRestore(tmp_path, 1, dataset=dataset)
        with pytest.warns(UserWarning, match=f"Skipping backup {newest.name}"):
            fit(model := make_model(seed=3), [backup], dataset)
        assert (backup.restored_position["epoch"], backup.restored_position["batch"]) == (1, 3)
        assert int(STEPS_RUN.numpy()) == EPOCHS * STEPS_PER_EPOCH + 1  # the one lost step runs again
        assert_same_state(model, reference)

    def test_all_backups_corrupt_stops_fit_instead_of_starting_over(self, tmp_path):
        store = BackupStore(tmp_path)
        for step in (1, 2):
            store.save(training_variables(make_model()), {"epoch": step, "batch": 0, "step": 10 * step})
        for path in tmp_path.glob("backup-*.npz"):
            path.write_bytes(b"garbage")
        STEPS_RUN.assign(0)
        with (
            pytest.warns(UserWarning),
            pytest.raises(BackupCorruptError, match="Refusing to restart from scratch"),
        ):
            fit(make_model(), [BackupAndRestore(tmp_path)])
        assert int(STEPS_RUN.numpy()) == 0

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

    def test_tensorboard_curves_continue_without_gaps_or_duplicates(self, tmp_path, uninterrupted):
        _, reference_history = uninterrupted

        class SigtermWhileWriting(keras.callbacks.Callback):
            """SIGTERM arrives while the epoch-end writers run, the worst moment for the curves."""

            def on_epoch_end(self, epoch, logs=None):
                if epoch == 1:
                    os.kill(os.getpid(), signal.SIGTERM)

        logdir = tmp_path / "tb"
        for interrupt in ([SigtermWhileWriting()], []):
            dataset = make_dataset()
            writers = [keras.callbacks.TensorBoard(logdir, write_graph=False)] + interrupt
            try:
                fit(make_model(), writers + [BackupAndRestore(tmp_path / "backup", dataset=dataset)], dataset)
            except TrainingInterrupted:
                assert interrupt
        points = scalar_points(logdir / "train", "epoch_loss")
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

    def test_only_the_chief_writes_backups(self, tmp_path, monkeypatch):
        cluster = {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}
        monkeypatch.setenv("TF_CONFIG", json.dumps(cluster))
        model = make_model()
        model.fit(
            make_dataset().take(2), epochs=1, callbacks=[BackupAndRestore(tmp_path, save_freq=1)], verbose=0
        )
        assert list(tmp_path.iterdir()) == []

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
            np.testing.assert_array_equal(value, variable.value.numpy(), variable.path)


class TestBackupStore:
    @staticmethod
    def variables(value: float = 0.0):
        return [keras.Variable(np.full((2, 3), value, "float32")), keras.Variable(np.int64(value))]

    def save_steps(self, store, steps):
        for step in steps:
            store.save(self.variables(step), {"step": step})

    def restored(self, store):
        variables = self.variables(-1)
        position = store.restore(variables)
        return position, float(variables[0].numpy()[0, 0])

    def test_keeps_the_last_n(self, tmp_path):
        store = BackupStore(tmp_path, keep=2)
        assert store.restore(self.variables()) is None  # nothing saved yet: a fresh start
        self.save_steps(store, [1, 2, 3])
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "backup-00000002.npz",
            "backup-00000003.npz",
            MANIFEST,
        ]
        position, value = self.restored(store)
        assert position["step"] == 3 and value == 3.0

    def test_crash_halfway_through_a_write_keeps_the_previous_backup(self, tmp_path, monkeypatch):
        store = BackupStore(tmp_path)
        self.save_steps(store, [1])
        before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
        real_fdopen = os.fdopen

        class DiesHalfway:
            def __init__(self, file):
                self.file = file

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.file.close()

            def write(self, data):
                self.file.write(data[: len(data) // 2])
                raise OSError("killed mid-write")

        monkeypatch.setattr(kerasdl_io.os, "fdopen", lambda fd, mode: DiesHalfway(real_fdopen(fd, mode)))
        with pytest.raises(OSError, match="killed mid-write"):
            store.save(self.variables(2), {"step": 2})
        monkeypatch.undo()
        assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no partial file left
        assert self.restored(store) == ({"step": 1, "file": "backup-00000001.npz"}, 1.0)

    def test_a_killed_writers_temporary_file_is_ignored_then_removed(self, tmp_path):
        store = BackupStore(tmp_path)
        self.save_steps(store, [1])
        leftover = tmp_path / temporary_name("backup-00000002.npz", dead_pid())
        leftover.write_bytes(b"PK\x03\x04 half a zip")
        assert self.restored(store)[1] == 1.0
        self.save_steps(store, [2])
        assert not leftover.exists()

    @pytest.mark.skipif(os.name == "nt", reason="liveness is checked with os.kill(pid, 0) on POSIX only")
    def test_another_live_writers_temporary_file_is_kept(self, tmp_path):
        store = BackupStore(tmp_path)
        self.save_steps(store, [1])
        with live_process() as pid:
            in_progress = tmp_path / temporary_name("backup-00000002.npz", pid)
            in_progress.write_bytes(b"PK\x03\x04 being written")
            self.save_steps(store, [2])
            assert in_progress.read_bytes() == b"PK\x03\x04 being written"
        assert self.restored(store)[1] == 2.0

    @pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
    def test_corrupt_newest_falls_back_to_the_previous_with_a_warning(self, tmp_path, damage):
        store = BackupStore(tmp_path, keep=2)
        self.save_steps(store, [1, 2])
        newest = tmp_path / "backup-00000002.npz"
        data = newest.read_bytes()
        if damage == "flip":
            newest.write_bytes(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])
        elif damage == "truncate":
            newest.write_bytes(data[: len(data) // 2])
        else:
            newest.unlink()
        with pytest.warns(UserWarning, match="Skipping backup backup-00000002.npz"):
            position, value = self.restored(store)
        assert position["step"] == 1 and value == 1.0

    def test_two_corrupt_backups_are_an_error_not_a_fresh_start(self, tmp_path):
        store = BackupStore(tmp_path, keep=2)
        self.save_steps(store, [1, 2])
        for path in tmp_path.glob("backup-*.npz"):
            path.write_bytes(b"garbage")
        with pytest.warns(UserWarning), pytest.raises(BackupCorruptError, match="All 2 backups .* corrupt"):
            store.restore(self.variables())

    def test_unreadable_manifest_is_an_error(self, tmp_path):
        store = BackupStore(tmp_path)
        self.save_steps(store, [1])
        (tmp_path / MANIFEST).write_text('{"backups": [')
        with pytest.raises(BackupCorruptError, match="manifest"):
            store.restore(self.variables())

    def test_shape_mismatch_names_the_variable(self, tmp_path):
        store = BackupStore(tmp_path)
        self.save_steps(store, [1])
        other = [keras.Variable(np.zeros((3, 2), "float32"), name="kernel"), keras.Variable(np.int64(0))]
        with pytest.raises(ValueError, match=r"kernel has shape \(3, 2\), the backup \(2, 3\)"):
            store.restore(other)

    @pytest.mark.parametrize("keep", [0, -1, 1.5, True])
    def test_rejects_bad_keep(self, tmp_path, keep):
        with pytest.raises(ValueError, match="Received: keep="):
            BackupStore(tmp_path, keep=keep)


def test_sigterm_a_real_training_process_then_resume(tmp_path):
    """SIGTERM mid-epoch (step 14 of 3 x 10) while the job waits at a marker; the restart finishes the run."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    command = [sys.executable, "-m", "tests.kerasdl.training.resumable_job", str(tmp_path)]
    job = subprocess.Popen(command + ["--pause-at-step", "14"], env=env, stderr=subprocess.PIPE, text=True)
    marker = tmp_path / "paused"
    while not marker.exists() and job.poll() is None:
        time.sleep(0.05)
    assert job.poll() is None, job.stderr.read()
    job.send_signal(signal.SIGTERM)
    _, stderr = job.communicate(timeout=120)
    assert job.returncode != 0 and "TrainingInterrupted: Training stopped on SIGTERM" in stderr
    first = json.loads((tmp_path / f"report-{job.pid}.json").read_text())
    assert first == {"start": 0, "end": 14, "run": 14}
    assert BackupStore(tmp_path / "backup").latest_position()["step"] == 14  # the stop wrote a backup

    resumed = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    _, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr
    second = json.loads((tmp_path / f"report-{resumed.pid}.json").read_text())
    assert second == {"start": 14, "end": 30, "run": 16}  # 14 + 16 = 30 steps: none lost, none twice

    model, dataset = resumable_job.build()  # the same job, uninterrupted, in this process
    model.fit(dataset, epochs=resumable_job.EPOCHS, verbose=0)
    expected = np.concatenate([w.ravel() for w in model.get_weights()])
    np.testing.assert_array_equal(np.load(tmp_path / f"weights-{resumed.pid}.npy"), expected)
