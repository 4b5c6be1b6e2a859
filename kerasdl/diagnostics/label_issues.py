"""Incorrectly labeled data: find it with confident learning, fix it by the lesson's rule.

Course 3, Week 2 ("Cleaning up incorrectly labeled data"): deep learning is
robust to random label errors in the training set, not to systematic ones;
in dev and test, count mislabeled examples as one more column of the error
sheet and fix them when they are a large share of the errors. When fixing:

- apply the same process to the dev and the test set, so they keep coming
  from the same distribution (`apply_corrections` refuses to do one alone);
- consider examples the model got right as well as those it got wrong;
- train may then come from a slightly different distribution; that is fine.

Finding candidates needs probabilities from a model that did not train on
the example. For dev and test, the trained model's predictions already are
such; for train, `out_of_fold_probabilities` trains one model per fold of a
K-fold split with any Keras model builder. Confident learning (Northcutt,
Jiang and Chuang, "Confident Learning: Estimating Uncertainty in Dataset
Labels", JAIR 2021) then ranks the suspects: `cleanlab.filter.
find_label_issues` estimates the joint distribution of given and true labels
from per-class confidence thresholds and flags the examples whose given label
is least likely, ordered by self-confidence p(given label | x).

Confident learning counts every confident disagreement as an issue, so where
the model itself is often wrong (dev from another distribution than train)
most of its suspects are the model's own confusions, not wrong labels.
`flag_label_issues` is the flagged set to act on: the examples ranked by
cleanlab's label quality score (self-confidence), flagged when the model
gives the given label less than `LABEL_QUALITY_THRESHOLD`, and never more
than cleanlab's estimated number of label issues (`cleanlab.count.
num_label_issues`), which is reported beside the flagged count.
`inject_pair_noise` makes the harder kind of noise to test it on: flips
between confusable classes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import keras
import numpy as np

from kerasdl.diagnostics.images import image_grid

# Flag an example when a held-out model gives its given label less probability than this (odds of 19 to 1
# against it). Chosen on the dev set of the main job with 5% of labels flipped: the largest threshold of a
# grid whose dev precision stays at least 0.75, since a weaker model than the main job's gives flipped
# labels more probability; then checked once on its test set. The README gives the figures.
LABEL_QUALITY_THRESHOLD = 0.05


def inject_label_noise(
    labels: np.ndarray, fraction: float, num_classes: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Flips exactly round(fraction x N) labels, each to another class drawn uniformly.

    For measuring label-error detection against a known truth.

    Returns:
        (noisy labels, boolean mask of the flipped examples).
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1]. Received: fraction={fraction}")
    if num_classes < 2:
        raise ValueError(f"Flipping a label needs at least 2 classes. Received: num_classes={num_classes}")
    labels = np.asarray(labels).astype(np.int64)
    rng = np.random.default_rng(seed)
    flipped = np.zeros(len(labels), dtype=bool)
    flipped[rng.choice(len(labels), size=int(round(fraction * len(labels))), replace=False)] = True
    noisy = labels.copy()
    # Adding 1..K-1 modulo K lands on every other class with equal chance and never on the original.
    noisy[flipped] = (labels[flipped] + rng.integers(1, num_classes, size=int(flipped.sum()))) % num_classes
    return noisy, flipped


def inject_pair_noise(
    labels: np.ndarray, fraction: float, pairs: Sequence[tuple[int, int]], seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Flips exactly round(fraction x N) labels of classes in `pairs`, each to its partner class.

    Class-conditional noise between confusable classes (a shirt labelled
    T-shirt), the kind a labeller makes; harder to find than uniform flips
    because the model hesitates between the same two classes.

    Args:
        labels: clean labels [N].
        fraction: share of all N examples to flip, drawn from the examples of
            the paired classes.
        pairs: disjoint class pairs, e.g. [(0, 6), (2, 4)].
        seed: the draw's seed.

    Returns:
        (noisy labels, boolean mask of the flipped examples).
    """
    labels = np.asarray(labels).astype(np.int64)
    partner = {}
    for a, b in pairs:
        if a == b or a in partner or b in partner:
            raise ValueError(f"pairs must be disjoint pairs of two classes. Received: pairs={list(pairs)}")
        partner[int(a)], partner[int(b)] = int(b), int(a)
    eligible = np.flatnonzero(np.isin(labels, list(partner)))
    count = int(round(fraction * len(labels)))
    if not 0 <= fraction <= 1 or count > len(eligible):
        raise ValueError(
            f"fraction must be in [0, 1] and leave enough examples of the paired classes. Received: "
            f"fraction={fraction}, {count} flips asked of {len(eligible)} examples in pairs"
        )
    flipped = np.zeros(len(labels), dtype=bool)
    flipped[np.random.default_rng(seed).choice(eligible, size=count, replace=False)] = True
    noisy = labels.copy()
    noisy[flipped] = [partner[int(c)] for c in labels[flipped]]
    return noisy, flipped


