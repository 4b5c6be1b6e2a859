"""Smoke test: experiments.regularization end to end on a tiny subset."""

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from experiments import regularization


def tags(path):
    return set(EventAccumulator(str(path)).Reload().Tags()["tensors"])


def test_runs_end_to_end_and_logs_curves(fashion_mnist_all, logdir):
    argv = ["--logdir", str(logdir), "--run-name", "smoke", "--train-size", "300", "--dev-size", "200",
            "--epochs", "2", "--width", "16", "--batch-size", "64"]  # fmt: skip
    assert regularization.main(argv) == 0
    run_dir = logdir / "regularization" / "smoke"
    for variant in regularization.VARIANTS:
        for split in ("train", "dev"):
            assert {"error", "loss"} <= tags(run_dir / variant / split)
        assert {"gap", "learning_rate", "weights/squared_norm"} <= tags(run_dir / variant)
        assert len(EventAccumulator(str(run_dir / variant)).Reload().Tensors("gap")) == 2  # one per epoch
    assert "summary" in tags(run_dir / "summary")
    results = json.loads((run_dir / "results.json").read_text())
    assert set(results) == set(regularization.VARIANTS)
    assert all(0 <= r["dev_error"] <= 1 for r in results.values())
    assert json.loads((run_dir / "config.json").read_text())["config"]["epochs"] == 2


def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        regularization.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in (
        "--profile",
        "--variants",
        "--lambd",
        "--keep-prob",
        "--epochs",
        "--width",
        "--learning-rate",
    ):
        assert flag in out


def test_bad_variant_is_one_clear_line(logdir, capsys):
    with pytest.raises(SystemExit) as exit_info:
        regularization.main(["--logdir", str(logdir), "--variants", "l3"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: --variants must be")
    assert not (logdir / "regularization").exists()
