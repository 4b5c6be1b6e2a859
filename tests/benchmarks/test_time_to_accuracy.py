"""benchmarks/time_to_accuracy.py runs end to end on a few images and prints its figures; its
bookkeeping (seconds to a target, bounds, ratios) follows the measured curve."""

from __future__ import annotations

import re

import pytest

from benchmarks import time_to_accuracy as bench


class _Timer:
    """A stand-in with the fields `seconds` and `speedup` read."""

    def __init__(self, reached, trained_seconds):
        self.reached, self.trained_seconds = reached, trained_seconds


def test_seconds_and_speedup_report_times_and_bounds():
    recipe, reference = _Timer({0.92: 40.0}, 100.0), _Timer({0.92: 300.0}, 900.0)
    assert bench.seconds(recipe, 0.92) == "40.0"
    assert bench.seconds(recipe, 0.93) == ">= 100.0 (not reached)"
    assert bench.speedup(recipe, reference, 0.92) == "7.50"
    assert bench.speedup(_Timer({0.93: 90.0}, 90.0), reference, 0.93).startswith(">= 10.00 ")
    assert bench.speedup(recipe, reference, 0.93).startswith("n/a")


def test_smoke_run_prints_every_figure(fashion_mnist_all, capsys):
    argv = ["--limit", "600", "--reference-epochs", "1", "--eval-every", "4", "--profile-steps", "2"]
    assert bench.main(argv) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if not line.startswith((" ", "=="))]
    figures = dict(line.split(": ", 1) for line in lines)
    assert all(re.fullmatch(r"[a-z0-9_]+", name) for name in figures), lines
    for target in (92, 93):
        for name in (f"recipe_seconds_to_{target}", f"reference_seconds_to_{target}", f"speedup_to_{target}"):
            assert name in figures, (name, lines)
    # 600 images, 1 epoch of the reference: far from 92%, so its time is a bound, not a figure.
    assert figures["reference_seconds_to_92"].startswith(">= ")
    assert 0.0 < float(figures["reference_best_test_accuracy"]) < 0.92
    assert float(figures["profile_recipe_train_images_per_second"]) > 0


def test_eval_every_must_be_positive(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--eval-every", "0"])
    assert "--eval-every" in capsys.readouterr().err