def kfold_indices(n: int, folds: int, seed: int = 0) -> list[np.ndarray]:
    """A seeded partition of range(n) into `folds` held-out index sets of near-equal size."""
    if folds < 2 or folds > n:
        raise ValueError(f"folds must be in [2, n]. Received: folds={folds}, n={n}")
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(order, folds)]


def out_of_fold_probabilities(
    build_model: Callable[[], keras.Model],
    x: np.ndarray,
    y: np.ndarray,
    *,
    folds: int = 5,
    epochs: int = 3,
    batch_size: int = 128,
    seed: int = 0,
    verbose: int = 0,
    progress: bool = False,
) -> np.ndarray:
    """Predicted probabilities for every example from a model that never saw it.

    For each of the `folds` parts of a seeded K-fold split, a fresh model from
    `build_model()` trains on the other parts and predicts the held-out one.

    Args:
        build_model: returns a new, compiled Keras model whose outputs are
            class probabilities (softmax) and whose loss takes integer labels.
        x: inputs [N, ...], as the model takes them (already preprocessed).
        y: integer labels [N] (the given, possibly noisy, labels).
        folds: K, at least 2.
        epochs, batch_size: passed to `fit` for each fold.
        seed: the fold assignment's seed (weights and shuffles follow the
            global seeds; call `kerasdl.harness.run.set_seeds` first for
            reproducible probabilities).
        verbose: `fit` verbosity.
        progress: a progress bar over the folds (one step per fold trained),
            updating in place on a terminal, one line at the end otherwise.

    Returns:
        float32 [N, classes].
    """
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x and y must have one entry per example. Received: {len(x)} and {len(y)}")
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1. Received: epochs={epochs}")
    probs = None
    bar = (
        keras.utils.Progbar(folds, verbose=1 if sys.stdout.isatty() else 2, unit_name="fold")
        if progress
        else None
    )
    for held in kfold_indices(len(y), folds, seed):
        train = np.setdiff1d(np.arange(len(y)), held, assume_unique=True)
        model = build_model()
        model.fit(x[train], y[train], epochs=epochs, batch_size=batch_size, shuffle=True, verbose=verbose)
        fold_probs = np.asarray(model.predict(x[held], batch_size=512, verbose=0), dtype=np.float32)
        if fold_probs.ndim != 2 or not np.allclose(fold_probs.sum(axis=1), 1.0, atol=1e-3):
            raise ValueError(
                "build_model must return a model whose outputs are probabilities [N, classes] (softmax). "
                f"Received outputs of shape {fold_probs.shape}, row sums {fold_probs.sum(axis=-1)[:3]}"
            )
        if probs is None:
            probs = np.zeros((len(y), fold_probs.shape[1]), dtype=np.float32)
        probs[held] = fold_probs
        if bar is not None:
            bar.add(1)
    return probs


