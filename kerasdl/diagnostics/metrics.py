"""Single-number, satisficing and weighted evaluation metrics.

Course 3, Week 1 ("Single number evaluation metric", "Satisficing and
optimizing metric", "When to change dev/test sets and metrics"):

- One number to rank classifiers by: the F1 score, the harmonic mean of
  precision P and recall R, F1 = 2 P R / (P + R). With several classes,
  "macro" averages the per-class F1 scores (every class counts the same),
  "micro" pools the true positives, false positives and false negatives of
  all classes first (every example counts the same; for single-label
  classification micro-F1 equals accuracy).
- One optimizing metric and N-1 satisficing ones: pick the run that
  maximizes accuracy subject to, e.g., running time <= 100 ms per example.
- When the metric disagrees with what users want, change the metric: weight
  each example, J = 1 / sum_i w(i) * sum_i w(i) L(y_hat(i), y(i)), e.g.
  w = 10 for the images that must never be wrong and 1 for the others.

When two classifiers are scored on the same test set, whether the better
accuracy is more than the luck of that test set is a question about the
examples on which they disagree: `mcnemar_p_value`.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import keras
import numpy as np
from scipy import stats

from kerasdl.training.timing import timed_predict

AVERAGES = ("macro", "micro", None)
_COMPARISONS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}


def _class_indices(y: np.ndarray, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"{name} must be a 1-D array of class indices. Received: shape={y.shape}, dtype={y.dtype}"
        )
    return y.astype(np.int64)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Counts of (true class, predicted class) pairs: rows are true, columns predicted.

    Args:
        y_true: class indices [N].
        y_pred: predicted class indices [N].
        num_classes: size of the matrix; default 1 + the largest index seen.

    Returns:
        int64 array [num_classes, num_classes]; entry (i, j) counts the
        examples of class i predicted as class j, so the diagonal holds the
        correct predictions.
    """
    y_true, y_pred = _class_indices(y_true, "y_true"), _class_indices(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must match. Received: {y_true.shape} and {y_pred.shape}")
    if num_classes is None:
        num_classes = int(max(y_true.max(initial=-1), y_pred.max(initial=-1))) + 1
    if min(y_true.min(initial=0), y_pred.min(initial=0)) < 0 or (
        max(y_true.max(initial=-1), y_pred.max(initial=-1)) >= num_classes
    ):
        raise ValueError(f"Class indices must lie in [0, num_classes). Received: num_classes={num_classes}")
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def _ratio(numerator, denominator):
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    # A class that is never predicted (or never present) scores 0, as sklearn's zero_division=0 does.
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def precision_recall_f1(
    y_true: np.ndarray, y_pred: np.ndarray, average: str | None = "macro", num_classes: int | None = None
) -> dict[str, float | np.ndarray]:
    """Precision, recall and F1 from the confusion matrix.

    Per class c: P = TP / (TP + FP), R = TP / (TP + FN), F1 = 2PR / (P + R),
    with TP the diagonal entry, FP the rest of column c and FN the rest of
    row c; a ratio with a zero denominator counts as 0.

    Args:
        y_true: class indices [N].
        y_pred: predicted class indices [N].
        average: "macro" (mean of the per-class scores), "micro" (scores of
            the pooled TP, FP and FN counts) or None (per-class arrays).
        num_classes: number of classes; default 1 + the largest index seen.

    Returns:
        {"precision": ..., "recall": ..., "f1": ...}: floats, or arrays
        [num_classes] when `average` is None.
    """
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}. Received: average={average!r}")
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(matrix)
    fp = matrix.sum(axis=0) - tp
    fn = matrix.sum(axis=1) - tp
    if average == "micro":
        tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = _ratio(2 * precision * recall, precision + recall)
    if average is None:
        return {"precision": precision, "recall": recall, "f1": f1}
    if average == "macro":
        return {"precision": float(precision.mean()), "recall": float(recall.mean()), "f1": float(f1.mean())}
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


def f1_score(
    y_true: np.ndarray, y_pred: np.ndarray, average: str = "macro", num_classes: int | None = None
) -> float:
    """The single-number metric: F1, averaged "macro" or "micro" (see `precision_recall_f1`).

    Example:

    >>> f1_score(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]))  # F1 2/3 and 4/5
    0.7333333333333334
    """
    if average is None:
        raise ValueError("f1_score returns one number; use precision_recall_f1 for per-class scores.")
    return precision_recall_f1(y_true, y_pred, average, num_classes)["f1"]


