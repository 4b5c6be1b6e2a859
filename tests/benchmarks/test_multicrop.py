"""benchmarks/multicrop.py: flags pass through to the experiment; --logdir and --run-name keep the run."""

from __future__ import annotations

import re

from benchmarks import multicrop
from tests.experiments.test_augmentation import TINY


def test_prints_its_figures_and_keeps_the_named_run(fashion_mnist_all, tmp_path, capsys):
    assert multicrop.main(["--logdir", str(tmp_path), "--run-name", "tta", *TINY]) == 0
    lines = re.findall(r"^([a-z0-9_]+): ([-+0-9.e]+)$", capsys.readouterr().out, flags=re.MULTILINE)
    printed = {name: float(value) for name, value in lines}  # the figures, after the experiment's own output
    for name in (
        "multicrop_time_ratio",
        "multicrop_accuracy_gain",
        "ensemble_accuracy_gain",
        "augmentation_accuracy_gain",
    ):
        assert name in printed, sorted(printed)
    assert printed["multicrop_crops"] == 10 and printed["ensemble_members"] == 2
    assert (tmp_path / "augmentation" / "tta" / "results.json").is_file()
