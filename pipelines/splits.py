"""Deterministic train / dev / test splits, including the mismatched setup.

Course 3, Week 1 (size of dev and test sets) and Week 2 (training and testing
on different distributions). Each example goes to a split by a hash of its
identity string, so the assignment is the same on every run, machine and
input order, and no example can be in two splits.

Copies of one image under two ids (found by content, e.g. by
`kerasdl.diagnostics.duplicates`) are kept together when the copies are
given as `groups`: the split of a group is decided once, by the hash of its
smallest id (`group_keys`), so every copy lands in the same split. An example
in no group is decided by its own id, so without copies the splits are the
same as without groups.

Policies:
- `small_data_split`: 60/20/20 train/dev/test, for thousands of examples.
- `big_data_split`: 98/1/1, for a million examples ("the new era").
- `mismatched_split`: the lesson's web-vs-app setup. Train = all of source A
  plus a share of source B; train-dev = a held-out slice with the training
  distribution; dev and test = source B only, from the same distribution.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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


def group_keys(ids: np.ndarray, groups: Iterable[Iterable[str]] = ()) -> np.ndarray:
    """The id that decides each example's split: the smallest id of its group, its own when in none.

    Args:
        ids: the examples' ids [N].
        groups: sets of ids that are copies of one image; an id in two
            groups joins them. A group may name ids that are not in `ids`
            (copies in another source): they take part in choosing the key.

    Returns:
        An array [N] of ids, equal for every member of a group.
    """
    ids = np.asarray(ids)
    parent: dict[str, str] = {}

    def root(i: str) -> str:
        while parent.get(i, i) != i:
            parent[i] = parent.get(parent[i], parent[i])  # path halving
            i = parent[i]
        return i

    for group in groups:
        members = [str(i) for i in group]
        for member in members[1:]:
            a, b = root(members[0]), root(member)
            if a != b:
                parent[max(a, b)] = min(a, b)  # the root of a group is its smallest id
    if not parent:
        return ids
    return np.array([root(str(i)) if str(i) in parent else i for i in ids], dtype=object)


def split_by_hash(
    source: ImageSource,
    fractions: Mapping[str, float],
    salt: str = "split",
    groups: Iterable[Iterable[str]] = (),
) -> dict[str, ImageSource]:
    """Splits `source` into named parts by `hash_assign`; the copies in each of `groups` stay together."""
    assignment = hash_assign(group_keys(source.ids, groups), fractions, salt)
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
    groups: Iterable[Iterable[str]] = (),
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
        groups: copies of one image, as sets of tagged ids ("A:<id>" for an
            example of source A, "B:<id>" for one of B). Every group lands in
            one split: a group of B examples only goes to train, dev or test
            by the hash of its smallest id; a group with a copy in source A
            goes wholly to the training distribution (its B copies join train,
            never dev or test, which are B's alone), and train or train-dev is
            chosen once for the whole group, by its smallest id. So a picture
            that trains is never also evaluated, and dev and test stay
            source B. Examples in no group are assigned exactly as without
            `groups`.

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
    groups = [tuple(str(i) for i in group) for group in groups]
    dev_test_share = (1 - b_train_share) / 2
    b_fractions = {"train": b_train_share, "dev": dev_test_share, "test": dev_test_share}
    b_keys = group_keys(b.ids, groups)
    b_assignment = hash_assign(b_keys, b_fractions, salt)
    # A group's key is its smallest id, and "A:..." < "B:...": a key from A means a copy in source A.
    b_assignment[np.char.startswith(b_keys.astype(str), "A:")] = "train"
    b_parts = {name: b.take(b_assignment == name, name=f"{b.name}/{name}") for name in b_fractions}
    pool = ImageSource.concatenate([a, b_parts["train"]], "train-distribution")
    held = split_by_hash(
        pool, {"train": 1 - train_dev_fraction, "train_dev": train_dev_fraction}, salt + "/train-dev", groups
    )
    return MismatchedSplit(
        train=held["train"].replace(name="train"),
        train_dev=held["train_dev"].replace(name="train_dev"),
        dev=b_parts["dev"].replace(name="dev"),
        test=b_parts["test"].replace(name="test"),
    )
