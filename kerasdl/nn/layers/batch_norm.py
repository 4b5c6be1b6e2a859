"""Batch normalization written out, with moving averages for inference.

Course 2, Week 3: "Normalizing activations in a network", "Fitting batch
norm into a neural network", "Batch norm at test time".
"""

from __future__ import annotations

import keras
from keras import initializers, ops

from kerasdl.nn.ewma import ewma_update


@keras.saving.register_keras_serializable(package="kerasdl")
class BatchNorm(keras.layers.Layer):
    """Batch normalization: gamma * (z - mu) / sqrt(sigma^2 + eps) + beta.

    Course 2, Week 3. In training, over the mini-batch (and every axis but
    `axis`):

        mu = (1/m) sum_i z_i,   sigma^2 = (1/m) sum_i (z_i - mu)^2
        z_norm = (z - mu) / sqrt(sigma^2 + eps)
        z_tilde = gamma * z_norm + beta

    (computed as z * s + (beta - mu * s) with s = gamma / sqrt(sigma^2 + eps),
    the same expression with the per-feature work done once) and
    exponentially weighted averages of mu and sigma^2 are kept
    ("keep track of moving average mu and sigma^2 in training time and use
    it at test time"): moving = momentum * moving + (1 - momentum) * batch
    (`kerasdl.nn.ewma.ewma_update` with beta = momentum). At inference the
    moving averages replace mu and sigma^2, so one example alone gets a
    deterministic output.

    beta makes the bias of the preceding layer redundant (any constant added
    to z is removed by subtracting mu): build that layer with
    `use_bias=False`, as the lesson says ("if we use batch norm, we can
    ignore b[l]").

    The conventions match `keras.layers.BatchNormalization` (momentum 0.99
    is the EWMA's beta, epsilon 1e-3, biased batch variance), so the two
    give the same outputs and moving statistics with the same weights;
    tests/kerasdl/nn/layers/test_batch_norm.py checks it.

    Args:
        axis: the feature axis that gets its own gamma and beta.
        momentum: the moving averages' beta, in [0, 1).
        epsilon: added to sigma^2, > 0.
        center: learn beta (False: beta = 0).
        scale: learn gamma (False: gamma = 1).
        beta_initializer, gamma_initializer, moving_mean_initializer,
        moving_variance_initializer: initializers of the four weights.

    Call arguments:
        inputs: tensor with the feature axis `axis`.
        training: True normalizes with the batch's statistics and updates the
            moving averages; False uses the moving averages. A frozen layer
            (`trainable=False`) always runs in inference mode, like Keras'.
    """

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"axis must be an integer. Received: axis={axis!r}")
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
            raise ValueError(f"momentum must be a number in [0, 1). Received: momentum={momentum!r}")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon > 0:
            raise ValueError(f"epsilon must be a positive number. Received: epsilon={epsilon!r}")
        for name, value in (("center", center), ("scale", scale)):
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be True or False. Received: {name}={value!r}")
        self.axis = axis
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = center
        self.scale = scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.supports_masking = True

    def build(self, input_shape):
        rank = len(input_shape)
        if not -rank <= self.axis < rank:
            raise ValueError(
                f"axis is out of bounds for input shape {input_shape}. Received: axis={self.axis}"
            )
        axis = self.axis % rank
        features = input_shape[axis]
        if features is None:
            raise ValueError(f"The feature axis must have a known size. Received: input_shape={input_shape}")
        shape = (features,)
        self.gamma = (
            self.add_weight(shape=shape, name="gamma", initializer=self.gamma_initializer)
            if self.scale
            else None
        )
        self.beta = (
            self.add_weight(shape=shape, name="beta", initializer=self.beta_initializer)
            if self.center
            else None
        )
        self.moving_mean = self.add_weight(
            shape=shape, name="moving_mean", initializer=self.moving_mean_initializer, trainable=False
        )
        self.moving_variance = self.add_weight(
            shape=shape, name="moving_variance", initializer=self.moving_variance_initializer, trainable=False
        )
        self._reduction_axes = [i for i in range(rank) if i != axis]
        # Shape that broadcasts a [features] vector against the inputs.
        self._broadcast_shape = [1] * rank
        self._broadcast_shape[axis] = features
        self.input_spec = keras.layers.InputSpec(ndim=rank, axes={axis: features})

    def _broadcast(self, vector):
        return ops.reshape(vector, self._broadcast_shape)

    def call(self, inputs, training=False):
        if training and self.trainable:
            mean, variance = ops.moments(inputs, axes=self._reduction_axes)
            # The variables' tensors, not the variables: `momentum * variable` goes through Keras' dtype
            # promotion, which rounds the Python float to float32 on PyTorch, even in a float64 layer.
            self.moving_mean.assign(ewma_update(self.moving_mean.value, mean, self.momentum))
            self.moving_variance.assign(ewma_update(self.moving_variance.value, variance, self.momentum))
        else:
            mean, variance = self.moving_mean, self.moving_variance
        # gamma * (z - mu) / sqrt(sigma^2 + eps) + beta, rearranged as z * s + (beta - mu * s) with
        # s = gamma / sqrt(sigma^2 + eps): the same numbers, but the per-feature work is done once and the
        # whole tensor sees one multiply and one add (as in tf.nn.batch_normalization).
        scale = ops.rsqrt(variance + self.epsilon)
        if self.scale:
            scale = scale * self.gamma
        shift = -mean * scale
        if self.center:
            shift = shift + self.beta
        return ops.add(ops.multiply(inputs, self._broadcast(scale)), self._broadcast(shift))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
        }
