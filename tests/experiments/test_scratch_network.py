"""experiments.scratch_network: NumPy equals Keras step by step; the experiment runs and resumes."""

import json
import signal

import keras
import numpy as np
import pytest
import tensorflow as tf

from experiments import scratch_network
from kerasdl.harness.results import read_results
from kerasdl.scratch import deep_nn
from kerasdl.scratch.initialization import initialize_parameters
from tests.runs import run_experiment

TINY = ["--train-size", "200", "--dev-size", "100", "--iterations", "12", "--log-every", "4"]
TINY += ["--depths", "1", "--widths", "4", "--timing-examples", "5"]


def test_numpy_l_layer_network_equals_keras_for_many_full_batch_steps():
    """The oracle is a plain Keras Dense stack built here, in float64, with the NumPy weights copied in."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 64))  # [n_x, m], column-major as the lessons
    Y = (X[0:1] + 0.5 * X[1:2] > 0).astype(np.float64)
    parameters = initialize_parameters([12, 6, 4, 1], "he", seed=1)
    keras_model = keras.Sequential(
        [keras.Input((12,), dtype="float64")]
        + [keras.layers.Dense(6, "relu", dtype="float64"), keras.layers.Dense(4, "relu", dtype="float64")]
        + [keras.layers.Dense(1, dtype="float64")]  # logits: the sigmoid is in the loss
    )
    keras_model.set_weights(
        [array for layer in (1, 2, 3) for array in (parameters[f"W{layer}"].T, parameters[f"b{layer}"][:, 0])]
    )
    loss = keras.losses.BinaryCrossentropy(from_logits=True, dtype="float64")
    keras_model.compile(keras.optimizers.SGD(0.5), loss)  # 0.5 is exact in the optimizer's float32 variable
    inputs, labels = tf.constant(X.T), tf.constant(Y.T)  # float64 (NumPy arrays would be cast to float32)
    for step in range(30):
        AL, caches = deep_nn.model_forward(X, parameters, "relu", "sigmoid")
        cost = deep_nn.compute_cost(AL, Y)
        grads = deep_nn.model_backward(AL, Y, caches)
        for key in parameters:
            parameters[key] -= 0.5 * grads[f"d{key}"]
        keras_cost = float(keras_model.train_on_batch(inputs, labels))
        assert keras_cost == pytest.approx(cost, rel=1e-6), step  # before the step (reported through float32)
        weights = keras_model.get_weights()
        for layer in range(1, 4):
            np.testing.assert_allclose(weights[2 * layer - 2], parameters[f"W{layer}"].T, rtol=0, atol=1e-12)
            np.testing.assert_allclose(
                weights[2 * layer - 1], parameters[f"b{layer}"][:, 0], rtol=0, atol=1e-12
            )


def test_keras_twin_copies_the_weights_and_predicts_the_same():
    parameters = initialize_parameters([10, 5, 1], "he", seed=2)
    X = np.random.default_rng(3).normal(size=(10, 7))
    twin = scratch_network.keras_twin(parameters)
    AL, _ = deep_nn.model_forward(X, parameters, "relu", "sigmoid")
    logits = np.asarray(twin(tf.constant(X.T)))
    np.testing.assert_allclose(1 / (1 + np.exp(-logits.T)), AL, rtol=1e-12)
    assert scratch_network.max_weight_difference(parameters, twin) == 0.0


def test_the_loop_forward_pass_is_the_vectorized_one():
    rng = np.random.default_rng(0)
    w, X = rng.normal(size=(6, 1)), rng.normal(size=(6, 9))
    expected = 1 / (1 + np.exp(-(w.T @ X + 0.3)))
    np.testing.assert_allclose(scratch_network.logistic_forward_loops(w, 0.3, X), expected, rtol=1e-12)


def run_job(logdir, *flags, stop=None):
    return run_experiment("scratch_network", logdir, *TINY, *flags, stop=stop, timeout=300)


def test_runs_logs_every_network_and_resumes_after_a_kill(fashion_mnist_all, tmp_path):
    killed = run_job(tmp_path, "--run-name", "r", stop="start:numpy_vs_keras:SIGKILL")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    run_dir = tmp_path / "scratch_network" / "r"
    before = json.loads((run_dir / "phases" / "network" / "logistic_regression.json").read_text())
    resumed = run_job(tmp_path, "--run-name", "r", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = json.loads((run_dir / "phases" / "network" / "logistic_regression.json").read_text())
    assert after == before  # finished before the kill: not trained again

    results = read_results(run_dir)
    rows = results["details"]["rows"]
    assert [r["network"] for r in rows] == ["logistic_regression", "L2_w4", "course_network"]
    assert all(0 <= r["dev_accuracy"] <= 1 for r in rows)
    assert results["metrics"]["max_abs_weight_difference"] < 1e-12
    assert results["metrics"]["vectorization_speedup"] > 1
    for network in ("logistic_regression", "L2_w4", "course_network", "course_network_keras"):
        assert [step for step, _ in results["curves"][f"{network}/train"]["loss"]] == [4, 8, 12]
    assert "| logistic_regression | 0 |" in (run_dir / "summary.md").read_text()


@pytest.mark.parametrize(
    "flag,value,message",
    [
        ("--depths", "2,x", "--depths must be comma-separated positive integers; received '2,x'"),
        ("--widths", "0", "--widths must be comma-separated positive integers; received '0'"),
        ("--learning-rate", "-1", "--learning-rate must be positive; received -1.0"),
        ("--train-size", "20000", "--train-size + --dev-size must be at most 12000"),
    ],
)
def test_bad_flags_are_one_error_line(fashion_mnist_all, tmp_path, capsys, flag, value, message):
    with pytest.raises(SystemExit) as exit_info:
        scratch_network.main(["--logdir", str(tmp_path), flag, value])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
