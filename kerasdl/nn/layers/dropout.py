"""Inverted dropout, the lesson's way.

Course 2, Week 1: "Dropout regularization".
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasdl")
class InvertedDropout(keras.layers.Layer):
    """Inverted dropout: keep each unit with probability keep_prob, scale by 1/keep_prob.

    Course 2, Week 1, in the lesson's NumPy:

        d3 = np.random.rand(a3.shape[0], a3.shape[1]) < keep_prob
        a3 = np.multiply(a3, d3)
        a3 /= keep_prob

    Dividing by keep_prob keeps the expected value of every activation
    unchanged, so nothing needs rescaling at test time, where there is no
    dropout ("No dropout at test time!"): the layer is the identity unless
    called with `training=True`. Backprop multiplies by the same mask and
    divides by keep_prob, which automatic differentiation does for us.

    Note the parameter is keep_prob, as in the lesson; Keras' `Dropout(rate)`
    takes the drop probability rate = 1 - keep_prob.

    Args:
        keep_prob: probability of keeping a unit, in (0, 1]; 1 disables dropout.
        seed: integer seed for the masks (a fresh mask each call, reproducible).

    Call arguments:
        inputs: any tensor.
        training: apply dropout only when True.
    """

    def __init__(self, keep_prob: float = 0.8, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(keep_prob, bool) or not isinstance(keep_prob, (int, float)) or not 0 < keep_prob <= 1:
            raise ValueError(f"keep_prob must be a number in (0, 1]. Received: keep_prob={keep_prob!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"seed must be None or an integer. Received: seed={seed!r}")
        self.keep_prob = float(keep_prob)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=False):
        if not training or self.keep_prob == 1.0:
            return inputs
        mask = (
            keras.random.uniform(ops.shape(inputs), dtype=inputs.dtype, seed=self.seed_generator)
            < self.keep_prob
        )
        # a * d / keep_prob, with the mask applied by selection (one op fewer than multiply-by-cast).
        return ops.where(mask, inputs * (1.0 / self.keep_prob), ops.zeros((), dtype=inputs.dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "keep_prob": self.keep_prob, "seed": self.seed}
