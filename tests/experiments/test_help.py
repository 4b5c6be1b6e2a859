"""Every experiment script explains itself: `python -m experiments.<name> --help` works.

The help holds what does not change from run to run: what the script does,
the lesson's formulas, the defaults and how to run it. Figures measured by a
run (timings, accuracies, speedups, p-values) belong in the run's results
and in the README, where they are dated; in `--help` they go stale silently.
"""

import functools
import pathlib
import re
import subprocess
import sys

import pytest

from experiments.catalog import experiment_names

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPTS = experiment_names()  # every experiment module (not the kerasdl command's own modules)
# What the help of a script must show besides its flags' lines: its own flags, and words its header promises.
PROMISED = {
    "augmentation": (
        "--profile", "--augment", "--crop-size", "--layout", "--aggregate", "--offline-copies", "--members",
        "--epochs", "pca_color", "python -m experiments.augmentation",
    ),
    "regularization": (
        "--profile", "--variants", "--lambd", "--keep-prob", "--epochs", "--width", "--learning-rate",
    ),
}  # fmt: skip

# What a measured figure looks like. Formulas ("1 - accuracy", "(1-0.969)", "sqrt(2 / n[l-1])"),
# settings ("crop=0,flip=0.5", "Adam 3e-3", "shifts of +-2 px", "24x24") and defaults do not match.
MEASUREMENTS = {
    "a percentage with decimals": r"\d\.\d+\s*%",
    "a throughput": r"\b(?:images|examples|samples|batches|steps)\s*(?:/|per)\s*(?:s|sec|second)\b",
    "a duration": (
        r"(?<![\w.])~?\d+(?:\.\d+)?(?:\s*[-–]\s*\d+(?:\.\d+)?)?\s*(?:s|sec|seconds|ms|min|minutes|h|hours)\b"
    ),
    "a time per example": r"\bms (?:per|/)",
    "a speedup": r"\b\d+(?:\.\d+)?x\b|\bx\d+\.\d+\b|\b\d+(?:\.\d+)?\s*times (?:faster|slower)\b",
    "a p-value": r"\bp\s*[=<>]\s*0?\.\d",
    "a signed difference": r"(?<![\w.)\]^])[+\u2212-]\d*\.\d+",
    "a measured accuracy, error or loss": (
        r"\b(?:accuracy|error|loss|f1|scores?|gain|baseline|train|dev|test)\b[^.;:\n]{0,25}?"
        r"(?<![\w.\-])0\.\d{2,}"
        r"|\b(?:accuracy|error)\W{1,3}\d+(?:\.\d+)?\s*%"
    ),
}
_FIGURE = re.compile(
    "|".join(f"(?P<kind{i}>{p})" for i, p in enumerate(MEASUREMENTS.values())), re.IGNORECASE
)


def measured_figures(text: str) -> list[str]:
    """Each measured-looking figure in `text`, as "<kind>: ...<context>..."; defaults are left out."""
    text = " ".join(text.split())  # argparse wraps lines anywhere
    text = re.sub(r"\(default: [^)]*\)", "", text)
    kinds = list(MEASUREMENTS)
    return [
        f"{kinds[int(match.lastgroup[4:])]}: ...{text[max(0, match.start() - 50) : match.end() + 10]}..."
        for match in _FIGURE.finditer(text)
    ]


@functools.cache
def help_text(name: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", f"experiments.{name}", "--help"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_there_are_experiments():
    assert "mismatch" in SCRIPTS


@pytest.mark.parametrize("name", SCRIPTS)
def test_help_explains_every_flag(name):
    text = help_text(name)
    assert "usage:" in text and "--seed" in text and "--logdir" in text
    # every option line carries help text: argparse prints an option with no help alone on its line
    options = [line.strip() for line in text.splitlines() if line.strip().startswith("--")]
    bare = [line for line in options if len(line.split()) <= 2 and not line.endswith(")")]
    undocumented = [line for line in bare if not _has_help_below(text, line)]
    assert not undocumented, f"flags without help: {undocumented}"


@pytest.mark.parametrize("name", sorted(PROMISED))
def test_help_shows_what_the_script_promises(name):
    text = help_text(name)
    assert [word for word in PROMISED[name] if word not in text] == []


@pytest.mark.parametrize("name", SCRIPTS)
def test_help_shows_no_measured_figures(name):
    assert not measured_figures(help_text(name))


@pytest.mark.parametrize(
    "text",
    [
        "python -m experiments.x   # ~5 min on 2 CPU cores",
        "Measured in one run (225 s), test accuracy: baseline 0.862 (train 0.999, dev 0.874)",
        "augmentation + 10-crop 0.857 (+0.001: 231 wrong -> right), 7.4x the predict time",
        "multicrop_time_ratio 1.9x; McNemar p=0.03",
        "about 175k against 400k images/s; 0.25 ms per example",
        "dev error 12.5% after 3 epochs",
    ],
)
def test_measured_figures_are_recognised(text):
    assert measured_figures(text)


@pytest.mark.parametrize(
    "text",
    [
        "--learning-rate LEARNING_RATE  Adam's learning rate (default: 0.001)",
        "'best-published' (1-0.969) or 'crowd' (1-0.835, crowd-sourced non-experts)",
        "error (1 - accuracy); variance = train-dev - train; W = randn(n[l], n[l-1]) * sqrt(2 / n[l-1])",
        "--augment crop=0,flip=0.5: random 24x24 windows (shifts of +-2 px), Adam 3e-3, the same 86% ratio",
        "beta1 = 0.9 averages ~10 steps, 0.999 ~1000; 'same' padding (p=1) instead of 'valid' (p=0)",
        "python -m experiments.x --epochs 30 --resume   # 4,000 images, 30 epochs",
    ],
)
def test_formulas_settings_and_defaults_are_not_figures(text):
    assert not measured_figures(text)


def _has_help_below(text: str, option_line: str) -> bool:
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip() == option_line)
    following = lines[index + 1] if index + 1 < len(lines) else ""
    return following.startswith(" " * 10) and not following.strip().startswith("-")
