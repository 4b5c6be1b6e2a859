"""Every fit-based experiment resumes: SIGTERM after an epoch, then `--resume` finishes the same run."""

import json
import os
import signal

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from experiments import architectures
from kerasdl.backup import BackupStore, TrainingInterrupted
from kerasdl.experiment import FINISHED

EPOCHS = 3
QUICK = ["--models", "lenet5", "--limit", "512", "--test-limit", "200", "--epochs", str(EPOCHS)]
QUICK += ["--batch-size", "128"]


class SigtermAfterFirstEpoch(architectures.EpochTimer):
    """The experiment's own timer, plus a SIGTERM while it writes the first epoch's point."""

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if epoch == 0:
            os.kill(os.getpid(), signal.SIGTERM)


def steps(run_dir, subdir, tag):
    """The steps of every event of `tag` in `run_dir/subdir`, across event files, in writing order."""
    found = []
    for event_file in sorted((run_dir / subdir).glob("events.out.tfevents*")):
        accumulator = EventAccumulator(str(event_file))
        accumulator.Reload()
        if tag in accumulator.Tags()["tensors"]:
            found += [event.step for event in accumulator.Tensors(tag)]
    return found


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
            assert steps(run_dir, subdir, tag) == list(range(EPOCHS)), (subdir, tag)
    # The timer's epochs, then the comparison's HParams metric at step EPOCHS.
    assert steps(run_dir, "lenet5", "seconds_per_epoch") == [*range(EPOCHS), EPOCHS]
    (row,) = json.loads((run_dir / "results.json").read_text())["rows"]
    assert row["network"] == "lenet5" and 0.0 <= row["test_accuracy"] <= 1.0
