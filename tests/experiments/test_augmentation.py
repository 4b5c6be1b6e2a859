"""Smoke test: experiments.augmentation end to end on a tiny subset, in a temporary logdir."""

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from experiments import augmentation

TINY = [
    "--train-size",
    "256",
    "--dev-size",
    "64",
    "--test-size",
    "128",
    "--epochs",
    "1",
    "--members",
    "2",
    "--batch-size",
    "64",
    "--width",
    "8",
    "--examples",
    "2",
]


def _tensor_tags(path):
    return set(EventAccumulator(str(path)).Reload().Tags()["tensors"])


def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        augmentation.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in (
        "--profile",
        "--augment",
        "--crop-size",
        "--layout",
        "--aggregate",
        "--offline-copies",
        "--members",
        "--epochs",
        "--logdir",
        "--seed",
    ):
        assert flag in text
    assert "pca_color" in text and "python -m experiments.augmentation" in text


def test_runs_end_to_end_and_logs_the_comparison(fashion_mnist_all, logdir):
    assert augmentation.main(["--logdir", str(logdir), "--run-name", "smoke", *TINY]) == 0
    run_dir = logdir / "augmentation" / "smoke"
    assert {"augmentation/examples", "multicrop/ten_crops"} <= _tensor_tags(run_dir / "examples")
    for network in ("baseline", "augmented_seed0", "augmented_seed1"):
        assert "epoch_accuracy" in _tensor_tags(run_dir / network / "train")
        assert "epoch_accuracy" in _tensor_tags(run_dir / network / "validation")
    methods = ("baseline", "augmentation", "augmentation_plus_10-crop", "ensemble_of_2")
    for method in methods:
        expected = {"test/accuracy", "cost/train_seconds", "cost/predict_seconds", "cost/parameters"}
        assert expected <= _tensor_tags(run_dir / "results" / method)
    assert "ensemble/member_accuracy" in _tensor_tags(run_dir / "results" / "ensemble_members")
    assert "summary" in _tensor_tags(run_dir / "summary")

    results = json.loads((run_dir / "results.json").read_text())
    table = results["table"]
    assert set(table) == {"baseline", "augmentation", "augmentation + 10-crop", "ensemble of 2"}
    assert all(0 <= row["accuracy"] <= 1 for row in table.values())
    assert results["multicrop"]["crops"] == 10 and results["multicrop"]["examples"] == 128
    assert table["ensemble of 2"]["parameters"] == 2 * table["baseline"]["parameters"]
    assert len(results["ensemble"]["members"]) == 2
    summary = (run_dir / "summary.md").read_text()
    assert "| augmentation + 10-crop |" in summary and "right -> wrong" in summary


def test_bad_augmentation_is_one_clear_error(fashion_mnist_all, logdir, capsys):
    with pytest.raises(SystemExit) as exit_info:
        augmentation.main(["--logdir", str(logdir), "--augment", "zoom=2", *TINY])
    assert exit_info.value.code == 2
    assert "zoom" in capsys.readouterr().err
    assert not (logdir / "augmentation").exists()  # nothing was started
