"""experiments.char_lm: clipping bounds the update; a tiny run writes its results and survives kills.

The end-to-end runs are real subprocesses on a few hundred fortunes with a
16-unit LSTM (seconds each). One is killed mid-epoch (SIGKILL: no backup of
the interrupted epoch) and again as sampling starts; resumed twice, it ends
with the curves, test loss and samples of an uninterrupted run.
"""

import json
import math
import os
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest

from experiments import char_lm
from kerasdl.harness.results import read_results
from kerasdl.harness.run import FINISHED
from tests.events import scalar_points, tag_events

EPOCHS = 2
TINY = ["--limit", "400", "--units", "16", "--layers", "1", "--embedding-size", "8", "--seq-length", "32"]
TINY += ["--batch-size", "16", "--steps-per-epoch", "4", "--epochs", str(EPOCHS)]
TINY += ["--train-eval-windows", "16", "--sample-length", "20", "--prompts", "|The "]
METRICS = {"validation_nats_per_char", "test_nats_per_char", "perplexity", "test_perplexity", "gradient_norm"}


def run_job(logdir, *flags, stop=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("KERASDL_STOP_AT", None)
    if stop is not None:
        env["KERASDL_STOP_AT"] = stop
    command = [sys.executable, "-m", "experiments.char_lm", "--logdir", str(logdir), *TINY, *flags]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, fortunes_all):
    logdir = tmp_path_factory.mktemp("straight")
    result = run_job(logdir, "--run-name", "straight")
    assert result.returncode == 0, result.stderr[-3000:]
    return logdir / "char_lm" / "straight"


def test_a_tiny_run_writes_the_metrics_curves_and_samples(uninterrupted):
    results = read_results(uninterrupted)
    metrics = results["metrics"]
    assert METRICS <= set(metrics)
    assert 0 < metrics["validation_nats_per_char"] < math.log(metrics["vocabulary_size"]) + 0.5
    assert metrics["perplexity"] == pytest.approx(math.exp(metrics["validation_nats_per_char"]))
    assert metrics["test_perplexity"] == pytest.approx(math.exp(metrics["test_nats_per_char"]))
    curves = results["curves"]
    for split in ("train", "validation"):
        assert [step for step, _ in curves[f"lstm/{split}"]["loss"]] == [1, 2]
        for (step, loss), (_, perplexity) in zip(
            curves[f"lstm/{split}"]["loss"], curves[f"lstm/{split}"]["perplexity"], strict=True
        ):
            assert perplexity == pytest.approx(math.exp(loss)), step
    assert [step for step, _ in curves["lstm/train"]["gradient_norm"]] == [1, 2]
    assert curves["lstm/test"]["loss"] == [[EPOCHS, metrics["test_nats_per_char"]]]
    assert curves["lstm/validation"]["loss"][-1][1] == metrics["validation_nats_per_char"]
    # TensorBoard: the curves as scalars, the samples as text
    assert [step for step, _ in scalar_points(uninterrupted / "lstm" / "validation", "perplexity")] == [1, 2]
    assert len(tag_events(uninterrupted / "samples", "samples")) == 1
    samples = results["details"]["samples"]
    assert set(samples) == {"", "The "} and set(samples["The "]) == {"0.5", "1.0"}
    assert all(text.startswith("The ") for text in samples["The "].values())
    assert "| validation |" in (uninterrupted / "summary.md").read_text()


def test_killed_mid_epoch_and_at_sampling_then_resumed_is_an_uninterrupted_run(uninterrupted, tmp_path):
    run_dir = tmp_path / "char_lm" / "r"
    killed = run_job(tmp_path, "--run-name", "r", stop="batch:3:SIGKILL")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    killed = run_job(tmp_path, "--run-name", "r", "--resume", stop="start:samples:SIGKILL")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    test_phase = json.loads((run_dir / "phases" / "test.json").read_text())
    assert test_phase["state"] == "done" and not (run_dir / FINISHED).exists()

    resumed = run_job(tmp_path, "--run-name", "r", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((run_dir / "phases" / "test.json").read_text()) == test_phase  # not evaluated again
    assert [p.name for p in (tmp_path / "char_lm").iterdir()] == ["r"]  # one run, resumed twice
    results, reference = read_results(run_dir), read_results(uninterrupted)
    assert results["curves"] == reference["curves"]
    assert results["metrics"]["test_nats_per_char"] == reference["metrics"]["test_nats_per_char"]
    assert results["details"]["samples"] == reference["details"]["samples"]


# -- clipping: the measured effect on one step of plain gradient descent -------------------------------

VOCABULARY = 30
LEARNING_RATE = 0.5


def one_step(*flags) -> tuple[np.ndarray, dict]:
    """(the update of every weight, flattened; the step's logs) of one SGD step on fixed data."""
    args = char_lm.build_parser().parse_args(
        ["--units", "8", "--layers", "2", "--embedding-size", "4", "--optimizer", "sgd"]
        + ["--learning-rate", str(LEARNING_RATE), *flags]
    )
    keras.utils.set_random_seed(0)  # the same initial weights for every call
    model = char_lm.compile_model(char_lm.build_model(args, VOCABULARY), args, steps_per_epoch=1)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, VOCABULARY, (8, 12)), rng.integers(0, VOCABULARY, (8, 12))
    before = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    logs = model.train_on_batch(x.astype("int32"), y.astype("int32"), return_dict=True)
    after = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    updates = [a - b for a, b in zip(after, before, strict=True)]
    return np.concatenate([u.ravel() for u in updates]), logs


