"""A data-quality audit of one split with cleanlab's Datalab: label issues, near duplicates, outliers.

Course 3, Week 2 ("Cleaning up incorrectly labeled data") asks which dev
errors come from wrong labels; a user's own data has more to find: copies of
one image, and images unlike the rest. cleanlab's `Datalab` (Northcutt et
al.; https://docs.cleanlab.ai) looks for all three in one pass over what a
trained model gives:

- out-of-sample probabilities [N, classes] (held-out predictions for dev
  and test, K-fold ones for train): label issues, each example scored by
  its label quality (self-confidence, p(given label | x));
- the model's embeddings [N, D] (what its last layer reads): near
  duplicates (pairs much closer than the typical nearest-neighbour
  distance) and outliers (average distance to the nearest neighbours).

`audit` runs it and returns a `DataQuality`. The flagged label issues are
`kerasdl.diagnostics.label_issues.flag_label_issues` on Datalab's label
quality scores, beside cleanlab's estimated number of label issues; the
near-duplicate sets and outliers are Datalab's own.

Needs the `datasets` package (cleanlab's `[datalab]` extra).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from kerasdl.diagnostics.label_issues import (
    LABEL_QUALITY_THRESHOLD,
    LabelIssues,
    as_labels_and_probs,
    estimated_label_issues,
    flag_label_issues,
)


@dataclass(frozen=True)
class DataQuality:
    """Datalab's findings on one split.

    Attributes:
        label_issues: the flagged label errors, ranked by label quality score,
            with cleanlab's estimate of their number.
        label_quality: Datalab's label quality score [N] (low = suspect).
        near_duplicate_sets: groups of positions whose embeddings are near
            duplicates (each group listed once, sorted); empty without embeddings.
        outliers: positions flagged as outliers, most atypical first.
        outlier_score: Datalab's outlier score [N] (low = atypical), from the
            embeddings when given, else from the probabilities.
        size: number of examples examined.
    """

    label_issues: LabelIssues
    label_quality: np.ndarray
    near_duplicate_sets: list[np.ndarray]
    outliers: np.ndarray
    outlier_score: np.ndarray
    size: int

    def lowest_quality(self, labels: np.ndarray, probs: np.ndarray, k: int) -> LabelIssues:
        """The `k` examples of lowest label quality, flagged or not (to look at when none is flagged)."""
        labels, probs = as_labels_and_probs(labels, probs)
        indices = np.argsort(self.label_quality, kind="stable")[:k]
        return LabelIssues.at(indices, labels, probs, self.label_issues.estimated)

    def counts(self) -> dict[str, int]:
        """Counts: label issues flagged and estimated, near-duplicate sets and their examples, outliers."""
        return {
            "label_issues": len(self.label_issues),
            "estimated_label_issues": int(self.label_issues.estimated or 0),
            "near_duplicate_sets": len(self.near_duplicate_sets),
            "near_duplicates": int(sum(len(group) for group in self.near_duplicate_sets)),
            "outliers": len(self.outliers),
        }

    def to_markdown(self, ids: np.ndarray | None = None, k: int = 10) -> str:
        """The counts, the first `k` near-duplicate sets and the `k` most atypical examples."""
        counts = self.counts()

        def name(i: int) -> str:
            return str(ids[i]) if ids is not None else str(i)

        lines = [
            f"Datalab on {self.size} examples: {counts['label_issues']} label issues flagged "
            f"(cleanlab estimates {counts['estimated_label_issues']}), {counts['near_duplicate_sets']} sets "
            f"of near duplicates ({counts['near_duplicates']} examples), {counts['outliers']} outliers.",
        ]
        if self.near_duplicate_sets:
            lines += ["", "| near-duplicate set | examples |", "|---|---|"]
            lines += [
                f"| {n + 1} | {', '.join(name(i) for i in group)} |"
                for n, group in enumerate(self.near_duplicate_sets[:k])
            ]
        if len(self.outliers):
            lines += ["", "| outlier rank | example | outlier score |", "|---|---|---|"]
            lines += [
                f"| {rank + 1} | {name(i)} | {self.outlier_score[i]:.3f} |"
                for rank, i in enumerate(self.outliers[:k])
            ]
        return "\n".join(lines)


def _near_duplicate_sets(issues, info) -> list[np.ndarray]:
    """Datalab's near-duplicate sets, each group (an example and its set) once, sorted by first member."""
    groups = set()
    for i in np.flatnonzero(np.asarray(issues["is_near_duplicate_issue"], dtype=bool)):
        groups.add(tuple(sorted({int(i), *(int(j) for j in info["near_duplicate_sets"][i])})))
    return [np.array(group, dtype=np.int64) for group in sorted(groups)]


