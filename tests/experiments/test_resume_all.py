"""Every experiment resumes the way the harness says: SIGTERM after an epoch, then `--resume` finishes the
same run; a finished run is never reopened; a run name never leaves LOGDIR/<experiment>/."""

import importlib
import json
import pathlib
import signal
import subprocess
import sys

import numpy as np
import pytest

from experiments import architectures, edges, multitask
from experiments.catalog import experiment_names
from kerasdl.harness.results import read_results
from kerasdl.harness.run import FINISHED
from kerasdl.nn.multitask import ATTRIBUTES
from kerasdl.training.backup import BackupStore
from tests.events import scalar_points, tag_steps
from tests.runs import run_experiment, stopped_by_request

EPOCHS = 3
QUICK = ["--models", "lenet5", "--limit", "512", "--test-limit", "200", "--epochs", str(EPOCHS)]
QUICK += ["--batch-size", "128", "--train-eval-size", "256"]
ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPTS = experiment_names()  # every experiment module (not the kerasdl command's own modules)


def run_stopped(experiment: str, logdir, stop: str, *flags) -> subprocess.CompletedProcess:
    """`python -m experiments.<experiment>`, which signals itself at `stop` (kerasdl.harness.faults)."""
    return run_experiment(experiment, logdir, *flags, stop=stop)


def stopped_by_sigterm(result: subprocess.CompletedProcess) -> bool:
    """Killed by SIGTERM, or stopped cleanly: the backup callback turns it into TrainingInterrupted."""
    return stopped_by_request(result, "SIGTERM")


def test_architectures_sigterm_then_resume_writes_every_epoch_once(fashion_mnist_all, logdir):
    result = run_stopped("architectures", logdir, "epoch:1:SIGTERM", "--run-name", "r", *QUICK)
    assert stopped_by_sigterm(result), (result.returncode, result.stderr[-3000:])
    run_dir = logdir / "architectures" / "r"
    assert not (run_dir / FINISHED).exists() and not (run_dir / "results.json").exists()
    assert BackupStore(run_dir / "backup" / "lenet5").latest_position()["epoch"] == 1

    assert architectures.main(["--logdir", str(logdir), "--run-name", "r", *QUICK, "--resume"]) == 0
    assert [p.name for p in (logdir / "architectures").iterdir()] == ["r"]  # the same run, not a new one
    assert (run_dir / FINISHED).exists() and (run_dir / "resume-1.json").exists()
    assert BackupStore(run_dir / "backup" / "lenet5").latest_position()["epoch"] == EPOCHS
    results = read_results(run_dir)
    epochs = list(range(1, EPOCHS + 1))
    # Each epoch exactly once, in the results and in TensorBoard's event files (one per session).
    for subrun, tags in {"lenet5/train": ("loss", "error", "seconds_per_epoch"),
                         "lenet5/test": ("loss", "error"), "lenet5/gaps": ("gap",)}.items():  # fmt: skip
        for tag in tags:
            assert [step for step, _ in results["curves"][subrun][tag]] == epochs, (subrun, tag)
            assert tag_steps(run_dir / subrun, tag) == epochs, (subrun, tag)
    # The comparison's HParams metric, once, at the last epoch; the median covers every epoch.
    assert tag_steps(run_dir / "lenet5", "seconds_per_epoch") == [EPOCHS]
    seconds = [value for _, value in results["curves"]["lenet5/train"]["seconds_per_epoch"]]
    (row,) = results["details"]["rows"]
    assert row["network"] == "lenet5" and 0.0 <= row["test_accuracy"] <= 1.0
    assert row["seconds_per_epoch"] == pytest.approx(float(np.median(seconds)))


def finished_run(logdir, experiment, name="done"):
    """A run that ended normally: config.json and the FINISHED marker, as `Run.finish` leaves it."""
    run_dir = logdir / experiment / name
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({"experiment": experiment, "config": {}}))
    (run_dir / FINISHED).write_text(json.dumps({"finished_utc": "2026-01-01T00:00:00+00:00"}))
    return run_dir


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


def test_multitask_resumed_run_sees_the_same_data_order(fashion_mnist_all, logdir):
    """NumPy arrays became a seeded tf.data pipeline: the resumed epochs train on the same batches."""
    quick = [
        "--run-name",
        "r",
        "--limit",
        "384",
        "--test-limit",
        "100",
        "--epochs",
        "2",
        "--batch-size",
        "64",
    ]
    quick += ["--train-eval-size", "128"]
    interrupted, straight = logdir / "interrupted", logdir / "straight"
    # The first fit is the multi-task network's: stopped after its first epoch, then resumed to the end.
    result = run_stopped("multitask", interrupted, "epoch:1:SIGTERM", *quick)
    assert stopped_by_sigterm(result), (result.returncode, result.stderr[-3000:])
    assert multitask.main(["--logdir", str(interrupted), *quick, "--resume"]) == 0
    # The reference: the same network trained without a stop (the run ends there, the rest is not needed).
    result = run_stopped("multitask", straight, "end:network/multi_task:SIGKILL", *quick)
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    resumed, reference = interrupted / "multitask" / "r", straight / "multitask" / "r"
    assert (resumed / FINISHED).exists() and (resumed / "resume-1.json").exists()
    for split in ("train", "test"):
        got, want = (scalar_points(run / "multi_task" / split, "loss") for run in (resumed, reference))
        assert [step for step, _ in got] == [1, 2]  # each epoch once
        # Epoch 2's loss depends on the order of its batches: a different shuffle would not match.
        assert [value for _, value in got] == pytest.approx([value for _, value in want], rel=1e-5)
    (row, _) = read_results(resumed)["details"]["rows"]
    expected = json.loads((reference / "phases" / "network" / "multi_task.json").read_text())["result"]
    assert [row[f"{attribute}_accuracy"] for attribute in ATTRIBUTES] == pytest.approx(
        expected["accuracy"], abs=0.02
    )


BAD_NAMES = ["../x", "/tmp/abs", "a/b"]


@pytest.mark.parametrize("resume", [False, True], ids=["new", "resume"])
@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_run_name_that_is_not_a_folder_name_is_refused(name, resume, fashion_mnist_all, tmp_path, capsys):
    """A run name is a folder under LOGDIR/<experiment>/: one that would leave it is refused, nothing made."""
    logdir = tmp_path / "logs"
    if name.startswith("/"):
        name = str(tmp_path / "abs")  # absolute too, and where the test sees whether anything was made
    finished_run(logdir, "edges")  # an existing experiment folder, which must stay as it is
    argv = ["--logdir", str(logdir), "--images", "1", "--run-name", name, *(["--resume"] if resume else [])]
    with pytest.raises(SystemExit) as exit_info:
        edges.main(argv)
    assert exit_info.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith("error: Invalid run name"), errors
    assert repr(name) in errors[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs"]  # nothing beside the logdir
    assert sorted(p.name for p in logdir.iterdir()) == ["edges"]  # nothing beside the experiment
    assert [p.name for p in (logdir / "edges").iterdir()] == ["done"]
    assert sorted(p.name for p in (logdir / "edges" / "done").iterdir()) == ["FINISHED", "config.json"]
