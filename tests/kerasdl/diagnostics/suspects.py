"""The label-issue case the diagnostics tests share, written once."""

import numpy as np


def two_suspects() -> tuple[np.ndarray, np.ndarray]:
    """(labels, probs): 60 examples, 3 classes, confidently predicted as labelled, except two.

    Example 7 (labelled 0, p(given) = 0.02) looks like class 1 and example 20
    (labelled 1, p(given) = 0.05) like class 2: the model is sure both belong elsewhere.
    """
    labels = np.repeat(np.arange(3), 20)
    probs = np.full((60, 3), 0.05)
    probs[np.arange(60), labels] = 0.9
    probs[7] = [0.02, 0.96, 0.02]
    probs[20] = [0.05, 0.05, 0.90]
    return labels, probs
