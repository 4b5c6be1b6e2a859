"""benchmarks/cells.py runs end to end on tiny sizes and prints finite, positive `name: value` figures."""

from __future__ import annotations

import math

from benchmarks import cells

TINY = [
    "--units",
    "4",
    "--steps",
    "3",
    "--features",
    "2",
    "--batch-size",
    "4",
    "--calls",
    "1",
    "--repeats",
    "2",
]


def test_prints_the_lstm_ratios(capsys):
    assert cells.main([*TINY, "--cells", "lstm"]) == 0
    printed = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines() if ": " in line)
    figures = {name: float(value) for name, value in printed.items()}
    for suffix in ("jit_off", "jit_on"):
        for name in ("ratio", "ms_kerasdl", "ms_keras"):
            assert f"lstm_cell_train_step_{name}_{suffix}" in figures, sorted(figures)
    assert all(math.isfinite(value) and value > 0 for value in figures.values()), figures


def test_every_pair_builds_the_same_shapes():
    # Only the recurrent layer differs: the two models of a pair have the same weight shapes.
    for name, (ours, theirs) in cells.PAIRS.items():
        shapes = [[tuple(w.shape) for w in cells.build(make(3), 4, 2).weights] for make in (ours, theirs)]
        assert shapes[0] == shapes[1], name
