"""Duplicates by content: the same image more than once, exactly or nearly, within or across splits.

Course 3, Week 1 ("Train/dev/test distributions") and DESIGN.md principle 3:
no example may sit in two splits. Splits are assigned by each example's
identity, so one picture saved twice under two names (or resized and
recompressed by the site it was scraped from) can land in train and in dev,
and the dev error then rewards memory instead of measuring generalization.
Copies that carry different labels are label conflicts (Course 3, Week 2,
"Cleaning up incorrectly labeled data").

Two hashes of each image's content:

- exact: SHA-256 of the image's shape and pixel bytes; equal digests mean
  identical pixels;
- perceptual: `imagehash.phash` with `hash_size=16` (the signs of the 16 x 16
  lowest-frequency DCT coefficients of the greyscale image, shrunk to 64 x 64,
  against their median: 256 bits). Resizing, JPEG recompression, small
  noise or a brightness change move few bits; a different picture moves
  many. Two images are near duplicates when their hashes differ in at most
  `NEAR_DUPLICATE_BITS` bits.

`near_pairs` finds every pair within that Hamming distance without comparing
every pair (multi-index hashing, Norouzi, Punjani & Fleet 2012): the bits are
dealt into `max_distance + 1` disjoint chunks, and by the pigeonhole
principle two hashes at most `max_distance` apart agree exactly on at least
one chunk. Only examples that share a chunk's value are compared, with
NumPy's popcount. `find_duplicates` joins exact and near pairs into groups
(connected components, so a chain of near copies is one group).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from kerasdl.diagnostics.images import image_grid

PERCEPTUAL_HASH_SIZE = 16  # imagehash.phash(hash_size=16): 256 bits per image
NEAR_DUPLICATE_BITS = 20  # of 256: resized and JPEG-recompressed copies differ in fewer
# Smaller images have fewer pixels than the hash has bits: most of its coefficients are interpolation
# artefacts shared by unrelated images, so only identical pixels are looked for.
MIN_NEAR_DUPLICATE_SIDE = PERCEPTUAL_HASH_SIZE
_PAIRS_PER_BLOCK = 4_000_000  # candidate pairs compared at once (bounds memory: ~100 MB)


@dataclass(frozen=True)
class DuplicateGroup:
    """Copies of one image: identical pixels, or perceptual hashes within the threshold.

    Attributes:
        members: (split, index in that split) of each copy, in split order.
        labels: the label of each copy.
        identical: whether every copy has the same pixels (an exact group);
            False for a near group (resized, recompressed, ... copies).
    """

    members: tuple[tuple[str, int], ...]
    labels: tuple[int, ...]
    identical: bool = True

    @property
    def kind(self) -> str:
        """ "exact" or "near"."""
        return "exact" if self.identical else "near"

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
    """Every group of copies among the examples looked at.

    Attributes:
        groups: groups of two or more copies; those across splits first, then
            label conflicts, then the largest.
        examples: how many examples were looked at.
        near_bits: the Hamming distance (of `hash_bits`) within which two
            perceptual hashes are near duplicates; None if near duplicates
            were not searched.
        hash_bits: bits per perceptual hash.
    """

    groups: tuple[DuplicateGroup, ...]
    examples: int
    near_bits: int | None = NEAR_DUPLICATE_BITS
    hash_bits: int = PERCEPTUAL_HASH_SIZE**2

    def counts(self) -> dict[str, int]:
        """groups, exact_groups, near_groups, extra_copies (beyond the first of each group),
        across_splits, label_conflicts."""
        return {
            "groups": len(self.groups),
            "exact_groups": sum(g.identical for g in self.groups),
            "near_groups": sum(not g.identical for g in self.groups),
            "extra_copies": sum(len(g.members) - 1 for g in self.groups),
            "across_splits": sum(g.across_splits for g in self.groups),
            "label_conflicts": sum(g.label_conflict for g in self.groups),
        }

    def searched(self) -> str:
        """What counts as a copy, in words."""
        if self.near_bits is None:
            return "identical pixels only"
        return (
            f"identical pixels, or perceptual hashes at most {self.near_bits} of {self.hash_bits} bits apart"
        )

    def summary_line(self) -> str:
        """One sentence with the counts and what was searched."""
        c = self.counts()
        if not c["groups"]:
            return f"No duplicates among {self.examples:,} examples ({self.searched()})."
        return (
            f"{c['groups']} groups of copies among {self.examples:,} examples ({self.searched()}): "
            f"{c['exact_groups']} exact, {c['near_groups']} near; {c['extra_copies']} extra copies; "
            f"{c['across_splits']} across splits (a leak into the evaluation), "
            f"{c['label_conflicts']} with conflicting labels."
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
        lines += ["", "| group | kind | copies (split: example) | labels |", "|---|---|---|---|"]
        for number, group in enumerate(self.groups[:k], start=1):
            copies = ", ".join(
                f"{split}: {ids[split][index] if ids is not None else index}"
                for split, index in group.members
            )
            lines.append(f"| {number} | {group.kind} | {copies} | {_label_names(group, class_names, ', ')} |")
        return "\n".join(lines)

    def grid(self, images: Mapping[str, np.ndarray], class_names: Sequence[str], k: int = 8) -> np.ndarray:
        """The first two copies of each of the first `k` groups side by side, captioned.

        Each caption: the group's number and kind, then the copy's split and
        label, so a pair across splits or with two labels shows at a glance.
        """
        if not self.groups:
            raise ValueError("There are no duplicate groups to show.")
        tiles, captions = [], []
        for number, group in enumerate(self.groups[:k], start=1):
            for split, index in group.members[:2]:
                tiles.append(np.asarray(images[split])[index])
                label = class_names[group.labels[group.members.index((split, index))]]
                captions.append(f"#{number} {group.kind}\n{split}: {label}")
        return image_grid(np.stack(tiles), captions, columns=4)


def _label_names(group: DuplicateGroup, class_names: Sequence[str], separator: str) -> str:
    return separator.join(dict.fromkeys(class_names[label] for label in group.labels))


def image_digests(images: np.ndarray) -> list[bytes]:
    """SHA-256 of each image's shape and pixel bytes (equal digests: identical images)."""
    digests = []
    for block in _chunks(images):
        shape = repr(block.shape[1:]).encode()
        digests += [hashlib.sha256(shape + np.ascontiguousarray(image).tobytes()).digest() for image in block]
    return digests


