"""Error analysis on the dev set: the lesson's spreadsheet of mistakes.

Course 3, Week 2 ("Carrying out error analysis"): take ~100 misclassified
dev examples, give each a column per idea (dog, great cat, blurry, ...),
tick what applies, and count. The share of errors with a tag bounds what
fixing that tag can gain -- its ceiling:

    share(tag)   = errors with the tag / errors looked at
    ceiling(tag) = dev error x share(tag)
    dev error if every such error were fixed = dev error - ceiling(tag)

With 10% dev error and 5% of errors on dogs, the dog project can at best
bring dev error to 9.5%; with 50% of errors on great cats, to 5%.

Here the sheet is filled two ways:

- Automatically (`auto_tags`): "blurry" (low variance of the Laplacian,
  Pech-Pacheco et al. 2000), "low contrast" (low RMS contrast), the most
  often confused class pairs, and "suspected wrong label" (confident
  learning on held-out probabilities, `kerasdl.diagnostics.label_issues`;
  "Cleaning up incorrectly labeled data" is one more column of the sheet).
- By hand: `export_sheet` writes a CSV of sampled errors and a contact sheet
  PNG whose tiles are numbered like the CSV rows; the user adds columns with
  any names, ticks cells, and `import_sheet` reads it back.

`tag_table` then gives the "% of errors" row of the lesson's sheet with the
ceiling of each tag, and how sure that share is: its 95% Wilson score
interval (`wilson_interval`; E. B. Wilson, "Probable inference, the law of
succession, and statistical inference", JASA 1927), since a share counted on
100 sampled errors, or a tag set by a detector, is an estimate.
`wrong_label_statement` says what the "suspected wrong label" column rests
on: how many examples were flagged and how many label issues cleanlab
estimates in the whole split.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist

import numpy as np
from PIL import Image

from kerasdl.diagnostics import images as _images
from kerasdl.training.io import atomic_write_bytes, atomic_write_text

BLURRY = "blurry"
LOW_CONTRAST = "low contrast"
WRONG_LABEL = "suspected wrong label"
FIXED_COLUMNS = ("row", "index", "id", "true", "predicted", "probability")
COMMENTS = "comments"
# Cells a person might type to tick a tag; anything else non-empty also counts, except these:
FALSE_CELLS = {"", "0", "no", "n", "false", "f", "-"}
LAPLACIAN = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def _grayscale(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"images must be [N, H, W, 1 or 3]. Received: shape={images.shape}")
    if images.shape[-1] == 3:
        return images @ np.array([0.299, 0.587, 0.114])  # ITU-R BT.601 luma
    return images[..., 0]


def laplacian_variance(images: np.ndarray) -> np.ndarray:
    """Sharpness per image: the variance of its Laplacian (low = blurry).

    The 4-neighbour Laplacian [[0, 1, 0], [1, -4, 1], [0, 1, 0]] is applied
    to the grayscale image without padding (valid positions only); blur
    removes the fine detail it responds to, so its variance drops
    (Pech-Pacheco et al., "Diatom autofocusing in brightfield microscopy",
    ICPR 2000).

    Args:
        images: [N, H, W, C] with C = 1 or 3, on the 0..255 scale.

    Returns:
        float64 [N].
    """
    gray = _grayscale(images)
    response = (
        gray[:, :-2, 1:-1]
        + gray[:, 2:, 1:-1]
        + gray[:, 1:-1, :-2]
        + gray[:, 1:-1, 2:]
        - 4 * gray[:, 1:-1, 1:-1]
    )
    return response.reshape(len(gray), -1).var(axis=1)


def rms_contrast(images: np.ndarray) -> np.ndarray:
    """Contrast per image: the standard deviation of its grayscale intensities / 255 (in [0, 0.5])."""
    gray = _grayscale(images)
    return gray.reshape(len(gray), -1).std(axis=1) / 255.0


def example_losses(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Cross-entropy per example, -log p(true class) (probabilities clipped at 1e-12)."""
    labels, probs = np.asarray(labels), np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or len(probs) != len(labels):
        raise ValueError(
            f"probs must be [N, classes] for N labels. Received: {probs.shape}, {len(labels)} labels"
        )
    return -np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0))