def audit(
    labels: np.ndarray,
    probs: np.ndarray,
    features: np.ndarray | None = None,
    *,
    threshold: float = LABEL_QUALITY_THRESHOLD,
) -> DataQuality:
    """Label issues, near duplicates and outliers of one split, found by cleanlab's Datalab.

    Args:
        labels: the given labels [N].
        probs: out-of-sample predicted probabilities [N, classes].
        features: the model's embeddings [N, D] for near duplicates and
            outliers; None looks for label issues (and outliers from `probs`) only.
        threshold: passed to `flag_label_issues`.
    """
    from cleanlab import Datalab

    labels, probs = as_labels_and_probs(labels, probs)
    if np.any(probs < 0) or np.any(probs > 1) or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError(
            "probs must be probabilities: each row in [0, 1] and summing to 1. Received row sums "
            f"{probs.sum(axis=1)[:3]}, range [{probs.min():.3g}, {probs.max():.3g}]"
        )
    # cleanlab's default forks a process pool, which deadlocks in a process whose TensorFlow threads are
    # running (a fork copies the locks they hold); in-process it is also faster on thousands of examples.
    in_process = {"find_label_issues_kwargs": {"n_jobs": 1}}
    issue_types = {"label": {"clean_learning_kwargs": in_process}, "outlier": {}}
    if features is not None:
        features = np.asarray(features, dtype=np.float32).reshape(len(labels), -1)
        issue_types["near_duplicate"] = {}
    # Datalab numbers the classes it sees in `labels`: a class no example has (a small split) is left out
    # and the probabilities renormalized over the others.
    present = np.unique(labels)
    seen_probs = probs[:, present] / np.maximum(probs[:, present].sum(axis=1, keepdims=True), 1e-12)
    seen_labels = np.searchsorted(present, labels)
    lab = Datalab({"label": seen_labels}, label_name="label", verbosity=0)
    with warnings.catch_warnings():
        # Datalab warns about issue types it was not asked for and about small classes; neither applies.
        warnings.simplefilter("ignore")
        lab.find_issues(pred_probs=seen_probs, features=features, issue_types=issue_types)
    quality = lab.get_issues("label")["label_score"].to_numpy(dtype=np.float64)
    outlier_issues = lab.get_issues("outlier")
    outlier_score = outlier_issues["outlier_score"].to_numpy(dtype=np.float64)
    flagged = np.flatnonzero(outlier_issues["is_outlier_issue"].to_numpy(dtype=bool))
    near_duplicate_sets = []
    if features is not None:
        near_duplicate_sets = _near_duplicate_sets(
            lab.get_issues("near_duplicate"), lab.get_info("near_duplicate")
        )
    return DataQuality(
        label_issues=flag_label_issues(
            labels,
            probs,
            quality=quality,
            estimated=estimated_label_issues(seen_labels, seen_probs),
            threshold=threshold,
        ),
        label_quality=quality,
        near_duplicate_sets=near_duplicate_sets,
        outliers=flagged[np.argsort(outlier_score[flagged], kind="stable")],
        outlier_score=outlier_score,
        size=len(labels),
    )
