import math

import keras
import numpy as np
import pytest
import sklearn.metrics

from kerasdl.diagnostics import (
    confusion_matrix,
    f1_score,
    importance_weights,
    inference_ms_per_example,
    mcnemar_p_value,
    precision_recall_f1,
    satisficing_select,
    weighted_error,
    weighted_loss,
    weighted_mean,
)

# A hand-made 3-class example. Confusion matrix (rows true, columns predicted):
#   [[3, 1, 0],     class 0: TP 3, FP 0+0=0, FN 1+0=1   -> P 1,   R 3/4, F1 6/7
#    [0, 2, 2],     class 1: TP 2, FP 1+1=2, FN 0+2=2   -> P 1/2, R 1/2, F1 1/2
#    [0, 1, 1]]     class 2: TP 1, FP 0+2=2, FN 0+1=1   -> P 1/3, R 1/2, F1 2/5
Y_TRUE = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
Y_PRED = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 1])


class TestSingleNumberMetric:
    def test_confusion_matrix_by_hand(self):
        expected = np.array([[3, 1, 0], [0, 2, 2], [0, 1, 1]])
        np.testing.assert_array_equal(confusion_matrix(Y_TRUE, Y_PRED), expected)

    def test_per_class_scores_by_hand(self):
        scores = precision_recall_f1(Y_TRUE, Y_PRED, average=None)
        np.testing.assert_allclose(scores["precision"], [1, 1 / 2, 1 / 3])
        np.testing.assert_allclose(scores["recall"], [3 / 4, 1 / 2, 1 / 2])
        np.testing.assert_allclose(scores["f1"], [6 / 7, 1 / 2, 2 / 5])

    def test_macro_and_micro_by_hand(self):
        assert f1_score(Y_TRUE, Y_PRED, "macro") == pytest.approx((6 / 7 + 1 / 2 + 2 / 5) / 3)
        # Pooled: TP 6, FP 4, FN 4 -> P = R = F1 = 6/10, the accuracy.
        assert f1_score(Y_TRUE, Y_PRED, "micro") == pytest.approx(0.6)

    def test_lesson_classifiers_a_and_b(self):
        # Course 3, Week 1: A has precision 95% and recall 90%, B 98% and 85%; F1 (92.4% vs 91.0%) picks A.
        def predictions(tp, fp, positives=1900, negatives=1900):
            y_true = np.array([1] * positives + [0] * negatives)
            y_pred = np.array([1] * tp + [0] * (positives - tp) + [1] * fp + [0] * (negatives - fp))
            return y_true, y_pred

        a = precision_recall_f1(*predictions(tp=1710, fp=90), average=None)  # P 1710/1800, R 1710/1900
        b = precision_recall_f1(*predictions(tp=1615, fp=33), average=None)  # P 1615/1648, R 1615/1900
        assert (a["precision"][1], a["recall"][1]) == pytest.approx((0.95, 0.90))
        assert (b["precision"][1], b["recall"][1]) == pytest.approx((0.98, 0.85), abs=1e-4)
        assert a["f1"][1] == pytest.approx(2 * 0.95 * 0.90 / 1.85) and a["f1"][1] == pytest.approx(
            0.924, abs=5e-4
        )
        assert b["f1"][1] == pytest.approx(0.910, abs=5e-4) and a["f1"][1] > b["f1"][1]

    @pytest.mark.parametrize("average", ["macro", "micro"])
    def test_matches_sklearn_on_random_labels(self, average):
        rng = np.random.default_rng(0)
        y_true, y_pred = rng.integers(0, 5, 300), rng.integers(0, 5, 300)
        y_pred[y_pred == 4] = 3  # class 4 is never predicted: its precision is 0 by convention
        ours = precision_recall_f1(y_true, y_pred, average, num_classes=5)
        ref = sklearn.metrics.precision_recall_fscore_support(
            y_true, y_pred, average=average, labels=range(5), zero_division=0
        )
        assert (ours["precision"], ours["recall"], ours["f1"]) == pytest.approx(ref[:3])

    def test_rejects_bad_average(self):
        with pytest.raises(ValueError, match="Received: average='weighted'"):
            precision_recall_f1(Y_TRUE, Y_PRED, average="weighted")

    def test_rejects_out_of_range_labels(self):
        with pytest.raises(ValueError, match="num_classes=2"):
            confusion_matrix(Y_TRUE, Y_PRED, num_classes=2)


class TestSatisficing:
    RUNS = [  # The lesson's table: maximize accuracy subject to running time <= 100 ms.
        {"name": "A", "accuracy": 0.90, "ms_per_example": 80},
        {"name": "B", "accuracy": 0.92, "ms_per_example": 95},
        {"name": "C", "accuracy": 0.95, "ms_per_example": 1500},
    ]

    def test_lesson_picks_b(self):
        selection = satisficing_select(self.RUNS, "accuracy", {"ms_per_example": 100})
        assert selection.best["name"] == "B"
        assert [r["name"] for r in selection.feasible] == ["B", "A"]
        ((rejected, reasons),) = selection.rejected
        assert rejected["name"] == "C" and "ms_per_example=1500 fails <= 100" in reasons[0]
        assert "| B | 0.92 | **chosen** |" in selection.to_markdown("accuracy")

    def test_several_thresholds_and_lower_bounds(self):
        runs = [dict(r, false_positives=fp) for r, fp in zip(self.RUNS, (0, 2, 0), strict=True)]
        selection = satisficing_select(
            runs, "accuracy", {"ms_per_example": ("<=", 2000), "false_positives": ("<", 1)}
        )
        assert selection.best["name"] == "C"
        assert satisficing_select(runs, "accuracy", {"accuracy": (">=", 0.99)}).best is None

    def test_minimizing_and_missing_metric(self):
        runs = [{"name": "x", "error": 0.1}, {"name": "y", "error": 0.05, "ms": 10}]
        selection = satisficing_select(runs, "error", {"ms": 100}, maximize=False)
        assert selection.best["name"] == "y" and selection.rejected[0][1] == ("ms not measured",)

    def test_rejects_bad_threshold(self):
        with pytest.raises(ValueError, match="Received: \\('=='"):
            satisficing_select(self.RUNS, "accuracy", {"ms_per_example": ("==", 3)})

    def test_measured_inference_time_feeds_the_selection(self):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
        ms = inference_ms_per_example(model, np.zeros((8, 4), "float32"))
        assert ms > 0
        record = {"name": "tiny", "accuracy": 0.5, "ms_per_example": ms}
        # A generous bound keeps this free of timing flakiness: the measured number is what is compared.
        assert satisficing_select([record], "accuracy", {"ms_per_example": ms}).best is record


