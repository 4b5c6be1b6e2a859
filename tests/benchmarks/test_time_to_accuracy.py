"""benchmarks/time_to_accuracy.py: recipes are chosen on the validation split alone (the test split is
never loaded), the choice follows the rule, and the measuring mode prints every figure over seeds."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest

from benchmarks import time_to_accuracy as bench
from kerasdl.nn.recipes import TUNED_FOR_TARGET, FastRecipe
from pipelines.sources import fashion_mnist

TINY = FastRecipe(filters=(4, 8), hidden_units=8, epochs=1, batch_size=64)


def only_the_training_split(split):
    if split != "train":
        raise AssertionError(f"the benchmark loaded the {split!r} split while choosing")
    return fashion_mnist("train")


def test_each_tuned_recipe_is_one_of_its_targets_candidates():
    """kerasdl.nn.recipes and the candidate list each write the base recipes out; the chosen recipe must
    stay one the chooser scored, or the README's validation figures describe another recipe."""
    assert set(TUNED_FOR_TARGET) == set(bench.CANDIDATES)
    for target, recipe in TUNED_FOR_TARGET.items():
        assert recipe in bench.CANDIDATES[target], f"recipe_for({target}) is not among its candidates"


def test_choosing_never_sees_the_test_split(fashion_mnist_all, monkeypatch, capsys):
    monkeypatch.setattr(bench, "fashion_mnist", only_the_training_split)
    monkeypatch.setattr(bench, "CANDIDATES", {0.92: [TINY, dataclasses.replace(TINY, epochs=2)]})
    scored = []
    real_train_recipe = bench.train_recipe

    def spy(recipe, train, scored_on, seed, curve=False):
        scored.append((set(train.ids), set(scored_on.ids)))
        return real_train_recipe(recipe, train, scored_on, seed, curve)

    monkeypatch.setattr(bench, "train_recipe", spy)
    assert bench.main(["--choose", "--limit", "800", "--targets", "0.92", "--seeds", "1"]) == 0
    fit, validation = bench.validation_split(bench.first(fashion_mnist("train"), 800))
    assert len(scored) == 2 and 40 < len(validation) < 130
    for trained_on, scored_on in scored:
        assert scored_on == set(validation.ids) and trained_on == set(fit.ids)
        assert not trained_on & scored_on
    figures = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines() if ": " in line)
    assert 0 < float(figures["candidate_92_0_validation_accuracy"]) <= 1
    assert figures["chosen_92"].split()[0] in ("0", "1")


def test_the_chooser_takes_the_most_accurate_candidate_within_the_goal(monkeypatch):
    # Scored (accuracy, seconds on the fit split): the most accurate takes too long once scaled.
    results = {1: (0.91, 20.0), 2: (0.925, 26.0), 3: (0.95, 29.0)}
    monkeypatch.setattr(
        bench,
        "train_recipe",
        lambda recipe, fit, scored_on, seed, curve=False: bench.Trial(*results[recipe.epochs], []),
    )
    fit = validation = type("Part", (), {"__len__": lambda self: 90})()
    candidates = {0.92: [FastRecipe(epochs=e) for e in results]}
    chosen, rows = bench.choose(candidates, fit, validation, seeds=[0, 1], full_size=100)[0.92]
    assert chosen == FastRecipe(epochs=2)  # 29 s on 90 images is 32.2 s on 100: over the 30 s goal
    assert [round(row["seconds"], 1) for row in rows] == [22.2, 28.9, 32.2]
    results[2] = (0.925, 28.0)  # now 31.1 s: nothing but the least accurate fits
    assert bench.choose(candidates, fit, validation, [0], 100)[0.92][0] == FastRecipe(epochs=1)


def test_seconds_to_a_target_reads_each_curve_and_says_when_it_is_a_bound():
    reached = bench.Trial(0.93, 30.0, [(10.0, 0.90), (20.0, 0.925), (30.0, 0.93)])
    never = bench.Trial(0.91, 40.0, [(20.0, 0.90), (40.0, 0.91)])
    assert bench.seconds_to([reached], 0.92) == (20.0, True)
    assert bench.seconds_to([reached, never], 0.92) == (30.0, False)  # (20 + 40) / 2: a lower bound


def test_measuring_prints_every_figure_over_seeds(fashion_mnist_all, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(bench, "recipe_for", lambda target: TINY)
    argv = ["--limit", "600", "--targets", "0.92", "--seeds", "2", "--reference-epochs", "1",
            "--out", str(tmp_path)]  # fmt: skip
    assert bench.main(argv) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if not line.startswith(" ")]
    figures = dict(line.split(": ", 1) for line in lines)
    assert all(re.fullmatch(r"[a-z0-9_]+", name) for name in figures), lines
    for side in ("recipe_92", "reference"):
        assert 0 < float(figures[f"{side}_mean_final_test_accuracy"]) < 0.92
        assert float(figures[f"{side}_std"]) >= 0 and float(figures[f"{side}_mean_train_seconds"]) > 0
        assert figures[f"{side}_seeds"] == "2"
    # 600 images, 1 epoch of the reference: far from 92%, so its time is a bound.
    assert figures["speedup_92"].startswith(">= ") and figures["goal_92"].startswith("not met")
    assert "lower bound" in figures["reference_seconds_to_92"]
    assert list((tmp_path / "reference" / "seed1").glob("events.out.tfevents.*"))
    curves = json.loads((tmp_path / "curves.json").read_text())
    assert len(curves["recipe_92"]) == 2 and len(curves["reference"][0]["curve"]) == 1
    assert np.isclose(curves["reference"][1]["accuracy"], curves["reference"][1]["curve"][-1][1])


@pytest.mark.parametrize("argv", [["--seeds", "0"], ["--targets", "0.95"]])
def test_bad_flags_name_the_value(argv, capsys):
    with pytest.raises(SystemExit) as raised:
        bench.main(argv)
    assert argv[1] in (capsys.readouterr().err + str(raised.value))