@dataclass(frozen=True)
class LabelIssues:
    """Suspected label errors, most suspicious first.

    Attributes:
        indices: positions of the suspects, ranked by self-confidence
            (lowest probability of the given label first).
        given: the given label of each suspect.
        suggested: the model's most likely class for each suspect.
        self_confidence: p(given label | x) of each suspect, cleanlab's
            label quality score (method "self_confidence").
        size: number of examples examined.
        estimated: cleanlab's estimated number of label issues among the
            `size` examples, when it was computed; None otherwise.
    """

    indices: np.ndarray
    given: np.ndarray
    suggested: np.ndarray
    self_confidence: np.ndarray
    size: int
    estimated: int | None = None

    @classmethod
    def at(
        cls, indices: np.ndarray, labels: np.ndarray, probs: np.ndarray, estimated: int | None = None
    ) -> LabelIssues:
        """The examples at `indices`, in that order, of a split with these `labels` and `probs` [N, C]."""
        return cls(
            indices=indices,
            given=labels[indices],
            suggested=probs[indices].argmax(axis=1),
            self_confidence=probs[indices, labels[indices]],
            size=len(labels),
            estimated=estimated,
        )

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def mask(self) -> np.ndarray:
        """Boolean [size]: True for the suspects."""
        mask = np.zeros(self.size, dtype=bool)
        mask[self.indices] = True
        return mask

    def top(self, k: int) -> LabelIssues:
        """The `k` most suspicious."""
        return LabelIssues(
            self.indices[:k],
            self.given[:k],
            self.suggested[:k],
            self.self_confidence[:k],
            self.size,
            self.estimated,
        )

    def summary_line(self) -> str:
        """The flagged count, its share of the examples and, when known, cleanlab's estimate beside it."""
        line = (
            f"{len(self)} suspected label errors in {self.size} examples "
            f"({100 * len(self) / max(self.size, 1):.2f}%)"
        )
        if self.estimated is not None:
            line += (
                f"; cleanlab estimates {self.estimated} label issues (confident joint, off-diagonal: "
                "an upper bound here, as it also counts the model's own confusions)"
            )
        return line + "."

    def to_markdown(self, class_names, ids: np.ndarray | None = None, k: int = 20) -> str:
        """The `k` most suspicious as a Markdown table."""
        lines = [
            self.summary_line(),
            "",
            "| rank | example | given label | suggested label | label quality p(given) |",
            "|---|---|---|---|---|",
        ]
        top = self.top(k)
        for rank, (i, g, s, p) in enumerate(
            zip(top.indices, top.given, top.suggested, top.self_confidence, strict=True)
        ):
            name = ids[i] if ids is not None else i
            lines.append(f"| {rank + 1} | {name} | {class_names[g]} | {class_names[s]} | {p:.3g} |")
        return "\n".join(lines)

    def grid(self, images: np.ndarray, class_names, k: int = 24, columns: int = 8) -> np.ndarray:
        """Thumbnails of the `k` most suspicious, captioned "given: <class> p(given)" / "model: <class>"."""
        top = self.top(k)
        captions = [
            f"given: {class_names[g]} {p:.2f}\nmodel: {class_names[s]}"
            for g, s, p in zip(top.given, top.suggested, top.self_confidence, strict=True)
        ]
        return image_grid(np.asarray(images)[top.indices], captions, columns=columns)


def as_labels_and_probs(labels, probs) -> tuple[np.ndarray, np.ndarray]:
    """`labels` as int64 [N] and `probs` as float64 [N, classes]; a ValueError when the shapes disagree."""
    labels = np.asarray(labels).astype(np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or len(probs) != len(labels):
        raise ValueError(
            f"probs must be [N, classes] for N labels. Received: {probs.shape}, {len(labels)} labels"
        )
    return labels, probs


def find_label_issues(labels: np.ndarray, probs: np.ndarray, **cleanlab_kwargs) -> LabelIssues:
    """Ranks suspected label errors by confident learning (cleanlab).

    Calls `cleanlab.filter.find_label_issues(labels, probs,
    return_indices_ranked_by="self_confidence", n_jobs=1, ...)` (the
    default `filter_by="prune_by_noise_rate"`); extra keyword arguments
    (e.g. `filter_by="both"`, `n_jobs=None` for all cores) go to it.

    Args:
        labels: the given labels [N].
        probs: out-of-sample predicted probabilities [N, classes]: held-out
            predictions for dev/test, `out_of_fold_probabilities` for train.
    """
    from cleanlab.filter import find_label_issues as cleanlab_find_label_issues

    labels, probs = as_labels_and_probs(labels, probs)
    cleanlab_kwargs.setdefault("return_indices_ranked_by", "self_confidence")
    # cleanlab's default starts one process per core: on a dev set of thousands, far slower than in-process.
    cleanlab_kwargs.setdefault("n_jobs", 1)
    found = np.asarray(cleanlab_find_label_issues(labels, probs, **cleanlab_kwargs))
    # With return_indices_ranked_by=None cleanlab returns a boolean mask instead of ranked indices.
    indices = np.flatnonzero(found) if found.dtype == bool else found.astype(np.int64)
    return LabelIssues.at(indices, labels, probs)


def estimated_label_issues(labels: np.ndarray, probs: np.ndarray) -> int:
    """cleanlab's estimate of the number of label issues: the off-diagonal count of the confident joint.

    `cleanlab.count.num_label_issues(labels, probs)`: each example's class
    thresholds are the confident thresholds t_j (the mean p(j | x) over the
    examples labelled j); an example whose probabilities reach at least one
    t_j is counted as class j (the only such class, else the model's most
    likely one), and it is an issue when j is not its given label.
    """
    from cleanlab.count import num_label_issues

    return int(num_label_issues(np.asarray(labels).astype(np.int64), np.asarray(probs, dtype=np.float64)))


def flag_label_issues(
    labels: np.ndarray,
    probs: np.ndarray,
    *,
    quality: np.ndarray | None = None,
    estimated: int | None = None,
    threshold: float = LABEL_QUALITY_THRESHOLD,
) -> LabelIssues:
    """The label errors worth a person's time: low label quality, no more than cleanlab's estimate.

    Ranks every example by its label quality score (lowest first; ties by
    position) and flags those scoring below `threshold`, keeping at most
    `estimated` of them, so the flagged list never claims more issues than
    confident learning estimates there are.

    Args:
        labels: the given labels [N].
        probs: out-of-sample predicted probabilities [N, classes].
        quality: cleanlab's label quality scores [N] (e.g. Datalab's
            "label_score"); default self-confidence, p(given label | x).
        estimated: cleanlab's estimated number of label issues; default
            `estimated_label_issues(labels, probs)`.
        threshold: the largest label quality score flagged, in (0, 1).
    """
    labels, probs = as_labels_and_probs(labels, probs)
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1). Received: threshold={threshold}")
    quality = probs[np.arange(len(labels)), labels] if quality is None else np.asarray(quality, np.float64)
    if quality.shape != labels.shape:
        raise ValueError(f"quality must have one score per label. Received: shape={quality.shape}")
    if estimated is None:
        estimated = estimated_label_issues(labels, probs)
    order = np.argsort(quality, kind="stable")
    indices = order[: min(int(np.sum(quality < threshold)), estimated)]
    return LabelIssues.at(indices, labels, probs, int(estimated))