class TestWeighted:
    def test_lesson_weighted_error_by_hand(self):
        # Five images, two of which must never be wrong (w = 10); one of those is wrong, one normal one too.
        important = np.array([True, True, False, False, False])
        w = importance_weights(important, 10.0)
        np.testing.assert_array_equal(w, [10, 10, 1, 1, 1])
        y_true, y_pred = np.array([0, 1, 0, 1, 0]), np.array([1, 1, 0, 0, 0])
        assert weighted_error(y_true, y_pred, w) == pytest.approx((10 + 1) / 23)
        assert weighted_error(y_true, y_pred, np.ones(5)) == pytest.approx(2 / 5)  # unweighted error
        assert weighted_mean(np.array([1.0, 3.0]), np.array([0.0, 2.0])) == pytest.approx(3.0)  # w = 0 drops

    def test_keras_loss_divides_by_the_sum_of_weights(self):
        y = np.array([0, 1, 1])
        p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], "float32")
        w = np.array([1.0, 10.0, 1.0])
        per_example = -np.log([0.9, 0.8, 0.4])
        expected = np.sum(w * per_example) / np.sum(w)
        assert float(weighted_loss()(y, p, sample_weight=w)) == pytest.approx(expected, rel=1e-5)
        # Keras' default divides by the batch size instead: the lesson's J differs by sum(w) / N.
        default = float(keras.losses.SparseCategoricalCrossentropy()(y, p, sample_weight=w))
        assert default == pytest.approx(expected * w.sum() / 3, rel=1e-5)

    def test_fit_and_evaluate_use_the_lesson_normalization(self):
        x = np.array([[1.0], [2.0], [3.0]], "float32")
        y = np.array([0, 1, 1])
        w = np.array([1.0, 10.0, 1.0])
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(2, activation="softmax")])
        model.compile("sgd", weighted_loss())
        p = model.predict(x, verbose=0).astype(np.float64)
        expected = np.sum(w * -np.log(p[np.arange(3), y])) / np.sum(w)
        assert model.evaluate(x, y, sample_weight=w, batch_size=3, verbose=0) == pytest.approx(
            expected, rel=1e-5
        )

    def test_wraps_any_loss_keeping_its_config(self):
        loss = weighted_loss(keras.losses.CategoricalCrossentropy(label_smoothing=0.1))
        assert loss.get_config()["label_smoothing"] == 0.1
        assert loss.get_config()["reduction"] == "mean_with_sample_weight"

    def test_rejects_bad_weights(self):
        with pytest.raises(ValueError, match="Received: weight=-1"):
            importance_weights(np.array([True]), -1)
        with pytest.raises(ValueError, match="not all zero"):
            weighted_mean(np.ones(2), np.zeros(2))


def _exact_mcnemar(only_first: int, only_second: int) -> float:
    """The textbook formula, by hand: 2 * sum_{k <= min(b, c)} C(b + c, k) / 2^(b + c), at most 1."""
    n = only_first + only_second
    tail = sum(math.comb(n, k) for k in range(min(only_first, only_second) + 1)) / 2**n
    return min(1.0, 2 * tail)


@pytest.mark.parametrize(
    "only_first, only_second, both, neither", [(1, 9, 30, 5), (12, 12, 3, 0), (231, 219, 9000, 550)]
)
def test_mcnemar_p_value_matches_the_exact_binomial_formula(only_first, only_second, both, neither):
    first = np.array([True] * only_first + [False] * only_second + [True] * both + [False] * neither)
    second = np.array([False] * only_first + [True] * only_second + [True] * both + [False] * neither)
    order = np.random.default_rng(0).permutation(len(first))  # where the disagreements are does not matter
    expected = _exact_mcnemar(only_first, only_second)
    assert mcnemar_p_value(first[order], second[order]) == pytest.approx(expected, rel=1e-9)
    assert mcnemar_p_value(second, first) == pytest.approx(expected, rel=1e-9)  # two-sided: symmetric


def test_mcnemar_p_value_edge_cases_and_bad_input():
    assert _exact_mcnemar(1, 9) == pytest.approx(22 / 1024)  # 2 * (1 + 10) / 2^10, worked by hand
    same = np.array([True, False, True])
    assert mcnemar_p_value(same, same) == 1.0  # they never disagree: no evidence either way
    assert mcnemar_p_value(np.ones(10, bool), np.zeros(10, bool)) == pytest.approx(2 / 2**10)
    with pytest.raises(ValueError, match="same examples"):
        mcnemar_p_value(same, same[:2])
    with pytest.raises(ValueError, match="bool"):
        mcnemar_p_value(np.array([1, 0, 1]), same)
