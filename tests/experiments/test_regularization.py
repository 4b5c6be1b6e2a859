"""Smoke test: experiments.regularization end to end on a tiny subset."""

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from experiments import regularization
from kerasdl.harness.run import FINISHED
from tests.runs import tensor_tags


def test_runs_end_to_end_and_logs_curves(fashion_mnist_all, logdir):
    argv = ["--logdir", str(logdir), "--run-name", "smoke", "--train-size", "300", "--dev-size", "200",
            "--epochs", "2", "--width", "16", "--batch-size", "64"]  # fmt: skip
    assert regularization.main(argv) == 0
    run_dir = logdir / "regularization" / "smoke"
    for variant in regularization.VARIANTS:  # the harness's one tag scheme, plus the L2 probe
        assert {"error", "loss", "learning_rate"} <= tensor_tags(run_dir / variant / "train")
        assert {"error", "loss"} <= tensor_tags(run_dir / variant / "dev")
        assert (
            len(EventAccumulator(str(run_dir / variant / "gaps")).Reload().Tensors("gap")) == 2
        )  # per epoch
        assert "weights/squared_norm" in tensor_tags(run_dir / variant)
    assert "summary" in tensor_tags(run_dir / "summary")
    results = json.loads((run_dir / "results.json").read_text())
    assert results["schema"] == "kerasdl.results/1" and results["config"]["epochs"] == 2
    variants = results["details"]["variants"]
    assert set(variants) == set(regularization.VARIANTS)
    for variant, figures in variants.items():
        assert set(figures) == {"train_error", "dev_error", "gap", "max_gap"}
        assert 0 <= figures["dev_error"] <= 1
        assert figures["gap"] == pytest.approx(figures["dev_error"] - figures["train_error"])
        gaps = [value for _, value in results["curves"][f"{variant}/gaps"]["gap"]]
        assert figures["max_gap"] == max(gaps) and len(gaps) == 2  # over every epoch
        assert results["metrics"][f"{variant}/dev_error"] == figures["dev_error"]
    assert (run_dir / FINISHED).exists()
    assert all((run_dir / "backup" / variant).is_dir() for variant in regularization.VARIANTS)


def test_resume_keeps_the_finished_variants(fashion_mnist_all, logdir, monkeypatch):
    argv = ["--logdir", str(logdir), "--run-name", "interrupted", "--train-size", "200", "--dev-size", "100",
            "--epochs", "1", "--width", "8", "--variants", "none,l2"]  # fmt: skip
    build_model = regularization.build_model

    def stop_before_l2(variant, *args):
        if variant == "l2":
            raise KeyboardInterrupt  # as if the process had been stopped there
        return build_model(variant, *args)

    with monkeypatch.context() as patch:
        patch.setattr(regularization, "build_model", stop_before_l2)
        with pytest.raises(KeyboardInterrupt):
            regularization.main(argv)
    run_dir = logdir / "regularization" / "interrupted"
    none = json.loads((run_dir / "phases" / "variant" / "none.json").read_text())
    assert none["state"] == "done" and not (run_dir / "results.json").exists()

    assert regularization.main([*argv, "--resume"]) == 0
    assert json.loads((run_dir / "phases" / "variant" / "none.json").read_text()) == none  # not trained again
    variants = json.loads((run_dir / "results.json").read_text())["details"]["variants"]
    assert set(variants) == {"none", "l2"} and variants["none"] == none["result"]
    assert "error" in tensor_tags(run_dir / "l2" / "dev")
    assert [p.name for p in (logdir / "regularization").iterdir()] == ["interrupted"]


def test_bad_variant_is_one_clear_line(logdir, capsys):
    with pytest.raises(SystemExit) as exit_info:
        regularization.main(["--logdir", str(logdir), "--variants", "l3"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: --variants must be")
    assert not (logdir / "regularization").exists()
