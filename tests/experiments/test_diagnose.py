"""experiments.diagnose: the main job's Course 3 report for a saved model or a user's builder.

The main test runs the main job on a tiny profile, then diagnoses the model it
saved with the same data flags: one code path, so the decomposition, the tag
table and the label issues must come out identical.
"""

import json
import re

import keras
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from experiments import diagnose, mismatch
from kerasdl.harness.results import read_results
from kerasdl.harness.run import FINISHED
from kerasdl.training.saving import load_model, save_model
from tests.events import scalar_points, tag_steps
from tests.runs import run_experiment, stopped_by_request

DATA = ["--limit", "1500", "--train-eval-size", "300", "--error-sample", "5", "--batch-size", "64"]
MAIN_JOB = [*DATA, "--epochs", "1", "--width", "4", "--label-issue-folds", "0"]
MAIN_JOB += ["--learning-curve", "1/2,1"]  # the main job's learning curve, with one extra tiny model
BUILDER = "tests.experiments.test_diagnose:tiny_classifier"


def tiny_classifier(input_shape, num_classes):
    """A builder as a user writes one: a new compiled model for the data's shape and classes."""
    model = keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(),
            keras.layers.Dense(num_classes, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model


def uncompiled(input_shape, num_classes):
    return keras.Sequential(
        [keras.Input(input_shape), keras.layers.Flatten(), keras.layers.Dense(num_classes)]
    )


def one_hot(input_shape, num_classes):
    model = tiny_classifier(input_shape, num_classes)
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def results_of(run_dir):
    document = read_results(run_dir)
    return {**document["details"], **document["metrics"]}


def text_of(run_dir, subdir, tag):
    (event,) = EventAccumulator(str(run_dir / subdir)).Reload().Tensors(tag)
    return event.tensor_proto.string_val[0].decode()


def one_error_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture(scope="module")
def main_job_and_diagnosis(tmp_path_factory, fashion_mnist_all):
    logdir = tmp_path_factory.mktemp("logs")
    assert mismatch.main(["--logdir", str(logdir), *MAIN_JOB, "--run-name", "job"]) == 0
    job = logdir / "mismatch" / "job"
    argv = ["--logdir", str(logdir), "--model", str(job / "model.keras"), *DATA, "--run-name", "saved"]
    assert diagnose.main(argv) == 0
    return job, logdir / "diagnose" / "saved"


def test_diagnose_of_the_main_jobs_saved_model_gives_the_main_jobs_report(main_job_and_diagnosis):
    job, saved = main_job_and_diagnosis
    expected, got = results_of(job), results_of(saved)
    assert got["decomposition"] == expected["decomposition"]  # the same numbers and recommendation
    assert got["error_tags"] == expected["error_tags"]  # the same tag table
    assert got["label_issues"] == expected["label_issues"]
    assert got["duplicates"] == expected["duplicates"]
    assert (
        len(got["history"]) == 1 and got["history"][0] == got["decomposition"]
    )  # measured once, not trained
    # TensorBoard: the decomposition at step 0 under the same tags; the same tag table as text.
    for gap in ("avoidable_bias", "variance", "data_mismatch", "dev_overfitting"):
        assert scalar_points(saved / "gaps" / gap, "decomposition") == [
            (0, pytest.approx(got["decomposition"][gap]))
        ]
    tables = [
        text_of(run, "error_analysis", "error_analysis/dev/tags").split("\n\nA sample")[0]
        for run in (job, saved)
    ]
    assert tables[0] == tables[1] and "| suspected wrong label |" in tables[0]
    summary = (saved / "summary.md").read_text()
    assert summary.startswith(f"# Diagnose: {job / 'model.keras'}") and "**Focus:" in summary
    assert (
        "## Duplicates" in summary and "Learning curve" not in summary
    )  # nothing is trained for a saved model
    assert not (saved / "model.keras").exists() and not (saved / "phases" / "train.json").exists()
    assert (
        json.loads((saved / "data.json").read_text())["sizes"]
        == json.loads((job / "data.json").read_text())["sizes"]
    )


def test_the_main_job_saves_a_model_the_safe_loader_reads(main_job_and_diagnosis):
    job, _ = main_job_and_diagnosis
    model = load_model(job / "model.keras")
    assert model.name == "small_cnn" and model.output_shape == (None, 10)
    assert "duplicates/table" in EventAccumulator(str(job / "duplicates")).Reload().Tags()["tensors"]


def test_a_model_file_with_a_lambda_is_refused_with_the_loaders_message(tmp_path, capsys):
    rescale = keras.layers.Lambda(lambda x: x / 255.0)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            rescale,
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(SystemExit) as exit_info:
        diagnose.main(["--logdir", str(tmp_path / "logs"), "--model", str(path)])
    assert exit_info.value.code == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: --model {path} was not loaded: The model file contains a Lambda layer")
    assert "kerasdl refuses to load them" in line
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize(
    "layers, message",
    [
        (
            [keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")],
            r"The model takes inputs of shape \(None, 32, 32, 3\), but the data's images have shape "
            r"\(None, 28, 28, 1\)",
        ),
        (
            [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(7, activation="softmax")],
            r"The model's output has shape \(None, 7\), but the data have 10 classes \(T-shirt/top, Trouser",
        ),
    ],
    ids=["input shape", "class count"],
)
def test_data_that_does_not_fit_the_model_gets_one_error_naming_both(
    layers, message, tmp_path, capsys, fashion_mnist_all
):
    model = keras.Sequential(layers)
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    path = save_model(model, tmp_path / "model.keras")
    with pytest.raises(SystemExit) as exit_info:
        diagnose.main(["--logdir", str(tmp_path / "logs"), "--model", str(path), "--limit", "300"])
    assert exit_info.value.code == 2
    assert re.search(message, one_error_line(capsys))
    assert not (tmp_path / "logs").exists()  # refused before a run directory was made


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "give the model to diagnose: --model PATH.keras"),
        (["--model", "m.keras", "--builder", "a:b"], "give --model or --builder, not both"),
        (["--model", "m.keras", "--epochs", "3"], "--epochs trains the model, which needs --builder"),
        (
            ["--model", "m.keras", "--learning-curve", "1/2,1"],
            "--learning-curve trains new models, which needs",
        ),
        (["--model", "m.keras", "--label-issue-folds", "3"], "--label-issue-folds trains new models"),
        (
            ["--builder", BUILDER, "--learning-curve", "1/2,1/4,1"],
            "--learning-curve takes at least two increasing",
        ),
        (["--builder", "no_colon"], "--builder takes module:function"),
        (["--builder", "tests.experiments.test_diagnose:absent"], "has no function 'absent'"),
        (["--builder", "no_such_module_here:f"], "cannot import no_such_module_here"),
        (["--model", "absent.keras"], "--model: there is no file absent.keras"),
    ],
)
def test_bad_model_flags_get_one_error_line(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        diagnose.main(["--logdir", str(tmp_path), *argv])
    assert exit_info.value.code == 2
    assert message in one_error_line(capsys)


@pytest.mark.parametrize(
    "function, message",
    [
        ("uncompiled", "must return a compiled model with metrics=['accuracy']"),
        ("one_hot", "must return a model compiled for integer labels"),
    ],
)
def test_a_builder_whose_model_is_not_ready_is_refused(
    function, message, tmp_path, capsys, fashion_mnist_all
):
    builder = f"tests.experiments.test_diagnose:{function}"
    with pytest.raises(SystemExit):
        diagnose.main(["--logdir", str(tmp_path), "--builder", builder, "--limit", "300"])
    assert message in one_error_line(capsys)
    assert not (tmp_path / "diagnose").exists()


def test_the_main_job_draws_a_learning_curve_on_nested_subsets(main_job_and_diagnosis):
    job, _ = main_job_and_diagnosis
    results = results_of(job)
    curve = results["learning_curve"]
    train_size = json.loads((job / "data.json").read_text())["sizes"]["train"]
    sizes = curve["sizes"]
    assert (
        len(sizes) == 2 and sizes[-1] == train_size
    )  # nested and hash-stable: tests/pipelines/test_subsets.py
    assert abs(sizes[0] - train_size / 2) < 4 * np.sqrt(train_size / 4)  # hash-chosen: near the half asked
    # About the same number of steps for every size; the full-size point is the run's own model.
    assert curve["epochs"] == [2, 1]
    assert curve["train_error"][-1] == results["decomposition"]["train"]
    assert curve["dev_error"][-1] == results["decomposition"]["dev"]
    assert tag_steps(job / "learning_curve" / "dev", "learning_curve/error") == sizes  # step: training size
    summary = (job / "summary.md").read_text()
    assert "**Would more data help?** More data will" in summary and "over the last doubling" in summary
    assert "![learning curve](learning_curve.png)" in summary and (job / "learning_curve.png").stat().st_size


def test_a_builder_is_trained_saved_and_reported(fashion_mnist_all, tmp_path):
    argv = ["--logdir", str(tmp_path), "--builder", BUILDER, *DATA, "--epochs", "1"]
    assert (
        diagnose.main([*argv, "--learning-curve", "none", "--label-issue-folds", "0", "--run-name", "b"]) == 0
    )
    run_dir = tmp_path / "diagnose" / "b"
    results = results_of(run_dir)
    assert len(results["history"]) == 1 and (run_dir / "phases" / "train.json").exists()
    assert (run_dir / "summary.md").read_text().startswith(f"# Diagnose: {BUILDER}")
    saved = load_model(run_dir / "model.keras")  # the trained model, for `diagnose --model` later
    assert saved.output_shape == (None, 10) and len(saved.layers) == 2


@pytest.mark.slow
def test_a_builder_run_stopped_in_training_and_in_the_learning_curve_resumes_to_the_same_report(
    fashion_mnist_all, tmp_path
):
    flags = ["--builder", BUILDER, *DATA, "--epochs", "2", "--learning-curve", "1/4,1/2,1"]
    flags += ["--label-issue-folds", "2", "--label-issue-train-size", "200", "--label-issue-epochs", "1"]
    reference = run_experiment("diagnose", tmp_path / "straight", *flags, "--run-name", "r")
    assert reference.returncode == 0, reference.stderr[-3000:]
    for number, stop in enumerate(["batch:5:SIGTERM", "start:learning_curve/log:SIGKILL"]):
        resume = ["--resume"] if number else []
        result = run_experiment("diagnose", tmp_path, *flags, "--run-name", "r", *resume, stop=stop)
        assert stopped_by_request(result, stop.rsplit(":", 1)[1]), (stop, result.stderr[-3000:])
    result = run_experiment("diagnose", tmp_path, *flags, "--run-name", "r", "--resume")
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = tmp_path / "diagnose" / "r"
    assert (run_dir / FINISHED).exists() and len(list(run_dir.glob("resume-*.json"))) == 2
    resumed, straight = results_of(run_dir), results_of(tmp_path / "straight" / "diagnose" / "r")
    assert resumed["history"] == straight["history"]
    assert "train_subset" in resumed["label_issues"]  # K-fold label issues: the builder makes the K models
    for key in ("sizes", "train_error", "dev_error"):
        assert resumed["learning_curve"][key] == straight["learning_curve"][key], key
    steps = tag_steps(run_dir / "learning_curve" / "dev", "learning_curve/error")
    assert steps == resumed["learning_curve"]["sizes"]  # each size once, though the run stopped after them
