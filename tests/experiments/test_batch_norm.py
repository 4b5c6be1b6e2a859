"""Smoke test: experiments.batch_norm end to end on a tiny subset."""

import json

import pytest

from experiments import batch_norm
from kerasdl.nn.layers import BatchNorm, Dense
from tests.runs import tensor_tags


def test_runs_both_variants_and_logs_overlaid_curves(fashion_mnist_all, logdir):
    argv = ["--logdir", str(logdir), "--run-name", "smoke", "--train-size", "300", "--dev-size", "200",
            "--epochs", "2", "--learning-rates", "0.05", "--depth", "2", "--width", "16"]  # fmt: skip
    assert batch_norm.main(argv) == 0
    run_dir = logdir / "batch_norm" / "smoke"
    for name in ("plain_lr0.05", "batch_norm_lr0.05"):  # the harness's one tag scheme
        assert {"loss", "error"} <= tensor_tags(run_dir / name / "train")
        assert {"loss", "error"} <= tensor_tags(run_dir / name / "dev")
        assert "gap" in tensor_tags(run_dir / name / "gaps")
    variants = json.loads((run_dir / "results.json").read_text())["details"]["variants"]
    assert {r["variant"] for r in variants.values()} == set(batch_norm.VARIANTS)
    assert not any(r["diverged"] for r in variants.values())
    assert all(
        len(r["train_loss"]) == 2 and r["final_train_loss"] == r["train_loss"][-1] for r in variants.values()
    )
    assert "summary" in tensor_tags(run_dir / "summary")


def test_a_nan_loss_is_reported_as_divergence(fashion_mnist_all, logdir):
    argv = ["--logdir", str(logdir), "--run-name", "nan", "--train-size", "300", "--dev-size", "200",
            "--epochs", "2", "--learning-rates", "1000", "--depth", "2", "--width", "16"]  # fmt: skip
    assert batch_norm.main(argv) == 0
    results = json.loads((logdir / "batch_norm" / "nan" / "results.json").read_text())
    plain = results["details"]["variants"]["plain_lr1000"]
    assert plain["diverged"] and plain["diverged_in_epoch"] == 1 and plain["final_dev_error"] is None
    assert results["metrics"]["plain_lr1000/final_dev_error"] is None
    assert (
        "| plain_lr1000 | nan | NaN in epoch 1 | - |"
        in (logdir / "batch_norm" / "nan" / "summary.md").read_text()
    )


class TestDivergedInEpoch:
    """Divergence is read from the whole history, so a resumed run is not mistaken for a diverged one."""

    def history(self, losses):
        return {"epoch": list(range(1, len(losses) + 1)), "train": {"loss": losses}}

    def test_a_complete_finite_history_did_not_diverge(self):
        assert batch_norm.diverged_in_epoch(self.history([2.0, 1.0, 0.5]), epochs=3) is None

    def test_the_first_non_finite_loss_names_the_epoch(self):
        assert batch_norm.diverged_in_epoch(self.history([2.0, float("nan")]), epochs=3) == 2
        assert batch_norm.diverged_in_epoch(self.history([2.0, 1.0, float("inf")]), epochs=3) == 3

    def test_a_history_stopped_early_diverged_in_its_last_epoch(self):
        assert batch_norm.diverged_in_epoch(self.history([2.0, 1.0]), epochs=3) == 2
        assert batch_norm.diverged_in_epoch(self.history([]), epochs=3) == 1


def test_runs_under_mirrored_strategy_with_backups(fashion_mnist_all, logdir):
    """The tf.distribute path and the resumable backups work together (MirroredVariable step counter)."""
    argv = ["--logdir", str(logdir), "--run-name", "mirrored", "--strategy", "mirrored", "--train-size",
            "300", "--dev-size", "200", "--epochs", "1", "--learning-rates", "0.05", "--depth", "2",
            "--width", "16"]  # fmt: skip
    assert batch_norm.main(argv) == 0
    assert (logdir / "batch_norm" / "mirrored" / "results.json").exists()


def test_batch_norm_variant_drops_the_redundant_bias():
    model = batch_norm.build_model("batch_norm", (28, 28, 1), 10, depth=3, width=8, momentum=0.9)
    hidden = [layer for layer in model.layers if isinstance(layer, Dense)][:-1]
    assert len(hidden) == 3 and not any(layer.use_bias for layer in hidden)
    assert sum(isinstance(layer, BatchNorm) for layer in model.layers) == 3
    plain = batch_norm.build_model("plain", (28, 28, 1), 10, depth=3, width=8, momentum=0.9)
    assert not any(isinstance(layer, BatchNorm) for layer in plain.layers)


def test_bad_learning_rates_are_one_clear_line(logdir, capsys):
    with pytest.raises(SystemExit) as exit_info:
        batch_norm.main(["--logdir", str(logdir), "--learning-rates", "fast"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: --learning-rates must be")
