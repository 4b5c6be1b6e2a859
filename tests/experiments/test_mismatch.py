import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from experiments import mismatch

QUICK = ["--limit", "10000", "--epochs", "2", "--width", "8", "--batch-size", "64", "--train-eval-size", "0"]


def run_job(logdir, *extra):
    assert mismatch.main(["--logdir", str(logdir), *QUICK, *extra]) == 0
    (run_dir,) = [p for p in (logdir / "mismatch").iterdir() if p.is_dir() and p.name == extra[-1]]
    return run_dir, json.loads((run_dir / "results.json").read_text())


def test_run_logs_the_decomposition_for_tensorboard(fashion_mnist_all, logdir):
    run_dir, results = run_job(logdir, "--run-name", "smoke")
    for split in ("train", "train_dev", "dev", "test"):
        assert "error" in EventAccumulator(str(run_dir / split)).Reload().Tags()["tensors"]
    decomposition = EventAccumulator(str(run_dir / "decomposition")).Reload()
    expected = {
        f"decomposition/{g}" for g in ("avoidable_bias", "variance", "data_mismatch", "dev_overfitting")
    }
    assert expected <= set(decomposition.Tags()["tensors"])
    assert len(decomposition.Tensors("decomposition/data_mismatch")) == 2  # one point per epoch
    assert "summary" in EventAccumulator(str(run_dir / "summary")).Reload().Tags()["tensors"]
    assert (
        "examples/source_B_phone_camera"
        in EventAccumulator(str(run_dir / "examples")).Reload().Tags()["tensors"]
    )
    focuses = {"avoidable_bias", "variance", "data_mismatch", "dev_overfitting", "none"}
    assert results["decomposition"]["recommendation"]["focus"] in focuses
    assert json.loads((run_dir / "config.json").read_text())["config"]["epochs"] == 2


def test_data_mismatch_rises_with_synthesis_strength(fashion_mnist_all, logdir):
    """A real, seeded training run per strength.

    B identical to A gives no mismatch, a strong phone camera a large one.
    """
    mismatch_at = {}
    for strength in (0.0, 1.0):
        _, results = run_job(logdir, "--synthesis-strength", str(strength), "--run-name", f"s{strength}")
        mismatch_at[strength] = results["decomposition"]["data_mismatch"]
    # Measured: about 0.00 at strength 0 and about 0.2 at strength 1 on this subset; dev has ~500 examples,
    # so one standard error of a dev-minus-train-dev difference is about 0.02.
    assert abs(mismatch_at[0.0]) < 0.06
    assert mismatch_at[1.0] > mismatch_at[0.0] + 0.08


def test_missing_source_prints_one_clear_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        mismatch.main(["--logdir", str(tmp_path), "--data-dir", str(tmp_path / "absent")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Fashion-MNIST is not on this machine") and "apt-get install" in err
    assert "Traceback" not in err
    assert not (tmp_path / "mismatch").exists()  # no empty run directory is left behind


def test_bad_flag_value_is_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        mismatch.main(["--logdir", str(tmp_path), "--synthesis-strength", "1.5"])
    assert "--synthesis-strength must be in [0, 1]; received 1.5" in capsys.readouterr().err
