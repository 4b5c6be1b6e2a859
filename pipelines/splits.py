"""Deterministic train / dev / test splits, including the mismatched setup.

Course 3, Week 1 (size of dev and test sets) and Week 2 (training and testing
on different distributions). Each example goes to a split by a hash of its
identity string, so the assignment is the same on every run, machine and
input order, and no example can be in two splits.

Policies:
- `small_data_split`: 60/20/20 train/dev/test, for thousands of examples.
- `big_data_split`: 98/1/1, for a million examples ("the new era").
- `mismatched_split`: the lesson's web-vs-app setup. Train = all of source A
  plus a share of source B; train-dev = a held-out slice with the training
  distribution; dev and test = source B only, from the same distribution.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from pipelines.hashing import identity_hashes, unit_interval
from pipelines.sources import ImageSource

SMALL_DATA = {"train": 0.6, "dev": 0.2, "test": 0.2}
BIG_DATA = {"train": 0.98, "dev": 0.01, "test": 0.01}


def hash_assign(ids: np.ndarray, fractions: Mapping[str, float], salt: str) -> np.ndarray:
    """Names the split of each id: an array of split names, one per id.

    Each id's hash, mapped to [0, 1), falls into one interval of the
    cumulative `fractions` (taken in the order given). Only the id and the
    salt decide; the position of the id in `ids` does not.
    """
    names = list(fractions)
    shares = np.array([fractions[n] for n in names], dtype=np.float64)
    if np.any(shares < 0) or not np.isclose(shares.sum(), 1.0):
        raise ValueError(
            f"Split fractions must be non-negative and sum to 1. Received: fractions={dict(fractions)}"
        )
    u = unit_interval(identity_hashes(ids, salt))
    edges = np.cumsum(shares)[:-1]
    return np.array(names, dtype=object)[np.searchsorted(edges, u, side="right")]


def split_by_hash(
    source: ImageSource, fractions: Mapping[str, float], salt: str = "split"
) -> dict[str, ImageSource]:
    """Splits `source` into named parts by `hash_assign`."""
    assignment = hash_assign(source.ids, fractions, salt)
    return {name: source.take(assignment == name, name=f"{source.name}/{name}") for name in fractions}


def small_data_split(source: ImageSource, salt: str = "split") -> dict[str, ImageSource]:
    """60/20/20 train/dev/test (the lesson's split for ~10,000 examples)."""
    return split_by_hash(source, SMALL_DATA, salt)


def big_data_split(source: ImageSource, salt: str = "split") -> dict[str, ImageSource]:
    """98/1/1 train/dev/test (the lesson's split for ~1,000,000 examples)."""
    return split_by_hash(source, BIG_DATA, salt)


@dataclass(frozen=True)
class MismatchedSplit:
    """The four splits of the lesson's mismatched setup.

    Attributes:
        train: source A plus `b_train_share` of source B, less train-dev.
        train_dev: a slice held out from the training distribution.
        dev: source B only.
        test: source B only, the same distribution as dev.
    """

    train: ImageSource
    train_dev: ImageSource
    dev: ImageSource
    test: ImageSource

    def as_dict(self) -> dict[str, ImageSource]:
        return {"train": self.train, "train_dev": self.train_dev, "dev": self.dev, "test": self.test}

    def sizes(self) -> dict[str, int]:
        return {name: len(part) for name, part in self.as_dict().items()}

    def composition(self) -> dict[str, dict[str, int]]:
        """How many examples of each source (A or B) every split holds."""
        return {
            name: {origin: int(np.sum(_origin_of(part.ids) == origin)) for origin in ("A", "B")}
            for name, part in self.as_dict().items()
        }

    def report(self) -> str:
        """A table of split sizes and their A/B composition, for humans."""
        lines = ["split      examples   from A   from B"]
        composition = self.composition()
        for name, size in self.sizes().items():
            lines.append(f"{name:<10} {size:>8}   {composition[name]['A']:>6}   {composition[name]['B']:>6}")
        return "\n".join(lines)


def _origin_of(ids: np.ndarray) -> np.ndarray:
    return np.array([str(i).split(":", 1)[0] for i in ids])


def _tag(source: ImageSource, origin: str) -> ImageSource:
    return source.replace(ids=np.array([f"{origin}:{i}" for i in source.ids]))


def mismatched_split(
    source_a: ImageSource,
    source_b: ImageSource,
    b_train_share: float = 0.5,
    train_dev_fraction: float = 0.05,
    salt: str = "mismatch",
) -> MismatchedSplit:
    """The lesson's split for training and testing on different distributions.

    Course 3, Week 2: with 200,000 web images (A) and 10,000 app images (B)
    that matter, put A and half of B in train, and split the rest of B
    between dev and test, so the team aims at the distribution it cares about.
    A train-dev slice, drawn from the training distribution and never trained
    on, tells variance (train-dev minus train) from data mismatch (dev minus
    train-dev).

    Args:
        source_a: the large source of other data (the "web" images).
        source_b: the source that matters (the "app" images).
        b_train_share: share of source B that goes to training, in [0, 1).
        train_dev_fraction: share of the training distribution held out as
            train-dev, in (0, 1).
        salt: changes every assignment; keep it fixed to keep the splits.

    Returns:
        A `MismatchedSplit`. Ids get an "A:" or "B:" prefix so every split's
        composition is visible and an id is unique across the two sources.
    """
    if not 0 <= b_train_share < 1:
        raise ValueError(f"b_train_share must be in [0, 1). Received: b_train_share={b_train_share}")
    if not 0 < train_dev_fraction < 1:
        raise ValueError(
            f"train_dev_fraction must be in (0, 1). Received: train_dev_fraction={train_dev_fraction}"
        )
    if source_a.class_names != source_b.class_names:
        raise ValueError("Sources A and B must have the same classes.")
    a, b = _tag(source_a, "A"), _tag(source_b, "B")
    dev_test_share = (1 - b_train_share) / 2
    b_parts = split_by_hash(b, {"train": b_train_share, "dev": dev_test_share, "test": dev_test_share}, salt)
    pool = ImageSource.concatenate([a, b_parts["train"]], "train-distribution")
    held = split_by_hash(
        pool, {"train": 1 - train_dev_fraction, "train_dev": train_dev_fraction}, salt + "/train-dev"
    )
    return MismatchedSplit(
        train=held["train"].replace(name="train"),
        train_dev=held["train_dev"].replace(name="train_dev"),
        dev=b_parts["dev"].replace(name="dev"),
        test=b_parts["test"].replace(name="test"),
    )