def top_losses(labels: np.ndarray, probs: np.ndarray, k: int) -> np.ndarray:
    """Indices of the `k` examples with the largest loss, largest first (ties: lower index first)."""
    losses = example_losses(labels, probs)
    return np.argsort(-losses, kind="stable")[:k]


@dataclass
class ErrorSheet:
    """The lesson's spreadsheet: one row per misclassified example, one column per tag.

    Attributes:
        index: position of each example in the evaluated split.
        ids: identity string of each example.
        true: the labelled class name.
        predicted: the predicted class name.
        probability: the predicted class's probability.
        tags: tag name -> bool array, one entry per row.
        comments: free text per row ("pitbull", "lion at night").
        base_rates: tag -> share of *all* evaluated examples with the tag
            (correct ones included), for tags that can be measured on every
            example; a tag far more common among errors than overall is a
            lead.
    """

    index: np.ndarray
    ids: np.ndarray
    true: np.ndarray
    predicted: np.ndarray
    probability: np.ndarray
    tags: dict[str, np.ndarray] = field(default_factory=dict)
    comments: np.ndarray | None = None
    base_rates: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.index)
        if self.comments is None:
            self.comments = np.full(n, "", dtype=object)
        for name in ("ids", "true", "predicted", "probability", "comments"):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"Every column needs one entry per row. Received: {name} has "
                    f"{len(getattr(self, name))}, rows={n}"
                )
        for name, column in self.tags.items():
            if len(column) != n:
                raise ValueError(
                    f"Every tag needs one entry per row. Received: tag {name!r} has {len(column)}, rows={n}"
                )
            if name in FIXED_COLUMNS or name == COMMENTS:
                raise ValueError(f"A tag cannot be named like a fixed column. Received: tag={name!r}")
        self.tags = {name: np.asarray(column, dtype=bool) for name, column in self.tags.items()}

    def __len__(self) -> int:
        return len(self.index)

    def take(self, rows: np.ndarray) -> ErrorSheet:
        """The sheet restricted to `rows` (an index array or a boolean mask)."""
        return ErrorSheet(
            self.index[rows],
            self.ids[rows],
            self.true[rows],
            self.predicted[rows],
            self.probability[rows],
            {name: column[rows] for name, column in self.tags.items()},
            self.comments[rows],
            dict(self.base_rates),
        )

    def sample(self, n: int, seed: int = 0) -> ErrorSheet:
        """`n` rows drawn without replacement (all rows if there are fewer), in their original order."""
        if n < 1:
            raise ValueError(f"n must be a positive number of rows. Received: n={n}")
        if n >= len(self):
            return self.take(np.arange(len(self)))
        rows = np.sort(np.random.default_rng(seed).choice(len(self), size=n, replace=False))
        return self.take(rows)


