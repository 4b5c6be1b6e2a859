"""experiments.ctc: a tiny run writes its results, the fast loss equals kerasdl's, and a real run reads lines.

The tiny end-to-end run is a real subprocess on a few hundred rendered lines with a small CRNN
(seconds); the slow test trains the default model on fewer lines and checks a measured floor on the
character error rate of held-out renderings.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from experiments import ctc
from kerasdl.harness.results import read_results
from kerasdl.nn.ctc import CTCLoss
from tests.events import tag_events

TINY = ["--train-size", "96", "--dev-size", "24", "--test-size", "24", "--epochs", "2"]
TINY += ["--filters", "4,8,8", "--dense", "16", "--units", "8", "--batch-size", "32"]
TINY += ["--train-eval-size", "24", "--examples", "2", "--beam-width", "3", "--test-fonts", "LiberationMono"]


def run_job(logdir, *flags) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("KERASDL_STOP_AT", None)
    command = [sys.executable, "-m", "experiments.ctc", "--logdir", str(logdir), *flags]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("ctc")
    result = run_job(logdir, "--run-name", "tiny", *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    return logdir / "ctc" / "tiny"


def test_a_tiny_run_writes_error_rates_curves_pictures_and_a_reloadable_model(tiny_run):
    results = read_results(tiny_run)
    metrics = results["metrics"]
    for split in ("dev", "test", "test_fonts"):  # --test-fonts: the test lines also in the held-out fonts
        for decoding in ("greedy", "beam"):
            assert 0 <= metrics[f"{split}_cer_{decoding}"] and 0 <= metrics[f"{split}_wer_{decoding}"]
            assert 0 <= metrics[f"{split}_line_accuracy_{decoding}"] <= 1
    assert metrics["train_seconds"] > 0 and metrics["train_cpu_seconds"] > 0
    curves = results["curves"]
    for split in ("train", "dev"):
        assert [step for step, _ in curves[f"model/{split}"]["error"]] == [1, 2]
    data = json.loads((tiny_run / "data.json").read_text())
    assert data["sizes"] == {"train": 96, "dev": 24, "test": 24, "test_fonts": 24}
    assert all(name.startswith("LiberationMono") for name in data["held_out_fonts"])
    assert not any(name.startswith("LiberationMono") for name in data["fonts"])
    # TensorBoard: lines at step 0, two test lines with their per-frame probabilities, the outputs as text
    assert len(tag_events(tiny_run, "lines")) == 1
    for k in range(2):
        assert len(tag_events(tiny_run, f"predictions/{k}")) == 1
    assert len(tag_events(tiny_run / "predictions", "predictions")) == 1
    saving = results["details"]["saving"]
    assert saving["reloaded"] and saving["same_outputs"], saving
    assert (tiny_run / "model.keras").exists()
    assert "| test |" in (tiny_run / "summary.md").read_text()


def test_the_dev_error_curve_is_the_greedy_character_error_rate(tiny_run):
    results = read_results(tiny_run)
    last_dev_error = results["curves"]["model/dev"]["error"][-1][1]
    assert last_dev_error == pytest.approx(results["metrics"]["dev_cer_greedy"], abs=1e-6)


def test_the_sparse_label_loss_equals_kerasdls_ctc_loss_in_value_and_gradient():
    rng = np.random.default_rng(0)
    logits = tf.Variable(rng.normal(scale=2.0, size=(5, 12, 6)).astype("float32"))
    labels = np.full((5, 4), -1, np.int32)
    for i, length in enumerate([1, 1, 2, 4, 3]):  # the kernel refuses empty transcripts (lines never are)
        labels[i, :length] = rng.integers(1, 6, size=length)
    labels[3, :2] = [2, 2]  # a repeated character needs a blank between its frames
    for blank, pad in [(0, -1), (5, -1)]:
        if blank == 5:
            labels = np.where(labels == 5, 1, labels)
        values, gradients = [], []
        for loss in (CTCLoss(blank=blank, pad=pad), ctc.SparseLabelCTCLoss(blank=blank, pad=pad)):
            with tf.GradientTape() as tape:
                value = loss(labels, logits)
            values.append(value.numpy())
            gradients.append(tape.gradient(value, logits).numpy())
        np.testing.assert_allclose(values[1], values[0], rtol=1e-5)
        np.testing.assert_allclose(gradients[1], gradients[0], atol=1e-5)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--filters", "8,16"], "--filters must be 3 comma-separated positive integers; received '8,16'"),
        (["--train-size", "0"], "--train-size must be at least 1; received 0"),
        (["--beam-width", "0"], "--beam-width must be at least 1; received 0"),
        (["--max-chars", "40"], "--max-chars must be at most 32 (the CRNN writes 64 frames"),
        (["--learning-rate", "-1"], "--learning-rate must be a positive number; received -1.0"),
        (["--test-fonts", "Comic"], "No font's name starts with 'Comic'"),
        (["--words-file", "/nonexistent"], "No word list at /nonexistent. Install Debian's wamerican"),
    ],
)
def test_bad_flags_are_one_error_line(tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as exit_info:
        ctc.main(["--logdir", str(tmp_path), "--train-size", "64", *flags])
    assert exit_info.value.code == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: ") and message in errors[0], errors
    assert not (tmp_path / "ctc").exists()  # refused before a run directory was made


@pytest.mark.slow
def test_a_short_training_reads_held_out_lines(tmp_path):
    """A small CRNN, 3 epochs of 3,000 lines: the floor is twice the CER measured with these flags."""
    flags = ["--train-size", "3000", "--dev-size", "200", "--test-size", "300", "--epochs", "3"]
    flags += ["--filters", "8,16,32", "--dense", "64", "--units", "64", "--learning-rate", "3e-3"]
    flags += ["--batch-size", "16", "--train-eval-size", "100", "--examples", "0", "--run-name", "short"]
    result = run_job(tmp_path, *flags)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = read_results(tmp_path / "ctc" / "short")["metrics"]
    # Measured on 2026-11-30 (2 CPU cores): test CER 0.0995 greedy, 0.0937 beam (B = 10).
    assert metrics["test_cer_greedy"] < 0.2
    assert metrics["test_cer_beam"] < 0.2
