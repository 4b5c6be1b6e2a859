"""Subsets of a source: small train / dev sets, and hash-chosen (nested) subsets.

Course 2, Week 1 ("Train / dev / test sets", "Normalizing inputs"): the dev
set comes from the same distribution as the training set, and both are
standardized with the training set's mean and standard deviation. Small
training sets are deliberate here: they make a wide network overfit in a
few minutes on a CPU, which is what the regularization lessons need.

Example:

    data = small_train_dev(train_size=2000, dev_size=2000, batch_size=128, seed=0)
    model.fit(data.train, epochs=10)
    model.evaluate(data.dev)

Hash-chosen subsets (`hash_subset`, `nested_hash_subsets`) pick examples by a
hash of their identity, like the splits (`pipelines.splits`): the same
examples on every run, machine and input order. Nested subsets are what a
learning curve trains on (Course 2, Week 1 "Basic recipe for machine
learning": more data is the first remedy for variance): each smaller
training set is part of every larger one, so the curve changes only the
amount of data, never which examples a size happened to draw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import tensorflow as tf

from pipelines.datasets import to_dataset
from pipelines.hashing import identity_hashes, unit_interval
from pipelines.normalize import Standardizer
from pipelines.sources import ImageSource, fashion_mnist
from pipelines.splits import split_by_hash


@dataclass
class SmallData:
    """The datasets of one experiment.

    Attributes:
        train: shuffled training batches (for `fit`); it reshuffles on every
            pass, so code that trains several networks one after another on
            it gives each a different order: use `fresh_train()` instead.
        train_eval: the same training examples, unshuffled, for measuring
            training error in inference mode (dropout off, BN moving stats).
        dev: the dev batches.
        m: the number of training examples (the lesson's m, e.g. for L2).
        input_shape: the shape of one image.
        num_classes: the number of classes.
    """

    train: tf.data.Dataset
    train_eval: tf.data.Dataset
    dev: tf.data.Dataset
    m: int
    input_shape: tuple[int, ...]
    num_classes: int
    make_train: Callable[[], tf.data.Dataset] | None = field(default=None, repr=False)

    def fresh_train(self) -> tf.data.Dataset:
        """A new copy of `train` whose k-th pass has the same order as every other copy's k-th pass.

        Variants compared one after another each take one, so they differ in
        what is being compared and not in the order of their batches (and a
        variant resumed after an interruption sees the orders it would have).
        """
        if self.make_train is None:
            raise ValueError("This SmallData was built without make_train; it has only `train`.")
        return self.make_train()


def small_train_dev(
    train_size: int, dev_size: int, batch_size: int, seed: int = 0, data_dir: str | None = None
) -> SmallData:
    """About `train_size` training and `dev_size` dev examples of Fashion-MNIST.

    Examples are assigned by a hash of their identity (salted with `seed`),
    so the subsets are disjoint and the same on every machine; their sizes
    are within a few percent of the requested ones. `batch_size=None`
    is not allowed: pass `train_size` for batch gradient descent.

    Raises:
        pipelines.sources.SourceMissingError: the dataset is not installed.
        ValueError: sizes that are not positive or do not fit in 70,000.
    """
    pool = fashion_mnist("all", data_dir=data_dir)
    for name, value in (("train_size", train_size), ("dev_size", dev_size), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
    if train_size + dev_size > len(pool):
        raise ValueError(
            f"train_size + dev_size must be at most {len(pool)}. "
            f"Received: train_size={train_size}, dev_size={dev_size}"
        )
    fractions = {"train": train_size / len(pool), "dev": dev_size / len(pool)}
    fractions["rest"] = max(0.0, 1.0 - fractions["train"] - fractions["dev"])
    parts = split_by_hash(pool, fractions, salt=f"small_train_dev/{seed}")
    train, dev = parts["train"], parts["dev"]
    standardizer = Standardizer.fit(train.images)

    def make_train() -> tf.data.Dataset:
        return to_dataset(train, batch_size, shuffle=True, seed=seed, standardizer=standardizer)

    return SmallData(
        train=make_train(),
        train_eval=to_dataset(train, 1024, standardizer=standardizer),
        dev=to_dataset(dev, 1024, standardizer=standardizer),
        m=len(train),
        input_shape=train.image_shape,
        num_classes=train.num_classes,
        make_train=make_train,
    )


def hash_subset(source: ImageSource, size: int, salt: str) -> ImageSource:
    """About `size` examples of `source`, chosen by a hash of their ids (all of them if it has no more).

    The share kept is `size / len(source)`, so the count is within a few
    standard deviations of `size`; the same `salt` keeps the same examples.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive integer. Received: size={size!r}")
    if len(source) <= size:
        return source
    share = size / len(source)
    return split_by_hash(source, {"keep": share, "rest": 1 - share}, salt=salt)["keep"]


def nested_hash_subsets(source: ImageSource, fractions: Sequence[float], salt: str) -> list[ImageSource]:
    """Subsets of `source` holding about each fraction of it, every one inside the next larger one.

    An example belongs to the subset of fraction f when its identity hash,
    mapped to [0, 1), is below f. So the subsets are nested (below 1/8 is
    also below 1/4), stable (only the id and the salt decide), and fraction
    1 keeps every example.

    Args:
        source: the examples, e.g. the training split.
        fractions: increasing shares in (0, 1], e.g. (1/8, 1/4, 1/2, 1).
        salt: changes which examples each subset holds; keep it fixed.

    Returns:
        One `ImageSource` per fraction, in the order given, named
        "<source name>/<fraction>".
    """
    shares = [float(f) for f in fractions]
    increasing = all(a < b for a, b in zip(shares, shares[1:], strict=False))
    if not shares or not increasing or not all(0 < f <= 1 for f in shares):
        raise ValueError(
            f"fractions must be increasing shares in (0, 1]. Received: fractions={list(fractions)}"
        )
    position = unit_interval(identity_hashes(source.ids, salt))
    return [source.take(position < share, name=f"{source.name}/{share:g}") for share in shares]
