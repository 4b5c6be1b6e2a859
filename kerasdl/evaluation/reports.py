"""What every test-time evaluation shares: its examples checked one way, and a report that is JSON.

`evaluate_multicrop` and `evaluate_ensemble` both score a classifier on
labelled examples (`labelled_examples`) and return a frozen dataclass of
figures (`Report`) that an experiment saves in its results.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np


class Report:
    """A dataclass of figures; `to_dict` gives them as JSON (nested dataclasses and lists included)."""

    def to_dict(self) -> dict:
        return asdict(self)


def labelled_examples(images, labels) -> tuple[np.ndarray, np.ndarray]:
    """`images` and `labels` as arrays; a ValueError unless they are non-empty and of the same length."""
    images, labels = np.asarray(images), np.asarray(labels)
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError(
            f"images and labels must be non-empty and match. Received: {len(images)} and {len(labels)}"
        )
    return images, labels
