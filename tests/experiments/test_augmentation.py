"""Smoke test: experiments.augmentation end to end on a tiny subset, in a temporary logdir."""

import json
import pathlib

import pytest

from experiments import augmentation
from kerasdl.harness.results import SCHEMA
from pipelines.datasets import read_augmented
from tests.events import tag_steps
from tests.runs import run_experiment, run_results, stopped_by_request, tensor_tags

ROOT = pathlib.Path(__file__).resolve().parents[2]

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


def test_runs_end_to_end_and_logs_the_comparison(fashion_mnist_all, logdir):
    assert augmentation.main(["--logdir", str(logdir), "--run-name", "smoke", *TINY]) == 0
    run_dir = logdir / "augmentation" / "smoke"
    assert {"augmentation/examples", "multicrop/ten_crops"} <= tensor_tags(run_dir / "examples")
    methods = ["baseline", "augmentation", "multicrop", "ensemble"]
    for method in methods:  # the HParams table: one session per method
        assert "_hparams_/session_start_info" in tensor_tags(run_dir / method), method
    assert "summary" in tensor_tags(run_dir / "summary")

    results = run_results(run_dir)
    assert results["schema"] == SCHEMA and (results["experiment"], results["run"]) == (
        "augmentation",
        "smoke",
    )
    networks = ("baseline", "augmented_seed0", "augmented_seed1")
    for network in networks:  # one writer: every network's curves, one point per epoch
        for split in ("train", "dev"):
            assert [step for step, _ in results["curves"][f"{network}/{split}"]["error"]] == [1], network
            assert "error" in tensor_tags(run_dir / network / split)
        assert [step for step, _ in results["curves"][f"{network}/gaps"]["gap"]] == [1]
    rows = {row["method"]: row for row in results["details"]["rows"]}
    assert list(rows) == methods
    assert all(0 <= row["test_accuracy"] <= 1 for row in rows.values())
    assert rows["baseline"]["vs_baseline"] == 0.0
    assert rows["ensemble"]["parameters"] == 2 * rows["baseline"]["parameters"]
    metrics = results["metrics"]
    assert metrics["multicrop/test_accuracy"] == rows["multicrop"]["test_accuracy"]
    assert {"multicrop/gain", "multicrop/p_value", "ensemble/gain", "ensemble/gain_over_best"} <= set(metrics)
    details = results["details"]
    assert details["multicrop"]["crops"] == 10 and details["multicrop"]["examples"] == 128
    assert len(details["ensemble"]["members"]) == 2
    assert "ops" in details["augmenter"]
    summary = (run_dir / "summary.md").read_text()
    assert "| multicrop |" in summary and "right -> wrong" in summary


def run_stopped_at(logdir, point: str, *flags) -> None:
    """`experiments.augmentation` in a subprocess that kills itself at `point` (`kerasdl.harness.faults`)."""
    result = run_experiment("augmentation", logdir, *flags, stop=f"{point}:SIGKILL")
    assert stopped_by_request(result, "SIGKILL"), result.stderr[-3000:]


def test_offline_copies_are_reused_only_through_their_phase(fashion_mnist_all, logdir, monkeypatch):
    """The augmented copies are a phase: a resume under the same settings reads them back, a forced change
    of the augmentation writes them again (the configuration's fingerprint changed)."""
    flags = ["--run-name", "disk", *TINY, "--members", "1", "--offline-copies", "1"]
    run_dir = logdir / "augmentation" / "disk"
    copies, record = run_dir / augmentation.AUGMENTED_COPIES, run_dir / "phases" / "augmented_copies.json"
    run_stopped_at(logdir, "end:augmented_copies", *flags)
    first = copies.read_bytes()
    assert json.loads(record.read_text())["result"] == {"file": copies.name, "images": 256}

    changed = [*flags, "--augment", "crop=0,flip=1", "--resume", "--force"]
    run_stopped_at(logdir, "start:train/baseline", *changed)
    assert copies.read_bytes() != first  # mirrored every time: other copies, written again
    examples = len(tag_steps(run_dir / "examples", "augmentation/examples"))

    def no_rewrite(*args, **kwargs):
        raise AssertionError("the copies of a finished phase were written again")

    monkeypatch.setattr(augmentation, "write_augmented", no_rewrite)
    assert augmentation.main(["--logdir", str(logdir), *changed]) == 0
    assert len(read_augmented(copies)) == 256 and (run_dir / "FINISHED").exists()
    assert len(tag_steps(run_dir / "examples", "augmentation/examples")) == examples  # logged once per config
    assert [p.name for p in (logdir / "augmentation").iterdir()] == ["disk"]


def test_bad_augmentation_is_one_clear_error(fashion_mnist_all, logdir, capsys):
    with pytest.raises(SystemExit) as exit_info:
        augmentation.main(["--logdir", str(logdir), "--augment", "zoom=2", *TINY])
    assert exit_info.value.code == 2
    assert "zoom" in capsys.readouterr().err
    assert not (logdir / "augmentation").exists()  # nothing was started
