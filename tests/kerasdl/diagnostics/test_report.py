import numpy as np
import pytest
import sklearn.metrics
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from kerasdl.diagnostics import import_sheet
from kerasdl.diagnostics.report import SplitPredictions, log_error_analysis, log_label_issues
from tests.kerasdl.diagnostics.suspects import two_suspects


def read_back(logdir):
    accumulator = EventAccumulator(str(logdir), size_guidance={"tensors": 0}).Reload()
    return {
        tag: tf.make_ndarray(accumulator.Tensors(tag)[-1].tensor_proto)
        for tag in accumulator.Tags()["tensors"]
    }


def test_error_analysis_is_logged_and_exported(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, 8, 8, 1)).astype(np.uint8)
    labels = np.array([0, 0, 1, 1, 2, 2])
    probs = np.array(
        [
            [0.8, 0.1, 0.1],
            [0.2, 0.7, 0.1],
            [0.1, 0.8, 0.1],
            [0.6, 0.3, 0.1],
            [0.1, 0.6, 0.3],
            [0.05, 0.9, 0.05],
        ]
    )  # four errors: 1, 3, 4, 5
    writer = tf.summary.create_file_writer(str(tmp_path / "tb"))
    predictions = SplitPredictions(images, labels, probs, ("a", "b", "c"))
    result = log_error_analysis(writer, 3, predictions, export_to=tmp_path / "sheet.csv", sample=2)
    writer.close()
    predicted = probs.argmax(1)
    assert result.error == pytest.approx(4 / 6)
    assert result.f1_macro == pytest.approx(sklearn.metrics.f1_score(labels, predicted, average="macro"))
    assert result.f1_micro == pytest.approx(2 / 6)  # micro-F1 is the accuracy
    logged = read_back(tmp_path / "tb")
    assert float(logged["error_analysis/dev/error"]) == pytest.approx(4 / 6)
    assert float(logged["error_analysis/dev/f1_macro"]) == pytest.approx(result.f1_macro)
    table = logged["error_analysis/dev/tags"].item().decode()
    assert "4 misclassified examples looked at; dev error 66.67%." in table
    assert "| a vs b | 2 | 50.0% | 33.33 | 33.33% |" in table  # errors 1 and 3 confuse a and b
    image = logged["error_analysis/dev/confusion_matrix"]
    assert image.shape == (3,) and image[0] and image[1]  # width, height, PNG bytes
    sheet = import_sheet(result.csv)
    assert len(sheet) == 2 and set(sheet.index) <= {1, 3, 4, 5}


def test_label_issues_are_scored_against_known_flips(tmp_path):
    labels, probs = two_suspects()
    truth = np.zeros(60, bool)
    truth[[7, 30]] = True  # 7 is found, 30 is missed, 20 is a false alarm
    writer = tf.summary.create_file_writer(str(tmp_path / "tb"))
    images = np.zeros((60, 4, 4, 1), np.uint8)
    issues, scores = log_label_issues(
        writer, 1, SplitPredictions(images, labels, probs, ("a", "b", "c")), truth=truth
    )
    writer.close()
    assert list(issues.indices) == [7, 20]
    assert scores == {"count": 2.0, "precision": 0.5, "recall": 0.5, "precision_at_k": 0.5}
    logged = read_back(tmp_path / "tb")
    assert float(logged["label_issues/dev/recall"]) == 0.5
    assert "precision 0.500, recall 0.500" in logged["label_issues/dev/table"].item().decode()
    assert "label_issues/dev/suspects" in logged
