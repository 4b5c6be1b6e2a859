"""Smoke test of experiments.initialization: a tiny run end to end, its tags and the lesson's signs."""

import json

import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from experiments import initialization

QUICK = ["--train-size", "400", "--dev-size", "300", "--epochs", "1", "--depth", "3", "--width", "32"]


def test_tiny_run_logs_curves_histograms_and_symmetry(fashion_mnist_all, logdir):
    assert initialization.main(["--logdir", str(logdir), "--run-name", "smoke", *QUICK]) == 0
    run_dir = logdir / "initialization" / "smoke"
    results = json.loads((run_dir / "results.json").read_text())
    for name in initialization.INITIALIZATIONS:
        for split in ("train", "dev"):  # the harness's one tag scheme, evaluated through the loop
            tags = EventAccumulator(str(run_dir / name / split)).Reload().Tags()["tensors"]
            assert {"loss", "error"} <= set(tags)
        layers = EventAccumulator(str(run_dir / name / "layers")).Reload()
        tags = set(layers.Tags()["tensors"])
        for layer in ("dense_1", "dense_3", "logits"):
            kinds = ("weights", "gradients", "activations", "gradient_norm", "symmetry")
            assert {f"{kind}/{layer}" for kind in kinds} <= tags
        assert len(layers.Tensors("gradient_norm/dense_1")) == 2  # before training and after epoch 1
    # The lesson's signs, measured before any training: zeros gives no gradient and identical units,
    # large random gives gradients many orders of magnitude above He's.
    variants = results["details"]["variants"]
    assert variants["zeros"]["first_layer_gradient_norm_at_init"] == 0.0
    assert (
        variants["large"]["first_layer_gradient_norm_at_init"]
        > 1e4 * variants["he"]["first_layer_gradient_norm_at_init"]
    )
    for name, figures in variants.items():  # the table's figures are the curves' last and first points
        assert figures["dev_error"] == results["curves"][f"{name}/dev"]["error"][-1][1]
        assert figures["epoch1_loss"] == results["curves"][f"{name}/train"]["loss"][0][1]
    zeros_layers = EventAccumulator(str(run_dir / "zeros" / "layers")).Reload()
    assert all(
        float(tf.make_ndarray(event.tensor_proto)) == 0.0
        for event in zeros_layers.Tensors("symmetry/dense_2")
    )
    assert "summary" in EventAccumulator(str(run_dir / "summary")).Reload().Tags()["tensors"]


def test_interrupted_run_resumes_to_the_same_results(fashion_mnist_all, logdir, monkeypatch):
    argv = ["--logdir", str(logdir), *QUICK[:4], "--epochs", "2", *QUICK[6:], "--inits", "zeros,he"]
    assert initialization.main([*argv, "--run-name", "whole"]) == 0
    whole = json.loads((logdir / "initialization" / "whole" / "results.json").read_text())

    probe_epoch_end = initialization.LayerProbe.on_epoch_end

    def interrupt(probe, epoch, logs=None):
        if probe.model.name == "plain_he" and epoch == 1:  # he's epoch 2 trained, its curves written,
            raise KeyboardInterrupt  # its probe and backup not yet
        probe_epoch_end(probe, epoch, logs)

    with monkeypatch.context() as patch:
        patch.setattr(initialization.LayerProbe, "on_epoch_end", interrupt)
        with pytest.raises(KeyboardInterrupt):
            initialization.main([*argv, "--run-name", "cut"])
    run_dir = logdir / "initialization" / "cut"
    assert not (run_dir / "FINISHED").exists() and not (run_dir / "results.json").exists()
    zeros = json.loads((run_dir / "phases" / "variant" / "zeros.json").read_text())

    assert initialization.main([*argv, "--run-name", "cut", "--resume"]) == 0
    assert (run_dir / "FINISHED").exists()
    assert json.loads((run_dir / "phases" / "variant" / "zeros.json").read_text()) == zeros  # kept
    resumed = json.loads((run_dir / "results.json").read_text())
    assert resumed["details"] == whole["details"]  # he continued from its epoch-1 backup
    assert resumed["curves"] == whole["curves"]
    for name in ("zeros", "he"):  # the probe's points, each once: steps 0 (before training), 1, 2
        layers = EventAccumulator(str(run_dir / name / "layers")).Reload()
        assert [event.step for event in layers.Tensors("gradient_norm/dense_1")] == [0, 1, 2]


def test_rejects_unknown_initialization(logdir, capsys):
    try:
        initialization.main(["--logdir", str(logdir), "--inits", "zeros,orthogonal"])
    except SystemExit as exit:
        assert exit.code == 2
    assert "orthogonal" in capsys.readouterr().err


@pytest.mark.slow
def test_he_trains_and_the_others_do_not(fashion_mnist_all, logdir):
    """The lesson's outcome on real data: He learns, zeros stays at chance, large random lags far behind."""
    argv = ["--logdir", str(logdir), "--run-name", "outcome", "--train-size", "3000", "--dev-size", "1000",
            "--epochs", "3"]  # fmt: skip
    assert initialization.main(argv) == 0
    results = json.loads((logdir / "initialization" / "outcome" / "results.json").read_text())
    variants = results["details"]["variants"]
    assert variants["he"]["dev_error"] < 0.3
    assert variants["zeros"]["dev_error"] > 0.8  # ten classes: chance is 0.9
    assert variants["large"]["dev_error"] > variants["he"]["dev_error"] + 0.2
