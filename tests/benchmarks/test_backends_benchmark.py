"""benchmarks/backends.py runs end to end on tiny settings and prints `name: value` lines with finite,
positive figures: in this process's backend (every venv), and as the JAX-vs-TensorFlow comparison in the
JAX run of `make test-backends`, where both venvs exist (`make test` builds .venv first)."""

from __future__ import annotations

import math
from pathlib import Path

import keras
import pytest

from benchmarks import backends

TINY = ["--width", "16", "--batch-size", "8", "--calls", "1", "--repeats", "2", "--update-calls", "1"]
ROOT = Path(__file__).resolve().parents[2]
PYTHONS = {"tensorflow": ROOT / ".venv" / "bin" / "python", "jax": ROOT / ".venv-jax" / "bin" / "python"}


def figures(output: str) -> dict[str, float]:
    lines = [line for line in output.splitlines() if ": " in line and not line.startswith(("#", " "))]
    return {name: float(value) for name, value in (line.split(": ", 1) for line in lines)}


def test_measures_this_process_backend(capsys):
    backend = keras.backend.backend()
    assert backends.main(["--backend", backend, "--adam", *TINY]) == 0
    printed = figures(capsys.readouterr().out)
    assert f"train_step_ms_{backend}" in printed and f"adam_update_ratio_{backend}" in printed, printed
    assert all(math.isfinite(value) and value > 0 for value in printed.values()), printed


@pytest.mark.skipif(
    keras.backend.backend() != "jax" or not all(python.exists() for python in PYTHONS.values()),
    reason="runs once, in the JAX run of make test-backends, with .venv (make test) and .venv-jax",
)
def test_compares_jax_with_tensorflow_in_their_venvs(capsys):
    argv = ["--rounds", "1", "--tensorflow-python", str(PYTHONS["tensorflow"]),
            "--jax-python", str(PYTHONS["jax"]), *TINY]  # fmt: skip
    assert backends.main(argv) == 0
    printed = figures(capsys.readouterr().out)
    for name in ("train_step_ms_tensorflow", "train_step_ms_jax", "train_step_ratio_jax_vs_tensorflow",
                 "train_step_ratio_jax_vs_tensorflow_xla", "adam_update_ratio_jax"):  # fmt: skip
        assert name in printed, (name, sorted(printed))
    assert all(math.isfinite(value) and value > 0 for value in printed.values()), printed
