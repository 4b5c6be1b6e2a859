"""Every experiment script explains itself: `python -m experiments.<name> --help` works."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p.stem for p in (ROOT / "experiments").glob("*.py") if p.stem != "__init__")


def test_there_are_experiments():
    assert "mismatch" in SCRIPTS


@pytest.mark.parametrize("name", SCRIPTS)
def test_help_explains_every_flag(name):
    result = subprocess.run(
        [sys.executable, "-m", f"experiments.{name}", "--help"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage:" in result.stdout and "--seed" in result.stdout and "--logdir" in result.stdout
    # every option line carries help text: argparse prints an option with no help alone on its line
    options = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("--")]
    bare = [line for line in options if len(line.split()) <= 2 and not line.endswith(")")]
    undocumented = [line for line in bare if not _has_help_below(result.stdout, line)]
    assert not undocumented, f"flags without help: {undocumented}"


def _has_help_below(text: str, option_line: str) -> bool:
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip() == option_line)
    following = lines[index + 1] if index + 1 < len(lines) else ""
    return following.startswith(" " * 10) and not following.strip().startswith("-")
