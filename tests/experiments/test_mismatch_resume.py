"""The main job survives SIGTERM: `--resume` continues the same run to the same result."""

import json
import os
import signal

import pytest

from experiments import mismatch
from kerasdl.diagnostics import DecompositionCallback
from kerasdl.harness.run import FINISHED
from kerasdl.training.backup import BackupStore, TrainingInterrupted
from tests.events import scalar_points, tag_events, tag_steps

EPOCHS = 3
QUICK = ["--limit", "1500", "--epochs", str(EPOCHS), "--width", "4", "--batch-size", "64"]
QUICK += ["--train-eval-size", "0", "--label-issue-folds", "0", "--error-sample", "5"]


class SigtermAfterFirstEpoch(DecompositionCallback):
    """The job's own diagnostics, plus a SIGTERM while they write the first epoch's points."""

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if epoch == 0:
            os.kill(os.getpid(), signal.SIGTERM)


def interrupted_then_resumed(logdir, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(mismatch, "DecompositionCallback", SigtermAfterFirstEpoch)
        with pytest.raises(TrainingInterrupted, match="SIGTERM at epoch 2"):
            mismatch.main(["--logdir", str(logdir), *QUICK])
    (run_dir,) = (logdir / "mismatch").iterdir()
    assert not (run_dir / FINISHED).exists()
    assert BackupStore(run_dir / "backup").latest_position()["epoch"] == 1
    assert mismatch.main(["--logdir", str(logdir), *QUICK, "--resume"]) == 0
    assert list((logdir / "mismatch").iterdir()) == [run_dir]  # the same run, not a new one
    return run_dir


def test_sigterm_then_resume_finishes_the_same_run(fashion_mnist_all, logdir, monkeypatch):
    run_dir = interrupted_then_resumed(logdir, monkeypatch)
    assert (run_dir / FINISHED).exists() and (run_dir / "resume-1.json").exists()
    position = BackupStore(run_dir / "backup").latest_position()
    steps_per_epoch = position["step"] // EPOCHS
    assert position["epoch"] == EPOCHS and position["step"] == EPOCHS * steps_per_epoch
    for split in ("train", "dev"):  # curves continue: every epoch once, none twice
        assert tag_steps(run_dir / split, "error") == list(range(1, EPOCHS + 1))
    assert len(tag_events(run_dir / "examples", "examples/source_A")) == 1  # not logged again on resume


@pytest.mark.slow
def test_resumed_run_ends_where_an_uninterrupted_one_does(fashion_mnist_all, logdir, monkeypatch):
    run_dir = interrupted_then_resumed(logdir / "interrupted", monkeypatch)
    assert mismatch.main(["--logdir", str(logdir / "straight"), *QUICK]) == 0
    (straight,) = (logdir / "straight" / "mismatch").iterdir()
    for split in ("train", "train_dev", "dev", "test"):
        assert scalar_points(run_dir / split, "error") == scalar_points(straight / split, "error")
    resumed, reference = (json.loads((d / "results.json").read_text()) for d in (run_dir, straight))
    assert resumed["decomposition"] == reference["decomposition"]
