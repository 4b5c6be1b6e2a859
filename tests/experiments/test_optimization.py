"""Smoke test: experiments.optimization end to end on a tiny subset."""

import json

import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from experiments import optimization
from tests.runs import tensor_tags


def test_runs_every_variant_and_logs_overlaid_curves(fashion_mnist_all, logdir):
    argv = ["--logdir", str(logdir), "--run-name", "smoke", "--train-size", "300", "--dev-size", "200",
            "--epochs", "2", "--batch-size", "100",
            "--decay-rate", "1.0", "--decay-initial-rate", "0.004"]  # fmt: skip
    assert optimization.main(argv) == 0
    run_dir = logdir / "optimization" / "smoke"
    for variant in optimization.VARIANTS:  # the harness's one tag scheme
        assert {"loss", "error", "learning_rate"} <= tensor_tags(run_dir / variant / "train")
        assert {"loss", "error"} <= tensor_tags(run_dir / variant / "dev")
    results = json.loads((run_dir / "results.json").read_text())
    variants = results["details"]["variants"]
    assert set(variants) == set(optimization.VARIANTS)
    assert variants["batch_gd"]["steps_per_epoch"] == 1 < variants["adam"]["steps_per_epoch"]
    assert all(len(r["train_loss"]) == len(r["dev_error"]) == 2 for r in variants.values())
    for variant, figures in variants.items():  # the table's J is the curve's, measured on the training set
        assert [value for _, value in results["curves"][f"{variant}/train"]["loss"]] == figures["train_loss"]
        assert results["metrics"][f"{variant}/final_dev_error"] == figures["dev_error"][-1]
    assert "summary" in tensor_tags(run_dir / "summary")
    # Adam with decay: logged after epochs 1 and 2, the rate of the next step, alpha0 / (1 + epoch_num).
    logged = EventAccumulator(str(run_dir / "adam_decay" / "train")).Reload().Tensors("learning_rate")
    rates = [float(tf.make_ndarray(event.tensor_proto)) for event in logged]
    assert rates == pytest.approx([0.004 / 3, 0.004 / 4], rel=1e-5)


def test_bad_variant_is_one_clear_line(logdir, capsys):
    with pytest.raises(SystemExit) as exit_info:
        optimization.main(["--logdir", str(logdir), "--variants", "sgd"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: --variants must be")
