"""experiments.distributed: the main job's CNN trains in mixed precision without NaN, end to end.

One tiny run in a subprocess (a fresh process, as a user runs it; the
global dtype policy stays out of this one): 512 training images, 2 epochs,
`--mixed-precision` (mixed_bfloat16 on this CPU). The multi-worker paths are
tested in tests/kerasdl/training/test_multiworker.py.
"""

import math
import os
import subprocess
import sys

import pytest

from kerasdl.harness.results import read_results

TINY = ["--limit", "512", "--test-limit", "500", "--train-eval-size", "256", "--epochs", "2", "--width", "16"]


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory, fashion_mnist_all):
    logdir = tmp_path_factory.mktemp("distributed")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    for variable in ("KERASDL_STOP_AT", "TF_CONFIG"):
        env.pop(variable, None)
    command = [
        sys.executable,
        "-m",
        "experiments.distributed",
        "--logdir",
        str(logdir),
        "--run-name",
        "mixed",
        "--mixed-precision",
        *TINY,
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result, logdir / "distributed" / "mixed"


def test_mixed_precision_trains_the_main_jobs_model_without_nan(mixed_run):
    result, run_dir = mixed_run
    assert "Mixed precision: Keras dtype policy mixed_bfloat16." in result.stdout
    assert "| dtype policy | mixed_bfloat16 |" in result.stdout
    results = read_results(run_dir)
    curves = results["curves"]
    for split in ("train", "test"):
        losses = [loss for _, loss in curves[split]["loss"]]
        assert len(losses) == 2 and all(math.isfinite(loss) for loss in losses)
    # It learned: 10 classes, so an untrained network errs on about 90% of the test images.
    assert results["metrics"]["test_error"] < 0.6
    assert curves["train"]["loss"][1][1] < curves["train"]["loss"][0][1]
    assert results["metrics"]["replicas"] == 1 and results["metrics"]["images_per_second"] > 0
    assert (run_dir / "FINISHED").exists()
