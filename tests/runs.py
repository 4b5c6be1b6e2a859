"""Running an experiment as a user does, stopping it on purpose, and reading what its run wrote.

`run_experiment` starts `python -m experiments.<name>` in a subprocess, which
can send itself a signal at a named point (`kerasdl.harness.faults`);
`stopped_by_request` tells such a stop from an error. `results.json` has one
schema for every experiment (`kerasdl.harness.results`); `RESULT_KEYS` is its
top level as the tests expect it, written out once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from kerasdl.harness.results import read_results

ROOT = Path(__file__).resolve().parents[1]
RESULT_KEYS = {"schema", "experiment", "run", "finished_utc", "config", "metrics", "details", "curves"}


def run_experiment(
    experiment: str, logdir, *flags: str, stop: str | None = None, timeout: int = 600
) -> subprocess.CompletedProcess:
    """`python -m experiments.<experiment> --logdir LOGDIR FLAGS` in a subprocess, from the repository root.

    `stop` ("<point>:<SIGNAL>") makes the process signal itself at that point
    (`KERASDL_STOP_AT`); without it, the tests' own `KERASDL_STOP_AT` is not
    passed on. The process runs under umask 022, so a test can check who may
    read the files it wrote.
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("KERASDL_STOP_AT", None)
    if stop is not None:
        env["KERASDL_STOP_AT"] = stop
    command = [sys.executable, "-m", f"experiments.{experiment}", "--logdir", str(logdir), *flags]
    return subprocess.run(
        command,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=lambda: os.umask(0o022),
    )


def uninterrupted_run(experiment: str, logdir, *flags: str, name: str = "straight") -> Path:
    """The directory of the run `name` of `experiment`, run to its end without a stop (the reference)."""
    result = run_experiment(experiment, logdir, *flags, "--run-name", name)
    assert result.returncode == 0, result.stderr[-3000:]
    return Path(logdir) / experiment / name


def stopped_by_request(result: subprocess.CompletedProcess, signame: str) -> bool:
    """The process ended because of the requested stop, not because of an error."""
    if signame == "SIGKILL":
        return result.returncode == -signal.SIGKILL
    # SIGTERM: killed by it, or turned by the backup callback into a clean TrainingInterrupted.
    return result.returncode == -signal.SIGTERM or (
        result.returncode != 0 and "TrainingInterrupted: Training stopped on SIGTERM" in result.stderr
    )


def run_results(run_dir: Path) -> dict:
    """The run's `results.json`, checked against the schema, with exactly the documented keys."""
    results = read_results(run_dir)
    assert set(results) == RESULT_KEYS
    return results


def tensor_tags(directory: Path, kind: str = "tensors") -> set[str]:
    """The tags of `kind` in the event files of `directory` (one TensorBoard run)."""
    return set(EventAccumulator(str(directory)).Reload().Tags()[kind])
