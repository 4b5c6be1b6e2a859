"""A transfer-learning task from one labelled dataset: source classes to pretrain on, a few-shot target.

Course 3, Week 2 ("Transfer learning"): task A has much data, task B little,
same input type. `class_transfer_split` builds such a pair from one dataset:
source = some classes with all their data, target = the other classes with
a few labelled examples each, chosen by identity hash.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.hashing import identity_hashes
from pipelines.sources import ImageSource


@dataclass(frozen=True)
class TransferSplit:
    """Task A (pretraining) and task B (target), with B's classes renumbered 0..k-1.

    Attributes:
        pretrain: all training examples of the source classes.
        pretrain_test: test examples of the source classes.
        target_train: `per_class` training examples of each target class.
        target_test: all test examples of the target classes.
    """

    pretrain: ImageSource
    pretrain_test: ImageSource
    target_train: ImageSource
    target_test: ImageSource


def _relabel(source: ImageSource, classes: tuple[int, ...], name: str) -> ImageSource:
    keep = np.isin(source.labels, classes)
    subset = source.take(keep, name=name)
    mapping = np.full(source.num_classes, -1, np.int64)
    mapping[list(classes)] = np.arange(len(classes))
    return subset.replace(
        labels=mapping[subset.labels], class_names=tuple(source.class_names[c] for c in classes)
    )


def class_transfer_split(
    train: ImageSource,
    test: ImageSource,
    source_classes: tuple[int, ...],
    per_class: int,
    salt: str = "transfer",
) -> TransferSplit:
    """Source task = `source_classes` (all their data); target = the other classes, `per_class` each.

    The target's labelled examples are the `per_class` examples of each class
    with the smallest identity hash (salted by `salt`): the same on every
    machine and run.
    """
    all_classes = tuple(range(train.num_classes))
    source_classes = tuple(sorted(set(source_classes)))
    target_classes = tuple(c for c in all_classes if c not in source_classes)
    if not source_classes or not target_classes or not set(source_classes) <= set(all_classes):
        raise ValueError(
            f"source_classes must be a non-empty proper subset of {all_classes}. Received: {source_classes}"
        )
    if not isinstance(per_class, int) or per_class < 1:
        raise ValueError(f"per_class must be a positive integer. Received: per_class={per_class!r}")
    target_pool = _relabel(train, target_classes, f"{train.name}/target")
    hashes = identity_hashes(target_pool.ids, salt)
    chosen = []
    for label in range(len(target_classes)):
        members = np.flatnonzero(target_pool.labels == label)
        if len(members) < per_class:
            raise ValueError(
                f"Class {target_classes[label]} has only {len(members)} examples. "
                f"Received: per_class={per_class}"
            )
        chosen.append(members[np.argsort(hashes[members], kind="stable")[:per_class]])
    return TransferSplit(
        pretrain=_relabel(train, source_classes, f"{train.name}/source"),
        pretrain_test=_relabel(test, source_classes, f"{test.name}/source"),
        target_train=target_pool.take(np.sort(np.concatenate(chosen))),
        target_test=_relabel(test, target_classes, f"{test.name}/target"),
    )
