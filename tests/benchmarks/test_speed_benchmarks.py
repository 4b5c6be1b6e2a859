"""The speed benchmarks run end to end on tiny settings and print `name: value` lines with finite,
positive figures (their sizes, not their timings, are what these tests shrink)."""

from __future__ import annotations

import math

import pytest

from benchmarks import layers, optimizers, training_loop


def figures(output: str) -> dict[str, float]:
    lines = [line for line in output.splitlines() if line and not line.startswith(" ")]
    parsed = dict(line.split(": ", 1) for line in lines)
    return {name: float(value) for name, value in parsed.items()}


@pytest.mark.parametrize(
    "module, argv, names",
    [
        (layers, ["--width", "16", "--batch-size", "8", "--calls", "1", "--repeats", "3"],
         ["layers_train_step_ratio_jit_off", "layers_train_step_ratio_jit_on"]),
        (optimizers, ["--calls", "1", "--repeats", "3", "--optimizers", "adam"],
         ["adam_update_ratio_jit_off", "adam_update_ratio_jit_on"]),
        (training_loop, ["--images", "256", "--batch-size", "64", "--rounds", "1", "--epochs", "1"],
         ["custom_loop_vs_fit_epoch_time_ratio_jit_off", "custom_loop_vs_fit_epoch_cpu_time_ratio_jit_on"]),
    ],
    ids=["layers", "optimizers", "training_loop"],
)  # fmt: skip
def test_benchmark_prints_its_ratios(module, argv, names, capsys, request):
    if module is training_loop:
        request.getfixturevalue("fashion_mnist_all")  # it reads Fashion-MNIST
    assert module.main(argv) == 0
    printed = figures(capsys.readouterr().out)
    for name in names:
        assert name in printed, (name, sorted(printed))
    assert all(math.isfinite(value) and value > 0 for value in printed.values()), printed
