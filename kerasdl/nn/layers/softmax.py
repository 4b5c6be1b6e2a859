"""The softmax activation as a layer, numerically stable.

Course 2, Week 3: "Softmax regression".
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasdl")
class Softmax(keras.layers.Layer):
    """Softmax: a_i = exp(z_i) / sum_j exp(z_j) along `axis`.

    Course 2, Week 3: t = e^z, a = t / sum_i t_i. Computing e^z directly
    overflows for z > ~88 in float32, so the layer subtracts max(z) first:
    e^(z - c) / sum e^(z - c) is the same fraction for any constant c, and
    with c = max(z) every exponent is <= 0.

    Args:
        axis: the axis over which the probabilities sum to 1.

    Call arguments:
        inputs: logits z.
    """

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"axis must be an integer. Received: axis={axis!r}")
        self.axis = axis
        self.supports_masking = True

    def call(self, inputs):
        shifted = ops.subtract(inputs, ops.stop_gradient(ops.max(inputs, axis=self.axis, keepdims=True)))
        t = ops.exp(shifted)
        return t / ops.sum(t, axis=self.axis, keepdims=True)

    def compute_output_shape(self, input_shape):
        if not -len(input_shape) <= self.axis < len(input_shape):
            raise ValueError(
                f"axis is out of bounds for input shape {input_shape}. Received: axis={self.axis}"
            )
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}
