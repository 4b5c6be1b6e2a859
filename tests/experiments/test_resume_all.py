"""Every fit-based experiment resumes: SIGTERM after an epoch, then `--resume` finishes the same run."""

import importlib
import json
import os
import pathlib
import signal
import subprocess
import sys

import keras
import pytest

from experiments import architectures, edges, multitask
from kerasdl.harness.run import FINISHED
from kerasdl.training.backup import BackupStore, TrainingInterrupted
from tests.events import scalar_points, tag_steps

EPOCHS = 3
QUICK = ["--models", "lenet5", "--limit", "512", "--test-limit", "200", "--epochs", str(EPOCHS)]
QUICK += ["--batch-size", "128"]


class SigtermAfterFirstEpoch(architectures.EpochTimer):
    """The experiment's own timer, plus a SIGTERM while it writes the first epoch's point."""

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if epoch == 0:
            os.kill(os.getpid(), signal.SIGTERM)


def test_architectures_sigterm_then_resume_writes_every_epoch_once(fashion_mnist_all, logdir, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(architectures, "EpochTimer", SigtermAfterFirstEpoch)
        with pytest.raises(TrainingInterrupted):
            architectures.main(["--logdir", str(logdir), "--run-name", "r", *QUICK])
    run_dir = logdir / "architectures" / "r"
    assert not (run_dir / FINISHED).exists() and not (run_dir / "results.json").exists()
    assert BackupStore(run_dir / "backup" / "lenet5").latest_position()["epoch"] == 1

    assert architectures.main(["--logdir", str(logdir), "--run-name", "r", *QUICK, "--resume"]) == 0
    assert [p.name for p in (logdir / "architectures").iterdir()] == ["r"]  # the same run, not a new one
    assert (run_dir / FINISHED).exists() and (run_dir / "resume-1.json").exists()
    assert BackupStore(run_dir / "backup" / "lenet5").latest_position()["epoch"] == EPOCHS
    # Keras' TensorBoard and the timer log at step = epoch index: each epoch exactly once.
    for subdir in ("lenet5/train", "lenet5/validation"):
        for tag in ("epoch_loss", "epoch_accuracy"):
            assert tag_steps(run_dir / subdir, tag) == list(range(EPOCHS)), (subdir, tag)
    # The timer's epochs, then the comparison's HParams metric at step EPOCHS.
    assert tag_steps(run_dir / "lenet5", "seconds_per_epoch") == [*range(EPOCHS), EPOCHS]
    (row,) = json.loads((run_dir / "results.json").read_text())["rows"]
    assert row["network"] == "lenet5" and 0.0 <= row["test_accuracy"] <= 1.0


def finished_run(logdir, experiment, name="done"):
    """A run that ended normally: config.json and the FINISHED marker, as `Run.finish` leaves it."""
    run_dir = logdir / experiment / name
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({"experiment": experiment, "config": {}}))
    (run_dir / FINISHED).write_text(json.dumps({"finished_utc": "2026-01-01T00:00:00+00:00"}))
    return run_dir


ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p.stem for p in (ROOT / "experiments").glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("name", SCRIPTS)
def test_resume_refuses_a_finished_run_with_one_error_line(name, fashion_mnist_all, logdir, capsys):
    """`main(argv)` is each script's command line: a user error exits 2 with one `error:` line."""
    module = importlib.import_module(f"experiments.{name}")
    run_dir = finished_run(logdir, module.EXPERIMENT)
    with pytest.raises(SystemExit) as exit_info:  # not a ValueError: no traceback reaches the user
        module.main(["--logdir", str(logdir), "--resume", "--run-name", "done"])
    assert exit_info.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith(f"error: Run {run_dir} finished")
    assert "--run-name" in errors[0] and f"delete {run_dir}" in errors[0]
    assert [p.name for p in (logdir / module.EXPERIMENT).iterdir()] == ["done"]  # nothing new, untouched
    assert sorted(p.name for p in run_dir.iterdir()) == ["FINISHED", "config.json"]


def test_resume_of_a_finished_run_from_the_shell_prints_no_traceback(fashion_mnist_all, logdir):
    finished_run(logdir, "edges")
    argv = ["--logdir", str(logdir), "--resume", "--run-name", "done"]
    result = subprocess.run(
        [sys.executable, "-m", "experiments.edges", *argv],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        f"error: Run {logdir / 'edges' / 'done'} finished; it is never reopened. Pick a new --run-name "
        f"for a new run, or delete {logdir / 'edges' / 'done'} to reuse the name. Received: run_name='done'"
    ]


def test_resume_after_a_finished_run_starts_a_new_one(fashion_mnist_all, logdir, capsys):
    assert edges.main(["--logdir", str(logdir), "--images", "2", "--run-name", "first"]) == 0
    assert (logdir / "edges" / "first" / FINISHED).exists()
    assert edges.main(["--logdir", str(logdir), "--images", "2", "--resume"]) == 0
    assert "no unfinished run" in capsys.readouterr().out
    runs = sorted(p.name for p in (logdir / "edges").iterdir())
    assert len(runs) == 2 and "first" in runs
    assert all((logdir / "edges" / name / FINISHED).exists() for name in runs)
    assert not list((logdir / "edges" / "first").glob("resume-*.json"))  # the finished run was not reopened


def test_multitask_resumed_run_sees_the_same_data_order(fashion_mnist_all, logdir, monkeypatch):
    """NumPy arrays became a seeded tf.data pipeline: the resumed epochs train on the same batches."""
    quick = ["--limit", "384", "--test-limit", "100", "--epochs", "2", "--batch-size", "64"]
    board = keras.callbacks.TensorBoard

    class SigtermAfterFirstEpoch(board):
        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            if epoch == 0 and self.log_dir.endswith("multi_task"):
                os.kill(os.getpid(), signal.SIGTERM)

    interrupted, straight = logdir / "interrupted", logdir / "straight"
    with monkeypatch.context() as patch:
        patch.setattr(keras.callbacks, "TensorBoard", SigtermAfterFirstEpoch)
        with pytest.raises(TrainingInterrupted):
            multitask.main(["--logdir", str(interrupted), "--run-name", "r", *quick])
    assert multitask.main(["--logdir", str(interrupted), "--run-name", "r", *quick, "--resume"]) == 0
    assert multitask.main(["--logdir", str(straight), "--run-name", "r", *quick]) == 0
    resumed, reference = interrupted / "multitask" / "r", straight / "multitask" / "r"
    assert (resumed / FINISHED).exists() and (resumed / "resume-1.json").exists()
    for split in ("train", "validation"):
        got, want = (
            scalar_points(resumed / "multi_task" / split, "epoch_loss"),
            scalar_points(reference / "multi_task" / split, "epoch_loss"),
        )
        assert [step for step, _ in got] == [0, 1]  # each epoch once
        # Epoch 2's loss depends on the order of its batches: a different shuffle would not match.
        assert [value for _, value in got] == pytest.approx([value for _, value in want], rel=1e-5)
    rows = [json.loads((d / "results.json").read_text())["rows"] for d in (resumed, reference)]
    assert rows[0][0]["mean_accuracy"] == pytest.approx(rows[1][0]["mean_accuracy"], abs=0.02)
