"""End-of-training diagnostics, written to TensorBoard in one call each.

Course 3, Week 2 as a TensorBoard page. Both reports read one
`SplitPredictions`, a split's examples with a model's held-out
probabilities: after training, `log_error_analysis` writes the
error-analysis table (text), the confusion matrix and the top losses (images)
and the single-number metrics (scalars) for it, and exports the sheet for
tagging by hand; `log_label_issues` writes its suspected label errors (text
table, thumbnails, counts, and precision/recall when the true flips are
known); `log_data_quality` runs cleanlab's Datalab (label issues to act on,
near duplicates, outliers) on the probabilities and the model's embeddings.
`log_duplicates` needs no model: it writes the groups of identical or near-identical images
within and across the splits.

Tags, under the writer given (e.g. `run.writer("error_analysis")`):

    error_analysis/<split>/tags             text: % of errors per tag and its ceiling
    error_analysis/<split>/confusion_matrix image
    error_analysis/<split>/top_losses       image: true/predicted label and probability
    error_analysis/<split>/f1_macro, f1_micro, error   scalars
    label_issues/<split>/table              text: the most suspicious, ranked
    label_issues/<split>/suspects           image: thumbnails, given vs model label
    label_issues/<split>/count              scalar
    label_issues/<split>/precision, recall, precision_at_k   scalars (with `truth`)
    label_issues/<split>/estimated          scalar: cleanlab's estimated number (log_data_quality)
    data_quality/<split>/table              text: Datalab's near-duplicate sets and outliers
    data_quality/<split>/near_duplicate_sets, near_duplicates, outliers   scalars
    duplicates/table                        text: the counts and the groups (exact or near)
    duplicates/copies                       image: two copies of each group side by side
    duplicates/groups, exact_groups, near_groups, extra_copies, across_splits, label_conflicts   scalars
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kerasdl.diagnostics.data_quality import DataQuality, audit
from kerasdl.diagnostics.duplicates import Duplicates, find_duplicates
from kerasdl.diagnostics.error_analysis import (
    ErrorSheet,
    auto_tags,
    export_sheet,
    tag_table_markdown,
    top_loss_grid,
    wrong_label_statement,
)
from kerasdl.diagnostics.images import confusion_matrix_image, for_summary
from kerasdl.diagnostics.label_issues import LabelIssues, detection_precision_recall, find_label_issues
from kerasdl.diagnostics.metrics import confusion_matrix, precision_recall_f1


@dataclass(frozen=True)
class SplitPredictions:
    """One split's examples and a model's held-out predictions for them.

    Attributes:
        images: the split's images [N, H, W, C], 0..255.
        labels: its labels [N].
        probs: held-out predicted probabilities [N, classes] (out-of-fold
            ones for a training subset).
        class_names: the name of each class index.
        ids: example ids [N], or None.
        split: the split's name in the tags.
    """

    images: np.ndarray
    labels: np.ndarray
    probs: np.ndarray
    class_names: Sequence[str]
    ids: np.ndarray | None = None
    split: str = "dev"

    @classmethod
    def of(cls, examples, probs: np.ndarray, split: str) -> SplitPredictions:
        """From anything with `images`, `labels`, `class_names` and `ids` (e.g. a `pipelines` source)."""
        return cls(examples.images, examples.labels, probs, examples.class_names, examples.ids, split)


@dataclass(frozen=True)
class ErrorAnalysis:
    """What `log_error_analysis` measured.

    Attributes:
        sheet: every misclassified example, auto-tagged.
        error: the split's error rate.
        f1_macro, f1_micro: the single-number metrics.
        table: the tag table in Markdown.
        csv: the exported sheet of sampled errors (None when not exported).
    """

    sheet: ErrorSheet
    error: float
    f1_macro: float
    f1_micro: float
    table: str
    csv: Path | None


def log_error_analysis(
    writer,
    step: int,
    predictions: SplitPredictions,
    *,
    suspected_wrong_label: np.ndarray | None = None,
    label_issue_estimate: int | None = None,
    export_to: str | os.PathLike | None = None,
    sample: int = 100,
    seed: int = 0,
    grid_size: int = 24,
) -> ErrorAnalysis:
    """Error analysis of one split, logged to TensorBoard and exported for tagging by hand.

    Args:
        writer: a `tf.summary` writer.
        step: the summary step (e.g. the last epoch).
        predictions: the split and the model's held-out probabilities.
        suspected_wrong_label: mask [N] for the "suspected wrong label" tag;
            the table then says what it rests on (`wrong_label_statement`).
        label_issue_estimate: cleanlab's estimated number of label issues in
            the split, shown beside the flagged count; or None.
        export_to: CSV path for `sample` sampled errors (and the contact sheet
            PNG beside it), or None.
        sample: errors in the exported sheet (the lesson looks at ~100).
        seed: the sample's seed.
        grid_size: examples in the top-loss grid.
    """
    import tensorflow as tf

    images, class_names = predictions.images, predictions.class_names
    labels, probs = np.asarray(predictions.labels), np.asarray(predictions.probs)
    predicted = probs.argmax(axis=1)
    error = float(np.mean(predicted != labels))
    sheet = auto_tags(
        images, labels, probs, class_names, ids=predictions.ids, suspected_wrong_label=suspected_wrong_label
    )
    table = tag_table_markdown(sheet, error)
    if suspected_wrong_label is not None:
        statement = wrong_label_statement(
            suspected_wrong_label, predicted != labels, label_issue_estimate, predictions.split
        )
        table += f"\n\n{statement}"
    macro = precision_recall_f1(labels, predicted, "macro", len(class_names))["f1"]
    micro = precision_recall_f1(labels, predicted, "micro", len(class_names))["f1"]
    csv_path = None
    if export_to is not None and len(sheet):
        csv_path = export_sheet(sheet.sample(sample, seed), export_to, images)
        table += (
            f"\n\nA sample of {min(sample, len(sheet))} of these errors is in `{csv_path}` with its contact "
            f"sheet `{csv_path.with_suffix('.png').name}`: add a column per idea, tick the rows, then run "
            f"`python -m kerasdl.diagnostics {csv_path}` for this table of your tags."
        )
    matrix = confusion_matrix(labels, predicted, len(class_names))
    prefix = f"error_analysis/{predictions.split}"
    with writer.as_default():
        tf.summary.text(f"{prefix}/tags", table, step=step)
        tf.summary.image(
            f"{prefix}/confusion_matrix", for_summary(confusion_matrix_image(matrix, class_names)), step=step
        )
        tf.summary.image(
            f"{prefix}/top_losses",
            for_summary(top_loss_grid(images, labels, probs, class_names, k=grid_size)),
            step=step,
        )
        tf.summary.scalar(f"{prefix}/error", error, step=step)
        tf.summary.scalar(f"{prefix}/f1_macro", macro, step=step)
        tf.summary.scalar(f"{prefix}/f1_micro", micro, step=step)
    return ErrorAnalysis(sheet, error, macro, micro, table, csv_path)


def log_label_issues(
    writer,
    step: int,
    predictions: SplitPredictions,
    *,
    truth: np.ndarray | None = None,
    grid_size: int = 24,
) -> tuple[LabelIssues, dict[str, float]]:
    """Suspected label errors of one split, ranked by confident learning, logged to TensorBoard.

    Confident learning's own flagged set (`find_label_issues`); `log_data_quality`
    logs the flagged set to act on, from cleanlab's Datalab.

    Args:
        writer, step, predictions: as in `log_error_analysis`.
        truth: mask [N] of the examples known to be mislabeled (injected
            noise), to measure precision and recall; or None.
        grid_size: thumbnails of the most suspicious.

    Returns:
        (the issues, {"count", and with `truth` "precision", "recall",
        "precision_at_k" (k = the number of true errors)}).
    """
    issues = find_label_issues(predictions.labels, predictions.probs)
    return issues, _log_issues(writer, step, predictions, issues, truth, grid_size)


def _log_issues(
    writer,
    step: int,
    predictions: SplitPredictions,
    issues: LabelIssues,
    truth,
    grid_size: int,
    shown_when_none: LabelIssues | None = None,
) -> dict[str, float]:
    """Writes the table, thumbnails and scalars of `issues`; `shown_when_none` fills empty thumbnails."""
    import tensorflow as tf

    class_names = predictions.class_names
    scores = {"count": float(len(issues))}
    if issues.estimated is not None:
        scores["estimated"] = float(issues.estimated)
    if truth is not None:
        truth = np.asarray(truth, dtype=bool)
        scores["precision"], scores["recall"] = detection_precision_recall(issues.mask, truth)
        scores["precision_at_k"], _ = detection_precision_recall(issues.top(int(truth.sum())).mask, truth)
    table = issues.to_markdown(class_names, predictions.ids, k=grid_size)
    if truth is not None:
        table += (
            f"\n\n{int(truth.sum())} labels were flipped on purpose: precision {scores['precision']:.3f}, "
            f"recall {scores['recall']:.3f}, precision of the top {int(truth.sum())} "
            f"{scores['precision_at_k']:.3f}."
        )
    shown = issues if len(issues) or shown_when_none is None else shown_when_none
    if shown is not issues and len(shown):
        table += (
            f"\n\nNone flagged; the thumbnails show the {len(shown)} examples of lowest label quality, "
            "for a look."
        )
    prefix = f"label_issues/{predictions.split}"
    with writer.as_default():
        tf.summary.text(f"{prefix}/table", table, step=step)
        if len(shown):
            tf.summary.image(
                f"{prefix}/suspects",
                for_summary(shown.grid(predictions.images, class_names, k=grid_size)),
                step=step,
            )
        for name, value in scores.items():
            tf.summary.scalar(f"{prefix}/{name}", value, step=step)
    return scores


def log_data_quality(
    writer,
    step: int,
    predictions: SplitPredictions,
    features: np.ndarray | None = None,
    *,
    truth: np.ndarray | None = None,
    grid_size: int = 24,
) -> tuple[DataQuality, dict[str, float]]:
    """cleanlab's Datalab on one split (`data_quality.audit`), logged to TensorBoard.

    Writes the flagged label issues like `log_label_issues` (with the scalar
    "estimated", cleanlab's estimated number of label issues), and the
    near-duplicate sets and outliers as text ("data_quality/<split>/table")
    and scalars.

    Args:
        writer, step, predictions: as in `log_error_analysis`.
        features: the model's embeddings [N, D] of the split, or None.
        truth, grid_size: as in `log_label_issues`.

    Returns:
        (the audit, the label-issue scores of `log_label_issues` plus
        "estimated", "near_duplicate_sets", "near_duplicates" and "outliers").
    """
    import tensorflow as tf

    quality = audit(predictions.labels, predictions.probs, features)
    lowest = quality.lowest_quality(predictions.labels, predictions.probs, grid_size)
    scores = _log_issues(writer, step, predictions, quality.label_issues, truth, grid_size, lowest)
    counts = quality.counts()
    prefix = f"data_quality/{predictions.split}"
    with writer.as_default():
        tf.summary.text(f"{prefix}/table", quality.to_markdown(predictions.ids), step=step)
        for name in ("near_duplicate_sets", "near_duplicates", "outliers"):
            tf.summary.scalar(f"{prefix}/{name}", counts[name], step=step)
            scores[name] = float(counts[name])
    return quality, scores


def log_duplicates(
    writer,
    step: int,
    splits: Mapping[str, object],
    grid_size: int = 8,
    duplicates: Duplicates | None = None,
    note: str = "",
    scalars: Mapping[str, float] | None = None,
) -> Duplicates:
    """Copies of one image (identical or near) within and across splits, logged to TensorBoard.

    Args:
        writer, step: as in `log_error_analysis`.
        splits: split name -> anything with `images`, `labels`, `ids` and
            `class_names` (e.g. a `pipelines` source); every split must have
            the same classes.
        grid_size: groups shown as thumbnail pairs.
        duplicates: the groups, with members (split name, index), when they
            are already known; None finds them (`find_duplicates`).
        note: a paragraph added below the table (e.g. what `--dedupe` removed).
        scalars: more figures to write as scalars `duplicates/<name>`.
    """
    import tensorflow as tf

    class_names = next(iter(splits.values())).class_names
    if duplicates is None:
        duplicates = find_duplicates(
            {name: part.images for name, part in splits.items()},
            {name: part.labels for name, part in splits.items()},
        )
    table = duplicates.to_markdown(class_names, {name: part.ids for name, part in splits.items()})
    if note:
        table += f"\n\n{note}"
    with writer.as_default():
        tf.summary.text("duplicates/table", table, step=step)
        if duplicates.groups:
            images = {name: part.images for name, part in splits.items()}
            tf.summary.image(
                "duplicates/copies", for_summary(duplicates.grid(images, class_names, k=grid_size)), step=step
            )
        for name, value in {**duplicates.counts(), **(scalars or {})}.items():
            tf.summary.scalar(f"duplicates/{name}", value, step=step)
    return duplicates