def wilson_interval(count: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion `count` / `n`.

    With z the normal quantile for `confidence` and p = count / n:

        centre = (p + z^2 / 2n) / (1 + z^2 / n)
        half   = z / (1 + z^2 / n) x sqrt(p (1 - p) / n + z^2 / 4n^2)

    Unlike p +- z sqrt(p (1 - p) / n) it stays inside [0, 1] and is not
    empty at 0 or n counts.

    Returns:
        (low, high); (0, 1) when n = 0.
    """
    if not 0 <= count <= n:
        raise ValueError(f"count must be in [0, n]. Received: count={count}, n={n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1). Received: confidence={confidence}")
    if n == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = count / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class TagRow:
    """One column of the sheet, summarized: the lesson's "% of total" and what fixing it could gain.

    `share_low` and `share_high` are the 95% Wilson interval of `share`.
    """

    tag: str
    count: int
    share: float
    ceiling: float
    error_if_fixed: float
    base_rate: float | None = None
    share_low: float = 0.0
    share_high: float = 1.0


def tag_table(sheet: ErrorSheet, dev_error: float) -> list[TagRow]:
    """Share of errors per tag and its ceiling, largest first.

    Args:
        sheet: the rows looked at (all errors, or a sample of them).
        dev_error: the dev error rate of the whole dev set, a fraction.

    Returns:
        One `TagRow` per tag: share = count / rows (with its 95% Wilson
        interval), ceiling = dev_error x share, error_if_fixed = dev_error -
        ceiling. Shares need not add up to 1: an example can have several
        tags, or none.
    """
    if not 0 <= dev_error <= 1:
        raise ValueError(f"dev_error is a fraction in [0, 1]. Received: dev_error={dev_error}")
    if len(sheet) == 0:
        return []
    rows = []
    for name, column in sheet.tags.items():
        count = int(column.sum())
        share = count / len(sheet)
        ceiling = dev_error * share
        low, high = wilson_interval(count, len(sheet))
        rows.append(
            TagRow(name, count, share, ceiling, dev_error - ceiling, sheet.base_rates.get(name), low, high)
        )
    return sorted(rows, key=lambda row: (-row.count, row.tag))


def tag_table_markdown(sheet: ErrorSheet, dev_error: float) -> str:
    """`tag_table` as the Markdown table logged to TensorBoard."""
    lines = [
        f"{len(sheet)} misclassified examples looked at; dev error {100 * dev_error:.2f}%.",
        "",
        "| tag | errors | % of errors | ceiling (dev error points) | dev error if all fixed | % of all dev "
        "| % of errors, 95% interval |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in tag_table(sheet, dev_error):
        base = "" if row.base_rate is None else f"{100 * row.base_rate:.1f}%"
        lines.append(
            f"| {row.tag} | {row.count} | {100 * row.share:.1f}% | {100 * row.ceiling:.2f} | "
            f"{100 * row.error_if_fixed:.2f}% | {base} | "
            f"{100 * row.share_low:.1f}-{100 * row.share_high:.1f}% |"
        )
    return "\n".join(lines)


def wrong_label_statement(
    suspected_wrong_label: np.ndarray, errors: np.ndarray, estimated: int | None = None, split: str = "dev"
) -> str:
    """What the "suspected wrong label" column rests on, in one paragraph.

    The flagged share of the errors with its 95% Wilson interval, the number
    flagged in the whole split, and cleanlab's estimated number of label
    issues (when given) beside it.

    Args:
        suspected_wrong_label: boolean [N], the flagged examples of the split.
        errors: boolean [N], the misclassified examples.
        estimated: cleanlab's estimated number of label issues in the split, or None.
        split: the split's name, for the text.
    """
    flagged, errors = np.asarray(suspected_wrong_label, bool), np.asarray(errors, bool)
    if flagged.shape != errors.shape:
        raise ValueError(
            f"suspected_wrong_label and errors must be masks of one shape. Received: {flagged.shape} "
            f"and {errors.shape}"
        )
    count, total = int(np.sum(flagged & errors)), int(errors.sum())
    low, high = wilson_interval(count, total)
    text = (
        f"**{WRONG_LABEL}**: {count} of {total} {split} errors "
        f"({100 * count / max(total, 1):.1f}%, 95% interval {100 * low:.1f}-{100 * high:.1f}%); "
        f"{int(flagged.sum())} flagged in all {len(flagged)} {split} examples"
    )
    if estimated is not None:
        text += (
            f", where cleanlab estimates {estimated} label issues (its confident-joint count, an upper "
            "bound here: it also counts the model's own confusions)"
        )
    return text + ". Flagged: the held-out model gives the given label very low probability; check by hand."


def pair_name(a: int, b: int, class_names: Sequence[str]) -> str:
    """The name of an unordered class pair, "<lower index class> vs <higher index class>"."""
    return f"{class_names[min(a, b)]} vs {class_names[max(a, b)]}"


def confused_pairs(
    true: np.ndarray, predicted: np.ndarray, class_names: Sequence[str]
) -> list[tuple[str, int]]:
    """Unordered class pairs among the errors, most frequent first: [("Shirt vs T-shirt/top", 84), ...].

    A pair is named by `pair_name`, whichever way the mistake went; equal
    counts are ordered by class index.
    """
    counts: dict[tuple[int, int], int] = {}
    for t, p in zip(np.asarray(true), np.asarray(predicted), strict=True):
        if t != p:
            key = (min(t, p), max(t, p))
            counts[key] = counts.get(key, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [(pair_name(a, b, class_names), n) for (a, b), n in ranked]


def auto_tags(
    images: np.ndarray,
    labels: np.ndarray,
    probs: np.ndarray,
    class_names: Sequence[str],
    *,
    ids: np.ndarray | None = None,
    suspected_wrong_label: np.ndarray | None = None,
    blur_quantile: float = 0.1,
    contrast_quantile: float = 0.1,
    pairs: int = 3,
) -> ErrorSheet:
    """The sheet of every misclassified example, tagged automatically.

    Tags:
        blurry: Laplacian variance below its `blur_quantile` over all the
            examples given (so `base_rates["blurry"]` is about that quantile).
        low contrast: RMS contrast below its `contrast_quantile` likewise.
        "<class> vs <class>": one tag per each of the `pairs` most frequent
            confused class pairs.
        suspected wrong label: from `suspected_wrong_label` (a boolean mask
            over all examples, e.g. `find_label_issues(...).mask`); omitted
            when None.

    Args:
        images: [N, H, W, C] on the 0..255 scale, the evaluated split.
        labels: the given class indices [N].
        probs: predicted probabilities [N, classes] from a model that did not
            train on these examples.
        class_names: the name of each class index.
        ids: identity strings [N]; default the positions as strings.
        suspected_wrong_label: boolean [N] or None.
        blur_quantile, contrast_quantile: the share of all examples that the
            thresholds call blurry / low contrast, in (0, 1).
        pairs: number of confused-pair tags.
    """
    for name, q in (("blur_quantile", blur_quantile), ("contrast_quantile", contrast_quantile)):
        if not 0 < q < 1:
            raise ValueError(f"{name} must be in (0, 1). Received: {name}={q}")
    labels, probs = np.asarray(labels), np.asarray(probs)
    if len(images) != len(labels) or probs.shape != (len(labels), len(class_names)):
        raise ValueError(
            "images, labels and probs must describe the same examples and classes. Received: "
            f"{len(images)} images, {len(labels)} labels, probs {probs.shape}, {len(class_names)} classes"
        )
    predicted = probs.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    sharpness, contrast = laplacian_variance(images), rms_contrast(images)
    everywhere = {
        BLURRY: sharpness < np.quantile(sharpness, blur_quantile),
        LOW_CONTRAST: contrast < np.quantile(contrast, contrast_quantile),
    }
    if suspected_wrong_label is not None:
        suspected_wrong_label = np.asarray(suspected_wrong_label, dtype=bool)
        if suspected_wrong_label.shape != labels.shape:
            raise ValueError(
                f"suspected_wrong_label must be a mask [N]. Received: shape={suspected_wrong_label.shape}"
            )
        everywhere[WRONG_LABEL] = suspected_wrong_label
    tags = {name: mask[wrong] for name, mask in everywhere.items()}
    names = np.asarray(class_names, dtype=object)
    pair_of = np.array(
        [pair_name(t, p, class_names) for t, p in zip(labels[wrong], predicted[wrong], strict=True)],
        dtype=object,
    )
    for pair, _ in confused_pairs(labels, predicted, class_names)[:pairs]:
        tags[pair] = pair_of == pair
    return ErrorSheet(
        index=wrong,
        ids=(np.asarray(ids) if ids is not None else np.arange(len(labels)).astype(str))[wrong],
        true=names[labels[wrong]],
        predicted=names[predicted[wrong]],
        probability=probs[wrong, predicted[wrong]].astype(np.float64),
        tags=tags,
        base_rates={name: float(mask.mean()) for name, mask in everywhere.items()},
    )


def _caption(row: int, sheet: ErrorSheet) -> str:
    return f"#{row} {sheet.true[row]}\n-> {sheet.predicted[row]} {sheet.probability[row]:.2f}"


def export_sheet(
    sheet: ErrorSheet,
    path: str | os.PathLike,
    images: np.ndarray | None = None,
    extra_tags: Sequence[str] = (),
    columns: int = 10,
) -> Path:
    """Writes the sheet as a CSV to fill in, and its contact sheet as a PNG beside it.

    The CSV has the columns row, index, id, true, predicted, probability,
    the sheet's tags ("x" = ticked), one empty column per name in
    `extra_tags`, and comments. The user may add more columns with any name:
    `import_sheet` reads every column that is not a fixed one as a tag.

    Args:
        sheet: the rows to review (usually `auto_tags(...).sample(100)`).
        path: the CSV path; the contact sheet goes to the same path with
            suffix ".png", each tile captioned "#row true -> predicted p".
        images: the evaluated split's images (indexed by `sheet.index`), or
            None to skip the contact sheet.
        extra_tags: empty tag columns to add for the user, e.g. ("dog", "great cat").
        columns: tiles per row of the contact sheet.

    Returns:
        The CSV path.
    """
    path = Path(path)
    tag_names = list(sheet.tags) + [t for t in extra_tags if t not in sheet.tags]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*FIXED_COLUMNS, *tag_names, COMMENTS])
    for row in range(len(sheet)):
        ticks = ["x" if name in sheet.tags and sheet.tags[name][row] else "" for name in tag_names]
        writer.writerow(
            [
                row,
                int(sheet.index[row]),
                sheet.ids[row],
                sheet.true[row],
                sheet.predicted[row],
                repr(float(sheet.probability[row])),
                *ticks,
                sheet.comments[row],
            ]
        )
    atomic_write_text(path, buffer.getvalue())
    if images is not None and len(sheet):
        grid = _images.image_grid(
            np.asarray(images)[sheet.index], [_caption(r, sheet) for r in range(len(sheet))], columns=columns
        )
        png = io.BytesIO()
        Image.fromarray(grid).save(png, format="PNG")
        atomic_write_bytes(path.with_suffix(".png"), png.getvalue())
    return path


def import_sheet(path: str | os.PathLike, base_rates: Mapping[str, float] | None = None) -> ErrorSheet:
    """Reads back a sheet written by `export_sheet` and filled in by a person.

    Every column other than row, index, id, true, predicted, probability and
    comments is a tag. A cell ticks its tag unless it is empty or one of
    "0", "no", "n", "false", "f", "-" (case-insensitive), so "x", "1",
    "yes" and a check mark all count.
    """
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [c for c in ("index", "id", "true", "predicted", "probability") if c not in header]
        if missing:
            raise ValueError(
                f"{path} is not an error sheet: missing columns {missing}. Received header: {header}"
            )
        records = list(reader)
    tag_names = [c for c in header if c not in FIXED_COLUMNS and c != COMMENTS]

    def column(name, dtype=object):
        return np.array([record.get(name) or "" for record in records], dtype=dtype)

    return ErrorSheet(
        index=np.array([int(r["index"]) for r in records], dtype=np.int64),
        ids=column("id"),
        true=column("true"),
        predicted=column("predicted"),
        probability=np.array([float(r["probability"]) for r in records], dtype=np.float64),
        tags={
            name: np.array([(r.get(name) or "").strip().lower() not in FALSE_CELLS for r in records])
            for name in tag_names
        },
        comments=column(COMMENTS),
        base_rates=dict(base_rates or {}),
    )


def top_loss_grid(
    images: np.ndarray,
    labels: np.ndarray,
    probs: np.ndarray,
    class_names: Sequence[str],
    k: int = 24,
    columns: int = 8,
) -> np.ndarray:
    """The `k` highest-loss examples, captioned "true: <class> (p)" and "pred: <class> (p)".

    Course 3, Week 2: looking at the examples the model gets most wrong is
    the quickest way to find mislabeled data and systematic errors.
    """
    labels, probs = np.asarray(labels), np.asarray(probs)
    chosen = top_losses(labels, probs, k)
    predicted = probs[chosen].argmax(axis=1)
    captions = [
        f"true: {class_names[labels[i]]} {probs[i, labels[i]]:.2f}\npred: {class_names[p]} {probs[i, p]:.2f}"
        for i, p in zip(chosen, predicted, strict=True)
    ]
    return _images.image_grid(np.asarray(images)[chosen], captions, columns=columns)