@dataclass(frozen=True)
class Selection:
    """The outcome of a satisficing selection.

    Attributes:
        best: the feasible record with the best optimizing metric, or None
            when no record meets every threshold.
        feasible: the records meeting every threshold, best first.
        rejected: (record, reasons) for the others; each reason names the
            threshold missed, e.g. "ms_per_example=140 > 100".
    """

    best: Mapping | None
    feasible: tuple[Mapping, ...]
    rejected: tuple[tuple[Mapping, tuple[str, ...]], ...]

    def to_markdown(self, optimizing: str, name_key: str = "name") -> str:
        """The selection as a Markdown table: every record, chosen first."""
        lines = ["| run | " + optimizing + " | verdict |", "|---|---|---|"]
        for record in self.feasible:
            verdict = "**chosen**" if record is self.best else "meets thresholds"
            lines.append(f"| {record.get(name_key, '?')} | {record[optimizing]:.4g} | {verdict} |")
        for record, reasons in self.rejected:
            lines.append(f"| {record.get(name_key, '?')} | {record[optimizing]:.4g} | {'; '.join(reasons)} |")
        return "\n".join(lines)


def _threshold(spec) -> tuple[str, float]:
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return "<=", float(spec)
    if isinstance(spec, Sequence) and len(spec) == 2 and spec[0] in _COMPARISONS:
        return spec[0], float(spec[1])
    raise ValueError(
        f"A satisficing threshold is a number (an upper bound) or a pair like ('>=', 0.9). Received: {spec!r}"
    )


def satisficing_select(
    records: Sequence[Mapping], optimizing: str, satisficing: Mapping[str, object], maximize: bool = True
) -> Selection:
    """Picks the run that optimizes one metric subject to thresholds on the others.

    Course 3, Week 1: with N metrics, make one optimizing (maximize accuracy)
    and N-1 satisficing (running time <= 100 ms is good enough; beyond that,
    faster does not matter).

    Args:
        records: one mapping per run, e.g.
            {"name": "B", "accuracy": 0.98, "ms_per_example": 95}.
        optimizing: the key to maximize (or minimize, see `maximize`).
        satisficing: key -> threshold. A number is an upper bound (<=); a
            pair (op, value) with op one of "<=", "<", ">=", ">" gives any
            other comparison, e.g. {"false_positives": ("<", 1)}.
        maximize: maximize `optimizing` (accuracy) rather than minimize it
            (error).

    Returns:
        A `Selection`. A record that lacks a satisficing key is rejected.

    Example (the lesson's table):

    >>> runs = [{"name": "A", "accuracy": 0.90, "ms": 80},
    ...         {"name": "B", "accuracy": 0.92, "ms": 95},
    ...         {"name": "C", "accuracy": 0.95, "ms": 1500}]
    >>> satisficing_select(runs, "accuracy", {"ms": 100}).best["name"]
    'B'
    """
    thresholds = {key: _threshold(spec) for key, spec in satisficing.items()}
    feasible, rejected = [], []
    for record in records:
        if optimizing not in record:
            raise ValueError(
                f"Every record needs the optimizing metric. Received a record without: {optimizing}"
            )
        reasons = []
        for key, (op, bound) in thresholds.items():
            if key not in record:
                reasons.append(f"{key} not measured")
            elif not _COMPARISONS[op](record[key], bound):
                reasons.append(f"{key}={record[key]:.4g} fails {op} {bound:.4g}")
        if reasons:
            rejected.append((record, tuple(reasons)))
        else:
            feasible.append(record)
    feasible.sort(key=lambda record: record[optimizing], reverse=maximize)
    return Selection(feasible[0] if feasible else None, tuple(feasible), tuple(rejected))


def inference_ms_per_example(model: keras.Model, inputs: np.ndarray, batch_size: int = 1) -> float:
    """Measured milliseconds of prediction per example, the satisficing "running time".

    With `batch_size=1` (the default) this is the latency one user waits for
    one image; a larger batch measures throughput cost instead. Tracing and
    compiling are excluded (see `kerasdl.training.timing.timed_predict`).
    """
    if len(inputs) == 0:
        raise ValueError("inputs must hold at least one example. Received: 0 examples")
    _, seconds = timed_predict(model, inputs, batch_size=batch_size)
    return 1000.0 * seconds / len(inputs)