def test_clipping_by_norm_bounds_the_update_to_learning_rate_times_the_norm():
    free, free_logs = one_step("--clip-norm", "0")  # 0: no clipping
    clipped, clipped_logs = one_step("--clip-norm", "0.01")
    gradient_norm = free_logs["gradient_norm"]
    # The embedding's gradient is sparse (tf.IndexedSlices): the global norm, the logged one and the one
    # Keras clips by, counts a character that occurs twice in the batch as two slices, while the update adds
    # them up. Here that moves the norm by less than 0.1%.
    sparse_gap = 1e-3
    # Without clipping the step is -alpha g: its norm is alpha ||g||, the norm the model logs.
    assert np.linalg.norm(free) == pytest.approx(LEARNING_RATE * gradient_norm, rel=sparse_gap)
    assert gradient_norm > 10 * 0.01  # so clipping at 0.01 has something to clip
    # With clipping: the same gradient (logged before clipping), a step of norm alpha * 0.01.
    assert clipped_logs["gradient_norm"] == pytest.approx(gradient_norm, rel=1e-6)
    assert np.linalg.norm(clipped) == pytest.approx(LEARNING_RATE * 0.01, rel=sparse_gap)
    assert np.linalg.norm(clipped) < np.linalg.norm(free) / 10
    # Rescaled, not reshaped: the clipped step points where the free one does.
    cosine = clipped @ free / (np.linalg.norm(clipped) * np.linalg.norm(free))
    assert cosine == pytest.approx(1.0, abs=1e-5)


def test_clipping_by_value_bounds_every_element_of_the_update():
    free, _ = one_step("--clip-norm", "0")
    clipped, _ = one_step("--clip-value", "0.02")
    bound = LEARNING_RATE * 0.02
    assert np.max(np.abs(free)) > 2 * bound
    assert np.max(np.abs(clipped)) == pytest.approx(bound, rel=1e-5)  # reached, never exceeded
    small = np.abs(free) < bound  # elements under the bound are untouched
    np.testing.assert_allclose(clipped[small], free[small], rtol=1e-5, atol=1e-9)


# -- bad flags ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--temperatures", "0.5,-1"], "--temperatures must be comma-separated numbers >= 0; received '0.5,"),
        (["--temperatures", "hot"], "--temperatures must be comma-separated numbers >= 0; received 'hot'"),
        (["--clip-norm", "-1"], "--clip-norm must be a positive number, or 0 for no clipping; received -1.0"),
        (["--clip-value", "0"], "--clip-value must be a positive number; received 0.0"),
        (["--clip-norm", "1", "--clip-value", "1"], "--clip-norm and --clip-value exclude each other"),
        (["--seq-length", "0"], "--seq-length must be at least 1; received 0"),
        (["--decay-base", "1.5"], "--decay-base must be in (0, 1]; received 1.5"),
        (["--source", "shakespeare"], "Unknown text source. Expected 'fortunes' or 'tfds:<name>'"),
        (["--data-dir", "/nonexistent"], "No fortune files in /nonexistent. Install Debian's fortunes"),
    ],
)
def test_bad_flags_are_one_error_line(tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as exit_info:
        char_lm.main(["--logdir", str(tmp_path), *flags])
    assert exit_info.value.code == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: ") and message in errors[0], errors
    assert not (tmp_path / "char_lm").exists()  # refused before a run directory was made


def test_a_tfds_corpus_offline_is_one_error_line(tmp_path, capsys):
    flags = ["--source", "tfds:tiny_shakespeare", "--data-dir", str(tmp_path)]
    with pytest.raises(SystemExit):
        char_lm.main(["--logdir", str(tmp_path), *flags])
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and "error: tfds dataset 'tiny_shakespeare' is not prepared" in errors[0], errors
    assert "--download" in errors[0]


def test_more_steps_than_the_training_split_holds_is_one_error_line(fortunes_all, tmp_path, capsys):
    with pytest.raises(SystemExit):
        char_lm.main(["--logdir", str(tmp_path), *TINY, "--steps-per-epoch", "100000"])
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: --steps-per-epoch must be at most the "), errors
