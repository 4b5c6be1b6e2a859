"""Smoke test: experiments.regularization end to end on a tiny subset."""

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from experiments import regularization
from kerasdl.harness.run import FINISHED


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
    assert (run_dir / FINISHED).exists()
    assert all((run_dir / "backup" / variant).is_dir() for variant in regularization.VARIANTS)


def test_resume_skips_finished_variants(fashion_mnist_all, logdir, capsys):
    common = ["--logdir", str(logdir), "--run-name", "interrupted", "--train-size", "200",
              "--dev-size", "100",
              "--epochs", "1", "--width", "8"]  # fmt: skip
    assert regularization.main([*common, "--variants", "none"]) == 0
    run_dir = logdir / "regularization" / "interrupted"
    (run_dir / FINISHED).unlink()  # as if the process had been stopped before the other variants
    first = json.loads((run_dir / "results.json").read_text())["none"]
    assert regularization.main([*common, "--variants", "none,l2", "--resume"]) == 0
    assert "none: finished before the interruption, skipped" in capsys.readouterr().out
    results = json.loads((run_dir / "results.json").read_text())
    assert set(results) == {"none", "l2"} and results["none"] == first
    assert "error" in tags(run_dir / "l2" / "dev")
    assert not (logdir / "regularization" / "interrupted-2").exists()


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