def detection_precision_recall(found: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Precision and recall of found label errors against the known ones.

    Args:
        found: boolean mask [N] of the examples flagged.
        truth: boolean mask [N] of the examples really mislabeled.

    Returns:
        (|found and truth| / |found|, |found and truth| / |truth|); 0 when a
        denominator is 0.
    """
    found, truth = np.asarray(found, dtype=bool), np.asarray(truth, dtype=bool)
    if found.shape != truth.shape:
        raise ValueError(
            f"found and truth must be masks of one shape. Received: {found.shape} and {truth.shape}"
        )
    hits = int(np.sum(found & truth))
    return (hits / found.sum() if found.any() else 0.0, hits / truth.sum() if truth.any() else 0.0)


def apply_corrections(sources: Mapping[str, object], corrections: Mapping[str, Mapping[str, int]]) -> dict:
    """Relabels examples by id, refusing to correct dev without test or test without dev.

    Course 3, Week 2: "apply the same process to your dev and test sets to
    make sure they continue to come from the same distribution." Reviewing
    one and not the other would shift one of them; so if `corrections`
    names "dev" it must name "test" too, and vice versa (an empty mapping
    says "reviewed the same way, nothing to change"). Train may be corrected
    or not.

    Args:
        sources: split name -> an `ImageSource` (anything with `ids`,
            `labels` and `replace(labels=...)`).
        corrections: split name -> {example id: corrected label}.

    Returns:
        A new dict of sources, the corrected ones relabelled, the others as given.
    """
    unknown = sorted(set(corrections) - set(sources))
    if unknown:
        raise ValueError(
            f"Corrections for splits that are not given. Received: {unknown}; splits: {sorted(sources)}"
        )
    reviewed = {"dev", "test"} & set(corrections)
    if len(reviewed) == 1:
        (only,) = reviewed
        other = ({"dev", "test"} - reviewed).pop()
        raise ValueError(
            "Apply the same correction process to the dev and the test set, so they keep coming from "
            f"the same distribution: pass corrections for '{other}' too (an empty mapping if its review "
            f"found nothing). Received corrections for: {sorted(corrections)} (only '{only}' of dev/test)"
        )
    result = dict(sources)
    for name, changes in corrections.items():
        source = sources[name]
        position = {str(i): k for k, i in enumerate(source.ids)}
        labels = np.array(source.labels, copy=True)
        for example_id, label in changes.items():
            if str(example_id) not in position:
                raise ValueError(f"No example with this id in split '{name}'. Received: id={example_id!r}")
            num_classes = len(getattr(source, "class_names", ())) or None
            if (
                not isinstance(label, (int, np.integer))
                or label < 0
                or (num_classes and label >= num_classes)
            ):
                raise ValueError(f"A corrected label is a class index. Received: {example_id!r} -> {label!r}")
            labels[position[str(example_id)]] = label
        result[name] = source.replace(labels=labels)
    return result
