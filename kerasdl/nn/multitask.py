"""Multi-task learning with missing labels.

Course 3, Week 2 ("Multi-task learning"): one network predicts several
binary labels per image (the lesson's pedestrians, cars, stop signs,
traffic lights), with a sigmoid per task rather than one softmax, since an
image can have several labels at once. Labels may be missing ('?', stored
as `MISSING` = -1); the loss sums only over the labels that are there:

    J = 1/m  sum_i  sum_{j : y_j^(i) != ?}  L(yhat_j^(i), y_j^(i))
    L(yhat, y) = -y log(yhat) - (1 - y) log(1 - yhat)

so a missing label contributes nothing to the loss and its gradient is
exactly zero.

Fashion-MNIST has one class per image, so `fashion_attributes` derives
binary attributes from the classes (footwear, upper body, has sleeves,
carried); "has sleeves" is genuinely unknown for dresses and is '?' for
them, and `hide_labels` removes a further share of labels at random.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

MISSING = -1
ATTRIBUTES = ("footwear", "upper_body", "has_sleeves", "carried")
# Fashion-MNIST classes: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt,
# 7 Sneaker, 8 Bag, 9 Ankle boot. One row per class, one column per attribute; -1 = unknown.
_ATTRIBUTE_TABLE = np.array(
    [
        [0, 1, 1, 0],  # T-shirt/top (short sleeves count)
        [0, 0, 0, 0],  # Trouser
        [0, 1, 1, 0],  # Pullover
        [0, 1, MISSING, 0],  # Dress: some have sleeves, some do not
        [0, 1, 1, 0],  # Coat
        [1, 0, 0, 0],  # Sandal
        [0, 1, 1, 0],  # Shirt
        [1, 0, 0, 0],  # Sneaker
        [0, 0, 0, 1],  # Bag
        [1, 0, 0, 0],  # Ankle boot
    ],
    dtype=np.int64,
)


def fashion_attributes(labels: np.ndarray) -> np.ndarray:
    """The binary attributes [N, 4] (`ATTRIBUTES`, -1 where unknown) of Fashion-MNIST class labels [N]."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(
            f"labels must be Fashion-MNIST class indices 0..9 in a 1-D array. Received: {labels!r}"
        )
    return _ATTRIBUTE_TABLE[labels]


def hide_labels(labels: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """A copy of `labels` [N, T] with a random `fraction` of the entries set to `MISSING` ('?')."""
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction must be in [0, 1). Received: fraction={fraction}")
    labels = np.array(labels, dtype=np.int64, copy=True)
    hidden = np.random.default_rng(seed).random(labels.shape) < fraction
    labels[hidden] = MISSING
    return labels


@keras.saving.register_keras_serializable(package="kerasdl")
class MaskedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy summed over the labelled tasks, averaged over examples.

    Course 3, Week 2: J = 1/m sum_i sum_{j : y_j != ?} L(yhat_j, y_j). Missing
    labels (`MISSING`, or any negative value) are masked out: their loss and
    gradient are exactly zero.

    Args:
        from_logits: `y_pred` are logits rather than sigmoid probabilities
            (more stable; the model then ends in a linear layer).
        name: the loss's name.

    Example:
        >>> loss = MaskedBinaryCrossentropy()
        >>> float(loss([[1, -1]], [[0.5, 0.9]]))  # only the first task counts: -log(0.5)
        0.6931...
    """

    def __init__(self, from_logits: bool = False, name: str = "masked_binary_crossentropy", **kwargs):
        if not isinstance(from_logits, bool):
            raise ValueError(f"from_logits must be True or False. Received: from_logits={from_logits!r}")
        super().__init__(name=name, reduction="sum_over_batch_size", **kwargs)
        self.from_logits = from_logits

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.cast(y_true, y_pred.dtype)
        mask = ops.cast(y_true >= 0, y_pred.dtype)
        # Missing entries get a dummy target of 0; the mask then removes them (value and gradient).
        targets = y_true * mask
        per_label = keras.losses.binary_crossentropy(
            ops.expand_dims(targets, -1), ops.expand_dims(y_pred, -1), from_logits=self.from_logits
        )
        return ops.sum(ops.where(mask > 0, per_label, ops.zeros_like(per_label)), axis=-1)

    def get_config(self):
        return {"name": self.name, "from_logits": self.from_logits}


@keras.saving.register_keras_serializable(package="kerasdl")
class MaskedBinaryAccuracy(keras.metrics.Metric):
    """Accuracy of one task's (or all tasks') predictions over the labelled entries only.

    Args:
        task: the column to score, or None for all columns together.
        threshold: the probability (or logit, with `from_logits`) above which
            the prediction is 1.
        from_logits: predictions are logits (threshold applies to sigmoid).
    """

    def __init__(self, task: int | None = None, threshold: float = 0.5, from_logits: bool = False, name=None,
                 **kwargs):  # fmt: skip
        if task is not None and (not isinstance(task, int) or task < 0):
            raise ValueError(f"task must be None or a column index >= 0. Received: task={task!r}")
        if not 0 < threshold < 1:
            raise ValueError(f"threshold must be in (0, 1). Received: threshold={threshold}")
        super().__init__(
            name=name or ("masked_accuracy" if task is None else f"task{task}_accuracy"), **kwargs
        )
        self.task, self.threshold, self.from_logits = task, threshold, from_logits
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.convert_to_tensor(y_pred)
        if self.from_logits:
            y_pred = ops.sigmoid(y_pred)
        y_true = ops.cast(y_true, "float32")
        if self.task is not None:
            y_true, y_pred = y_true[:, self.task], y_pred[:, self.task]
        mask = ops.cast(y_true >= 0, "float32")
        hits = ops.cast(ops.cast(y_pred > self.threshold, "float32") == y_true, "float32") * mask
        self.correct.assign_add(ops.sum(hits))
        self.count.assign_add(ops.sum(mask))

    def result(self):
        return ops.divide_no_nan(self.correct, self.count)

    def reset_state(self):
        self.correct.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        config = super().get_config()
        config.update({"task": self.task, "threshold": self.threshold, "from_logits": self.from_logits})
        return config