def importance_weights(important: np.ndarray, weight: float = 10.0) -> np.ndarray:
    """w(i) = `weight` where `important[i]`, else 1: the lesson's "weighs 10x".

    Course 3, Week 1 ("When to change dev/test sets and metrics"): images that
    must never be misclassified get a weight of 10, the others 1 (a weight of
    0 drops an example from the metric).
    """
    if not np.isfinite(weight) or weight < 0:
        raise ValueError(f"weight must be a non-negative number. Received: weight={weight}")
    return np.where(np.asarray(important, dtype=bool), float(weight), 1.0)


def weighted_mean(values: np.ndarray, weights: np.ndarray) -> float:
    """J = 1 / sum_i w(i) * sum_i w(i) L(i): the lesson's weighted cost of per-example values."""
    values, weights = np.asarray(values, dtype=np.float64), np.asarray(weights, dtype=np.float64)
    if values.shape != weights.shape:
        raise ValueError(f"values and weights must match. Received: {values.shape} and {weights.shape}")
    if np.any(weights < 0) or not np.all(np.isfinite(weights)) or weights.sum() <= 0:
        raise ValueError("weights must be finite, non-negative and not all zero.")
    return float(np.sum(weights * values) / np.sum(weights))


def weighted_error(y_true: np.ndarray, y_pred: np.ndarray, weights: np.ndarray) -> float:
    """Weighted misclassification error: 1 / sum w * sum w 1{y_hat != y}."""
    y_true, y_pred = _class_indices(y_true, "y_true"), _class_indices(y_pred, "y_pred")
    return weighted_mean((y_true != y_pred).astype(np.float64), weights)


def weighted_loss(loss: keras.losses.Loss | None = None) -> keras.losses.Loss:
    """A Keras loss that reduces with the lesson's normalization, J = sum w L / sum w.

    Keras' default reduction divides the weighted sum by the batch size, not
    by the sum of the weights, so a batch of heavy examples gets a larger
    loss; "mean_with_sample_weight" is the lesson's formula. Pass the weights
    as `sample_weight` to `fit` or as the third element of the dataset.

    Args:
        loss: a `keras.losses.Loss` instance to re-reduce; default sparse
            categorical cross-entropy.
    """
    loss = loss if loss is not None else keras.losses.SparseCategoricalCrossentropy()
    if not isinstance(loss, keras.losses.Loss):
        raise ValueError(f"loss must be a keras.losses.Loss instance. Received: loss={loss!r}")
    return type(loss).from_config({**loss.get_config(), "reduction": "mean_with_sample_weight"})


def mcnemar_p_value(first_right: np.ndarray, second_right: np.ndarray) -> float:
    """Two-sided exact McNemar p-value for two classifiers scored on the same examples.

    Only the examples where exactly one of them is right count: with b of
    those right only for the first and c only for the second, and equally
    good classifiers, b is Binomial(b + c, 1/2). The p-value is the chance
    of a split at least as lopsided, min(1, 2 P(X <= min(b, c))); 1.0 when
    they never disagree. A small value (e.g. < 0.05) says the accuracy
    difference is unlikely to be the luck of this test set.

    Args:
        first_right, second_right: bool [N], whether each classifier got
            each example right.
    """
    first_right, second_right = np.asarray(first_right), np.asarray(second_right)
    if first_right.shape != second_right.shape or first_right.ndim != 1:
        raise ValueError(
            "Expected two 1-D arrays over the same examples. "
            f"Received shapes {first_right.shape} and {second_right.shape}"
        )
    if first_right.dtype != bool or second_right.dtype != bool:
        raise ValueError(f"Expected bool arrays. Received: {first_right.dtype} and {second_right.dtype}")
    only_first = int(np.sum(first_right & ~second_right))
    only_second = int(np.sum(~first_right & second_right))
    if only_first + only_second == 0:
        return 1.0
    return float(stats.binomtest(only_first, only_first + only_second, 0.5).pvalue)
