"""The `kerasdl` command, through the console script pip installed (not by calling `main`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.catalog import EXPERIMENTS, experiment_names, table
from tests.runs import ROOT

KERASDL = Path(sys.executable).parent / "kerasdl"


def kerasdl(*args: str, cwd=ROOT, timeout: int = 300) -> subprocess.CompletedProcess:
    if not KERASDL.exists():
        pytest.fail(f"the console script {KERASDL} is missing: `pip install -e .` installs it")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("KERASDL_STOP_AT", None)
    return subprocess.run(
        [str(KERASDL), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_catalog_lists_every_experiment_module_once():
    names = [experiment.name for experiment in EXPERIMENTS]
    assert len(names) == len(set(names))
    assert sorted(names) == experiment_names()


def test_help_names_the_commands():
    result = kerasdl("--help")
    assert result.returncode == 0, result.stderr
    for command in ("list", "run", "tensorboard", "report"):
        assert re.search(rf"^\s+{command}\b", result.stdout, re.MULTILINE), command


def test_list_shows_each_experiment_with_its_lesson_and_runtime():
    result = kerasdl("list")
    assert result.returncode == 0, result.stderr
    rows = {
        line.split()[0]: line
        for line in result.stdout.splitlines()
        if line and line.split()[0] in experiment_names()
    }
    assert sorted(rows) == experiment_names()
    for experiment in EXPERIMENTS:
        assert experiment.lesson in rows[experiment.name] and experiment.runtime in rows[experiment.name]


def test_readme_holds_the_catalog_table():
    """The README's table of experiments is `kerasdl list --markdown`, pasted: paste again if this fails."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert table(markdown=True) in readme


def test_run_of_an_unknown_experiment_names_the_known_ones():
    result = kerasdl("run", "no_such_experiment")
    assert result.returncode == 2
    assert "no_such_experiment" in result.stderr and "mismatch" in result.stderr


def test_run_passes_flags_to_the_experiment():
    result = kerasdl("run", "edges", "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: kerasdl run edges" in result.stdout and "--images" in result.stdout


def test_run_then_report_the_main_job(tmp_path):
    result = kerasdl(
        "run", "mismatch", "--limit", "2000", "--epochs", "1", "--label-issue-folds", "0",
        "--logdir", str(tmp_path), "--run-name", "quick",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = tmp_path / "mismatch" / "quick"
    last_lines = result.stdout.strip().splitlines()[-2:]
    assert last_lines == [
        f"Run finished: {run_dir}",
        f"Open it in TensorBoard: tensorboard --logdir {run_dir}",
    ]

    by_name = kerasdl("report", "mismatch", "--logdir", str(tmp_path))
    by_path = kerasdl("report", str(run_dir))
    assert by_name.returncode == by_path.returncode == 0, by_name.stderr + by_path.stderr
    assert by_name.stdout == by_path.stdout
    assert (run_dir / "summary.md").read_text() in by_name.stdout
    assert by_name.stdout.startswith("# mismatch / quick, finished ")


def test_report_refuses_an_unfinished_run(tmp_path):
    run_dir = tmp_path / "mismatch" / "stopped"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text("{}")
    result = kerasdl("report", str(run_dir))
    assert result.returncode == 2
    assert "has not finished" in result.stderr and "--resume --run-name stopped" in result.stderr
    missing = kerasdl("report", "mismatch", "--logdir", str(tmp_path / "elsewhere"))
    assert missing.returncode == 2 and "neither a run directory" in missing.stderr


def test_python_dash_m_experiments_is_the_same_command():
    result = subprocess.run(
        [sys.executable, "-m", "experiments", "list"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == kerasdl("list").stdout


def test_diagnose_is_a_command_of_its_own():
    result = kerasdl("diagnose", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: kerasdl run diagnose") and "--model" in result.stdout
