"""experiments.detection: a tiny run writes mAP curves, drawn detections and results; a stopped run resumes.

The end-to-end run is a real subprocess on 48 x 48 canvases with a network
of a few thousand weights (seconds). The stop-and-resume test (slow) kills a
run mid-epoch and again as the test canvases are scored, and checks that,
resumed, it ends with the curves and results of an uninterrupted run.
"""

import json
import signal

import numpy as np
import pytest

from experiments import detection
from kerasdl.harness.run import FINISHED
from pipelines.detection import detection_canvases
from tests.events import tag_steps
from tests.runs import run_experiment, run_results, uninterrupted_run

EPOCHS = 2
# fmt: off
TINY = ["--train-canvases", "64", "--dev-canvases", "16", "--test-canvases", "16", "--canvas-size", "48",
        "--grid", "3", "--width", "4", "--epochs", str(EPOCHS), "--batch-size", "16",
        "--train-eval-size", "16", "--images", "2"]
# fmt: on
METRICS = {
    "dev_map50",
    "test_map50",
    "test_map50_voc",
    "anchors_mean_iou",
    "dropped_objects",
    "train_seconds",
    "train_cpu_seconds",
}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, fashion_mnist_all):
    return uninterrupted_run("detection", tmp_path_factory.mktemp("straight"), *TINY)


def test_a_tiny_run_writes_map_curves_detections_and_results(uninterrupted):
    results = run_results(uninterrupted)
    metrics = results["metrics"]
    assert METRICS <= set(metrics)
    assert all(0 <= metrics[name] <= 1 for name in ("dev_map50", "test_map50", "test_map50_voc"))
    curves = results["curves"]
    for split in ("train", "dev"):
        assert [step for step, _ in curves[f"yolo/{split}"]["map50"]] == [1, 2]
        points = curves[f"yolo/{split}"]
        for (_, error), (_, map50) in zip(points["error"], points["map50"], strict=True):
            assert error == pytest.approx(1 - map50)  # the harness' error is 1 - mAP@0.5
    assert curves["yolo/dev"]["map50"][-1][1] == metrics["dev_map50"]
    assert curves["yolo/test"]["map50"] == [[EPOCHS, metrics["test_map50"]]]
    assert [step for step, _ in curves["yolo/gaps"]["gap"]] == [1, 2]
    # TensorBoard: two epochs of drawn dev canvases; the summary's AP table
    assert tag_steps(uninterrupted / "detections", "detections") == [1, 2]
    assert "| **mAP** |" in (uninterrupted / "summary.md").read_text()
    details = results["details"]
    assert len(details["anchors"]) == 3 and set(details["test"]["per_class"]) <= {str(c) for c in range(10)}
    data = json.loads((uninterrupted / "data.json").read_text())
    assert data["anchors"] == details["anchors"] and data["anchors_mean_iou"] == metrics["anchors_mean_iou"]


@pytest.mark.slow
def test_killed_mid_epoch_and_at_the_test_then_resumed_is_an_uninterrupted_run(uninterrupted, tmp_path):
    run_dir = tmp_path / "detection" / "r"
    # 4 batches per epoch: batch 6 is in the middle of epoch 2
    killed = run_experiment("detection", tmp_path, *TINY, "--run-name", "r", stop="batch:6:SIGKILL")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    killed = run_experiment(
        "detection", tmp_path, *TINY, "--run-name", "r", "--resume", stop="start:test:SIGKILL"
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert not (run_dir / FINISHED).exists()
    resumed = run_experiment("detection", tmp_path, *TINY, "--run-name", "r", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert [p.name for p in (tmp_path / "detection").iterdir()] == ["r"]  # one run, resumed twice
    results, reference = run_results(run_dir), run_results(uninterrupted)
    assert results["curves"] == reference["curves"]
    assert results["metrics"]["test_map50"] == pytest.approx(reference["metrics"]["test_map50"])
    assert tag_steps(run_dir / "detections", "detections") == [1, 2]  # each epoch drawn once


def test_drawn_detections_are_red_boxes_and_objects_green(fashion_mnist_all):
    data = detection_canvases("dev", 1, seed=0, canvas_size=48, objects=(1, 1), scale=(1.0, 1.0))
    box = data.objects(0)[0][0]
    far = np.array([[0.8, 0.8, 0.95, 0.95]]) if box[0] < 0.5 else np.array([[0.05, 0.05, 0.2, 0.2]])
    found = (far[None], np.array([[0.9]]), np.array([[3]]), np.array([[True]]))
    picture = detection.draw_detections(data, found, count=1, threshold=0.5, scale=3)[0]
    assert picture.shape == (144, 144, 3)
    y_min, x_min = np.round(box[:2] * 144).astype(int)
    assert tuple(picture[y_min, x_min + 4]) == detection.COLOURS["object"]
    y_min, x_min = np.round(far[0, :2] * 144).astype(int)
    assert tuple(picture[y_min + 1, x_min + 10]) == detection.COLOURS["detection"]
    below = (far[None], np.array([[0.4]]), np.array([[3]]), np.array([[True]]))
    assert not np.any(np.all(detection.draw_detections(data, below, 1, 0.5)[0] == (230, 40, 40), axis=-1))


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--objects", "3,1"],
            "--objects must be 'low,high' with 0 <= low <= high and high >= 1; received '3,1'",
        ),
        (
            ["--canvas-size", "96", "--grid", "5"],
            "--canvas-size / --grid must be a power of 2 (the network halves the image per stage)",
        ),
        (
            ["--canvas-size", "40"],
            "--scale must be 'low,high' with 0.1 <= low <= high and 28 * high <= --canvas",
        ),
        (["--nms-iou", "1.5"], "--nms-iou must be in [0, 1]; received 1.5"),
        (["--epochs", "0"], "--epochs must be at least 1; received 0"),
        (["--classes-per-box", "0"], "--classes-per-box must be at least 1; received 0"),
        (["--depth", "0"], "--depth must be at least 1; received 0"),
        (["--source", "voc"], "--source must be 'canvases' or 'tfds:<name>'; received 'voc'"),
        (["--data-dir", "/nonexistent"], "/nonexistent"),
    ],
)
def test_bad_flags_are_one_error_line(tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as exit_info:
        detection.main(["--logdir", str(tmp_path), *flags])
    assert exit_info.value.code == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: ") and message in errors[0], errors
    assert not (tmp_path / "detection").exists()  # refused before a run directory was made
