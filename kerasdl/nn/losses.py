"""Cross-entropy losses as the lessons write them, finite where y_pred is exactly 0 or 1.

Course 1, Week 2 (logistic regression) and Course 2, Week 3 (softmax):

    binary:       L(a, y) = -( y log a + (1 - y) log(1 - a) )
    categorical:  L(y_hat, y) = -sum_j y_j log y_hat_j

Written literally, both are inf (and their gradients nan) as soon as a
sigmoid or softmax saturates to exactly 0 or 1 in float32, which happens
for logits beyond about +-17 (sigmoid) or differences beyond about 104
(softmax). Two remedies, the same as Keras':

- probabilities are clipped to [epsilon, 1 - epsilon] (epsilon =
  `keras.config.epsilon()`, 1e-7) before the log, and categorical
  predictions are first renormalized to sum to 1;
- with `from_logits=True` the log is never taken of a probability:
  `log sigmoid(z)` and `log softmax(z)` are computed stably,

      binary:       max(z, 0) - z y + log(1 + exp(-|z|))
      categorical:  -sum_j y_j (z_j - logsumexp(z)).

The per-example values equal `keras.losses.binary_crossentropy`,
`categorical_crossentropy` and `sparse_categorical_crossentropy`
(tests/kerasdl/nn/test_losses.py checks them, edges included), except that
Keras' sparse version on probabilities renormalizes after clipping, so at
a saturated prediction the two differ by at most (classes - 1) * epsilon. The classes are
registered, so a compiled model that uses them saves and loads as `.keras`.

Label smoothing (Szegedy et al. 2016, "Rethinking the Inception
architecture"; a speedrun staple) trains on softened targets: with
`label_smoothing=e`, a one-hot y becomes (1 - e) y + e / K over K classes
(binary: (1 - e) y + e / 2), as Keras' losses define it. The network is
then never pushed to infinitely confident logits.

Example:

    model.compile("adam", kerasdl.nn.losses.SparseCategoricalCrossentropy(from_logits=True))
"""

from __future__ import annotations

import keras
from keras import ops


def _epsilon(epsilon: float | None) -> float:
    epsilon = keras.config.epsilon() if epsilon is None else epsilon
    if not 0 < epsilon < 0.5:
        raise ValueError(f"epsilon must be in (0, 0.5). Received: epsilon={epsilon}")
    return float(epsilon)


def _smoothing(label_smoothing: float) -> float:
    if not 0 <= label_smoothing < 1:
        raise ValueError(f"label_smoothing must be in [0, 1). Received: label_smoothing={label_smoothing}")
    return float(label_smoothing)


def binary_crossentropy(
    y_true, y_pred, from_logits: bool = False, epsilon: float | None = None, label_smoothing: float = 0.0
):
    """Per-example binary cross-entropy, averaged over the last axis (as Keras does).

    Args:
        y_true: labels in {0, 1} (or soft labels in [0, 1]).
        y_pred: probabilities a = sigmoid(z), or the logits z with `from_logits=True`.
        from_logits: whether `y_pred` holds logits.
        epsilon: clipping margin for probabilities (default `keras.config.epsilon()`).
        label_smoothing: e in [0, 1): the targets become (1 - e) y + e / 2.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    smoothing = _smoothing(label_smoothing)
    if smoothing:
        y_true = y_true * (1.0 - smoothing) + 0.5 * smoothing
    if from_logits:
        losses = ops.relu(y_pred) - y_pred * y_true + ops.log1p(ops.exp(-ops.abs(y_pred)))
    else:
        eps = _epsilon(epsilon)
        a = ops.clip(y_pred, eps, 1.0 - eps)
        losses = -(y_true * ops.log(a) + (1.0 - y_true) * ops.log(1.0 - a))
    return ops.mean(losses, axis=-1)


def categorical_crossentropy(
    y_true, y_pred, from_logits: bool = False, epsilon: float | None = None, label_smoothing: float = 0.0
):
    """Per-example categorical cross-entropy -sum_j y_j log y_hat_j over the last axis.

    Args:
        y_true: one-hot (or soft) labels.
        y_pred: probabilities y_hat = softmax(z), or the logits z with `from_logits=True`.
        from_logits: whether `y_pred` holds logits.
        epsilon: clipping margin for probabilities (default `keras.config.epsilon()`).
        label_smoothing: e in [0, 1): the targets become (1 - e) y + e / K over K classes.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    smoothing = _smoothing(label_smoothing)
    if smoothing:
        y_true = y_true * (1.0 - smoothing) + smoothing / ops.shape(y_pred)[-1]
    if from_logits:
        log_probabilities = ops.log_softmax(y_pred, axis=-1)
    else:
        eps = _epsilon(epsilon)
        y_hat = y_pred / ops.sum(y_pred, axis=-1, keepdims=True)
        log_probabilities = ops.log(ops.clip(y_hat, eps, 1.0 - eps))
    return -ops.sum(y_true * log_probabilities, axis=-1)


def sparse_categorical_crossentropy(
    y_true, y_pred, from_logits: bool = False, epsilon: float | None = None, label_smoothing: float = 0.0
):
    """`categorical_crossentropy` with integer labels (shape [batch] or [batch, 1])."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    if len(y_true.shape) == len(y_pred.shape):
        y_true = ops.squeeze(y_true, axis=-1)
    one_hot = ops.one_hot(ops.cast(y_true, "int32"), ops.shape(y_pred)[-1], dtype=y_pred.dtype)
    return categorical_crossentropy(
        one_hot, y_pred, from_logits=from_logits, epsilon=epsilon, label_smoothing=label_smoothing
    )


class _CrossEntropy(keras.losses.Loss):
    """A `keras.losses.Loss` around one of the functions above."""

    function = None

    def __init__(
        self,
        from_logits: bool = False,
        epsilon: float | None = None,
        label_smoothing: float = 0.0,
        name=None,
        **kwargs,
    ):
        if epsilon is not None:
            _epsilon(epsilon)
        super().__init__(name=name or type(self).__name__.lower(), **kwargs)
        self.from_logits = bool(from_logits)
        self.epsilon = epsilon
        self.label_smoothing = _smoothing(label_smoothing)

    def call(self, y_true, y_pred):
        return type(self).function(
            y_true,
            y_pred,
            from_logits=self.from_logits,
            epsilon=self.epsilon,
            label_smoothing=self.label_smoothing,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "epsilon": self.epsilon,
            "label_smoothing": self.label_smoothing,
        }


@keras.saving.register_keras_serializable(package="kerasdl")
class BinaryCrossentropy(_CrossEntropy):
    """The lesson's logistic-regression loss; see `binary_crossentropy`."""

    function = staticmethod(binary_crossentropy)


@keras.saving.register_keras_serializable(package="kerasdl")
class CategoricalCrossentropy(_CrossEntropy):
    """The lesson's softmax loss on one-hot labels; see `categorical_crossentropy`."""

    function = staticmethod(categorical_crossentropy)


@keras.saving.register_keras_serializable(package="kerasdl")
class SparseCategoricalCrossentropy(_CrossEntropy):
    """The lesson's softmax loss on integer labels; see `sparse_categorical_crossentropy`."""

    function = staticmethod(sparse_categorical_crossentropy)