def _chunks(images, size: int = 1024):
    """`images` (an array, or any array-like that slices, such as images streamed from disk) in arrays."""
    for start in range(0, len(images), size):
        yield np.asarray(images[start : start + size])


def perceptual_hashes(images: np.ndarray, hash_size: int = PERCEPTUAL_HASH_SIZE) -> np.ndarray:
    """`imagehash.phash` of each image, as bits: bool [N, hash_size**2].

    Args:
        images: uint8 [N, H, W, C] with C = 1 or 3 (imagehash makes RGB greyscale).
        hash_size: the side of the block of DCT coefficients kept.
    """
    import imagehash
    from PIL import Image

    shape = np.shape(images)
    if len(shape) != 4 or shape[-1] not in (1, 3):
        raise ValueError(f"images must be [N, H, W, 1 or 3]. Received: shape={shape}")
    bits = np.empty((len(images), hash_size * hash_size), bool)
    row = 0
    for block in _chunks(images):
        for picture in block[..., 0] if shape[-1] == 1 else block:
            bits[row] = imagehash.phash(
                Image.fromarray(np.asarray(picture, np.uint8)), hash_size=hash_size
            ).hash.ravel()
            row += 1
    return bits


def hamming_distances(packed: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Bits that differ between the packed hashes `packed[first]` and `packed[second]` (element-wise)."""
    return np.bitwise_count(packed[first] ^ packed[second]).sum(axis=1, dtype=np.int64)


def near_pairs(bits: np.ndarray, max_distance: int) -> np.ndarray:
    """Every pair of hashes at most `max_distance` bits apart, by multi-index hashing.

    Args:
        bits: bool [N, B], one hash per row.
        max_distance: the largest Hamming distance of a pair, >= 0.

    Returns:
        int64 [P, 2], rows (i, j) with i < j, sorted.
    """
    bits = np.asarray(bits, bool)
    if max_distance < 0:
        raise ValueError(f"max_distance must be >= 0. Received: max_distance={max_distance}")
    n = len(bits)
    packed = _packed_words(bits)
    # Bits equal in every hash add nothing to a distance; deal the others into chunks, the most
    # balanced (highest entropy) first and round robin, so that no chunk's buckets are needlessly large.
    share = bits.mean(axis=0) if n else np.zeros(bits.shape[1])
    varying = np.flatnonzero((share > 0) & (share < 1))
    chunks = max_distance + 1
    if n < 2:
        return np.zeros((0, 2), np.int64)
    if len(varying) < chunks:  # some chunk would be empty: every pair is a candidate
        return _all_pairs_within(packed, max_distance)
    entropy = -(share * np.log2(share + 1e-12) + (1 - share) * np.log2(1 - share + 1e-12))
    order = varying[np.argsort(-entropy[varying], kind="stable")]
    found = []
    for chunk in range(chunks):
        keys = np.packbits(bits[:, order[chunk::chunks]], axis=1)
        _, bucket = np.unique(keys, axis=0, return_inverse=True)
        found.append(_pairs_in_buckets(bucket.ravel(), packed, max_distance))
    pairs = np.concatenate(found)
    if not len(pairs):
        return np.zeros((0, 2), np.int64)
    codes = np.unique(pairs[:, 0] * n + pairs[:, 1])
    return np.stack([codes // n, codes % n], axis=1)


def _packed_words(bits: np.ndarray) -> np.ndarray:
    packed = np.packbits(bits, axis=1)
    padding = -packed.shape[1] % 8
    return np.pad(packed, ((0, 0), (0, padding))).view(np.uint64)


def _pairs_in_buckets(bucket: np.ndarray, packed: np.ndarray, max_distance: int) -> np.ndarray:
    """The pairs (i < j) of examples in one bucket whose distance is at most `max_distance`."""
    order = np.argsort(bucket, kind="stable")
    ordered = bucket[order]
    run_end = np.searchsorted(ordered, ordered, side="right")  # one past the last of each one's bucket
    partners = run_end - np.arange(len(order)) - 1  # later members of its bucket
    found = []
    positions = np.flatnonzero(partners)
    totals = np.cumsum(partners[positions])
    start = 0
    while start < len(positions):  # blocks of about _PAIRS_PER_BLOCK candidate pairs
        base = totals[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(totals, base + _PAIRS_PER_BLOCK, side="right")))
        block = positions[start:stop]
        counts = partners[block]
        first = np.repeat(block, counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        second = first + 1 + offsets
        i, j = order[first], order[second]
        close = hamming_distances(packed, i, j) <= max_distance
        found.append(np.stack([np.minimum(i, j)[close], np.maximum(i, j)[close]], axis=1))
        start = stop
    return np.concatenate(found) if found else np.zeros((0, 2), np.int64)


def _all_pairs_within(packed: np.ndarray, max_distance: int) -> np.ndarray:
    first, second = np.triu_indices(len(packed), k=1)
    close = hamming_distances(packed, first, second) <= max_distance
    return np.stack([first[close], second[close]], axis=1).astype(np.int64)


def find_duplicates(
    images: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray],
    near_bits: int | None = NEAR_DUPLICATE_BITS,
) -> Duplicates:
    """Groups of copies (identical, or perceptually near) within and across named splits.

    Args:
        images: split name -> its images [N, H, W, C].
        labels: split name -> its labels [N].
        near_bits: two images whose perceptual hashes differ in at most this
            many of their 256 bits are near duplicates; None looks for
            identical pixels only, as do images with a side shorter than
            `MIN_NEAR_DUPLICATE_SIDE` pixels.

    Returns:
        A `Duplicates` with every group of two or more copies: the connected
        components of "identical or near" pairs.
    """
    if set(images) != set(labels):
        raise ValueError(
            f"images and labels must name the same splits. Received: {sorted(images)} and {sorted(labels)}"
        )
    if near_bits is not None and near_bits < 0:
        raise ValueError(f"near_bits must be >= 0 or None. Received: near_bits={near_bits}")
    shapes = [np.shape(split_images)[1:3] for split_images in images.values() if len(split_images)]
    if shapes and min(min(shape) for shape in shapes) < MIN_NEAR_DUPLICATE_SIDE:
        near_bits = None
    members, all_labels, digests, hashes = [], [], [], []
    for split, split_images in images.items():
        split_labels = np.asarray(labels[split])
        if len(split_labels) != len(split_images):
            raise ValueError(
                f"Split {split!r} has {len(split_images)} images and {len(split_labels)} labels; "
                "they must match."
            )
        members += [(split, index) for index in range(len(split_images))]
        all_labels += [int(label) for label in split_labels]
        for block in _chunks(split_images):  # one read of images streamed from disk, for both hashes
            digests += image_digests(block)
            if near_bits is not None:
                hashes.append(perceptual_hashes(block))
    _, digest_ids = np.unique(np.array(digests, dtype=object).astype("S32"), return_inverse=True)
    edges = [_chain(digest_ids.ravel())]
    if near_bits is not None and hashes:
        edges.append(near_pairs(np.concatenate(hashes), near_bits))
    component = _components(len(members), np.concatenate(edges))
    groups = []
    for copies in _indices_by_component(component):
        if len(copies) < 2:
            continue
        groups.append(
            DuplicateGroup(
                tuple(members[i] for i in copies),
                tuple(all_labels[i] for i in copies),
                identical=len(set(digest_ids.ravel()[copies])) == 1,
            )
        )
    groups.sort(key=lambda g: (not g.across_splits, not g.label_conflict, -len(g.members), g.members))
    return Duplicates(tuple(groups), len(members), near_bits=near_bits)


def _chain(keys: np.ndarray) -> np.ndarray:
    """Edges joining each example to the next one with the same key (equal keys: one component)."""
    order = np.argsort(keys, kind="stable")
    same = keys[order[1:]] == keys[order[:-1]]
    return np.stack([order[:-1][same], order[1:][same]], axis=1).astype(np.int64)


def _components(n: int, edges: np.ndarray) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _indices_by_component(component: np.ndarray) -> list[np.ndarray]:
    order = np.argsort(component, kind="stable")
    boundaries = np.flatnonzero(np.diff(component[order])) + 1
    return np.split(order, boundaries)
