"""L2 and L1 weight penalties written the way the lesson writes them.

Course 2, Week 1: "Regularization". The regularized cost is

    J = (1/m) sum_i L(y_hat_i, y_i) + lambda / (2m) * sum_l ||W[l]||_F^2     (L2)
    J = (1/m) sum_i L(y_hat_i, y_i) + lambda / (2m) * sum_l ||W[l]||_1       (L1)

and backprop adds (lambda / m) * W[l] to dW[l] for L2 ("weight decay"). The L1
form follows the course notes' convention, lambda / (2m) * ||w||_1 (the
lecture says lambda / m is also used; the 2 only rescales lambda).

Keras adds each layer's penalty once per batch to the batch's *mean* loss,
so the batch cost is an unbiased estimate of the lesson's J when `m` is the
number of examples in the training set (not the batch size).

Relation to the built-ins, tested in tests/kerasdl/nn/test_regularizers.py:
`L2(lambda_, m)` equals `keras.regularizers.L2(l2=lambda_ / (2 * m))` and
`L1(lambda_, m)` equals `keras.regularizers.L1(l1=lambda_ / (2 * m))`.
"""

from __future__ import annotations

import keras
from keras import ops


def _check_arguments(lambda_: float, m: int) -> None:
    if not lambda_ >= 0:
        raise ValueError(f"lambda_ must be a non-negative number. Received: lambda_={lambda_}")
    if not isinstance(m, int) or isinstance(m, bool) or m < 1:
        raise ValueError(f"m (the number of training examples) must be a positive integer. Received: m={m!r}")


class _LessonPenalty(keras.regularizers.Regularizer):
    """lambda / (2m) * norm(W): the shared part of L1 and L2."""

    def __init__(self, lambda_: float = 0.01, m: int = 1):
        _check_arguments(lambda_, m)
        self.lambda_ = float(lambda_)
        self.m = m

    @property
    def coefficient(self) -> float:
        """lambda / (2m): the factor Keras' own L1/L2 regularizers take."""
        return self.lambda_ / (2.0 * self.m)

    def _norm(self, weights):
        raise NotImplementedError

    def __call__(self, weights):
        return self.coefficient * self._norm(weights)

    def get_config(self) -> dict:
        return {"lambda_": self.lambda_, "m": self.m}


@keras.saving.register_keras_serializable(package="kerasdl")
class L2(_LessonPenalty):
    """The lesson's L2 penalty: lambda / (2m) * ||W||_F^2.

    Course 2, Week 1: L2 regularization ("weight decay": its gradient is
    (lambda / m) * W).

    Args:
        lambda_: the regularization strength lambda, >= 0.
        m: the number of training examples the data loss averages over.

    Example:

        >>> layer = keras.layers.Dense(10, kernel_regularizer=L2(lambda_=0.7, m=60000))
    """

    def _norm(self, weights):
        return ops.sum(ops.square(weights))


@keras.saving.register_keras_serializable(package="kerasdl")
class L1(_LessonPenalty):
    """The lesson's L1 penalty: lambda / (2m) * ||W||_1 (makes W sparse).

    Course 2, Week 1: L1 regularization, in the course notes' lambda / (2m)
    convention.

    Args:
        lambda_: the regularization strength lambda, >= 0.
        m: the number of training examples the data loss averages over.
    """

    def _norm(self, weights):
        return ops.sum(ops.abs(weights))
