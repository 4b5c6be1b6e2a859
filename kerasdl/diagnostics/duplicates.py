"""Exact duplicates: the same image more than once, within a split or across splits.

Course 3, Week 1 ("Train/dev/test distributions") and DESIGN.md principle 3:
no example may sit in two splits. Splits are assigned by each example's
identity, so one picture saved twice under two names can land in train and
in dev, and the dev error then rewards memory instead of measuring
generalization. Copies that carry different labels are label conflicts
(Course 3, Week 2, "Cleaning up incorrectly labeled data").

`find_duplicates` groups the examples whose pixels are identical (SHA-256 of
each image's shape and bytes). Near duplicates (resized, recompressed,
cropped copies) need a perceptual hash or embeddings and are not found here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from kerasdl.diagnostics.images import image_grid


@dataclass(frozen=True)
class DuplicateGroup:
    """Examples with identical pixels.

    Attributes:
        members: (split, index in that split) of each copy, in split order.
        labels: the label of each copy.
    """

    members: tuple[tuple[str, int], ...]
    labels: tuple[int, ...]

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits the copies are in, each once, in order."""
        return tuple(dict.fromkeys(split for split, _ in self.members))

    @property
    def across_splits(self) -> bool:
        return len(self.splits) > 1

    @property
    def label_conflict(self) -> bool:
        return len(set(self.labels)) > 1


@dataclass(frozen=True)
class Duplicates:
    """Every group of identical images among the examples looked at.

    Attributes:
        groups: groups of two or more copies; those across splits first, then
            label conflicts, then the largest.
        examples: how many examples were looked at.
    """

    groups: tuple[DuplicateGroup, ...]
    examples: int

    def counts(self) -> dict[str, int]:
        """groups, extra_copies (examples beyond the first of each group), across_splits, label_conflicts."""
        return {
            "groups": len(self.groups),
            "extra_copies": sum(len(g.members) - 1 for g in self.groups),
            "across_splits": sum(g.across_splits for g in self.groups),
            "label_conflicts": sum(g.label_conflict for g in self.groups),
        }

    def summary_line(self) -> str:
        """One sentence with the counts."""
        c = self.counts()
        if not c["groups"]:
            return f"No exact duplicates among {self.examples:,} examples."
        return (
            f"{c['groups']} groups of identical images among {self.examples:,} examples "
            f"({c['extra_copies']} extra copies): {c['across_splits']} across splits (a leak into the "
            f"evaluation), {c['label_conflicts']} with conflicting labels."
        )

    def to_markdown(
        self,
        class_names: Sequence[str],
        ids: Mapping[str, np.ndarray] | None = None,
        k: int = 20,
    ) -> str:
        """The counts and the first `k` groups as a Markdown table."""
        lines = [self.summary_line()]
        if not self.groups:
            return lines[0]
        lines += ["", "| group | copies (split: example) | labels |", "|---|---|---|"]
        for number, group in enumerate(self.groups[:k], start=1):
            copies = ", ".join(
                f"{split}: {ids[split][index] if ids is not None else index}"
                for split, index in group.members
            )
            lines.append(f"| {number} | {copies} | {_label_names(group, class_names, ', ')} |")
        return "\n".join(lines)

    def grid(self, images: Mapping[str, np.ndarray], class_names: Sequence[str], k: int = 16) -> np.ndarray:
        """One thumbnail per group (the first `k`), captioned with its splits and labels."""
        if not self.groups:
            raise ValueError("There are no duplicate groups to show.")
        shown = self.groups[:k]
        tiles = np.stack([np.asarray(images[g.members[0][0]])[g.members[0][1]] for g in shown])
        captions = [
            f"{len(g.members)}x {'/'.join(g.splits)}\n{_label_names(g, class_names, '/')}" for g in shown
        ]
        return image_grid(tiles, captions)


def _label_names(group: DuplicateGroup, class_names: Sequence[str], separator: str) -> str:
    return separator.join(dict.fromkeys(class_names[label] for label in group.labels))


def image_digests(images: np.ndarray) -> list[bytes]:
    """SHA-256 of each image's shape and pixel bytes (equal digests: identical images)."""
    images = np.asarray(images)
    shape = repr(images.shape[1:]).encode()
    return [hashlib.sha256(shape + np.ascontiguousarray(image).tobytes()).digest() for image in images]


def find_duplicates(images: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray]) -> Duplicates:
    """Groups of identical images within and across named splits.

    Args:
        images: split name -> its images [N, H, W, C].
        labels: split name -> its labels [N].

    Returns:
        A `Duplicates` with every group of two or more identical images.
    """
    if set(images) != set(labels):
        raise ValueError(
            f"images and labels must name the same splits. Received: {sorted(images)} and {sorted(labels)}"
        )
    found: dict[bytes, list[tuple[str, int, int]]] = {}
    examples = 0
    for split, split_images in images.items():
        split_labels = np.asarray(labels[split])
        if len(split_labels) != len(split_images):
            raise ValueError(
                f"Split {split!r} has {len(split_images)} images and {len(split_labels)} labels; "
                "they must match."
            )
        examples += len(split_images)
        for index, digest in enumerate(image_digests(split_images)):
            found.setdefault(digest, []).append((split, index, int(split_labels[index])))
    groups = [
        DuplicateGroup(
            tuple((split, index) for split, index, _ in copies), tuple(label for *_, label in copies)
        )
        for copies in found.values()
        if len(copies) > 1
    ]
    groups.sort(key=lambda g: (not g.across_splits, not g.label_conflict, -len(g.members), g.members))
    return Duplicates(tuple(groups), examples)
