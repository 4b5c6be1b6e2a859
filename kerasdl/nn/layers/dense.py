"""A fully connected layer written out: Z = A_prev W + b, A = g(Z).

Course 1, Week 3-4: "Forward propagation in a deep network".
"""

from __future__ import annotations

import keras
from keras import activations, initializers, ops, regularizers


@keras.saving.register_keras_serializable(package="kerasdl")
class Dense(keras.layers.Layer):
    """Fully connected layer: A = g(A_prev W + b).

    Course 1, Week 4: Z[l] = W[l] A[l-1] + b[l], A[l] = g[l](Z[l]). The lesson
    stacks examples as columns (A is [n, m], W is [n[l], n[l-1]]); Keras stacks
    them as rows, so this layer's `kernel` is W[l] transposed, [n[l-1], n[l]],
    and Z = A_prev @ kernel + b. Same numbers, same gradients
    (dW = dZ A_prev^T / m in the lesson is kernel's gradient transposed).

    Drop the bias (`use_bias=False`) when a `BatchNorm` follows: its beta
    replaces b (Course 2, Week 3).

    Args:
        units: n[l], the number of units, a positive integer.
        activation: g, any Keras activation name or callable (None: linear).
        use_bias: whether to add b.
        kernel_initializer: initializer for W (see `kerasdl.nn.initializers.He`
            for ReLU layers, `Xavier` for tanh).
        bias_initializer: initializer for b (zeros, as in the lesson).
        kernel_regularizer: penalty on W, e.g. `kerasdl.nn.regularizers.L2`.
        bias_regularizer: penalty on b (the lesson leaves b unpenalized).

    Call arguments:
        inputs: tensor [..., n[l-1]].

    Example:

        >>> layer = Dense(4, activation="relu")
        >>> layer(keras.ops.ones((2, 3))).shape
        (2, 4)
    """

    def __init__(
        self,
        units: int,
        activation=None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(f"units must be a positive integer. Received: units={units!r}")
        if not isinstance(use_bias, bool):
            raise ValueError(f"use_bias must be True or False. Received: use_bias={use_bias!r}")
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    def build(self, input_shape):
        n_prev = input_shape[-1]
        if n_prev is None:
            raise ValueError(f"The last input dimension must be known. Received: input_shape={input_shape}")
        self.kernel = self.add_weight(
            shape=(n_prev, self.units),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(self.units,),
                name="bias",
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
            )
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: n_prev})

    def call(self, inputs):
        z = ops.matmul(inputs, self.kernel)
        if self.use_bias:
            z = ops.add(z, self.bias)
        return self.activation(z)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
        }
