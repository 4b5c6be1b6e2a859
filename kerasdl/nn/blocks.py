"""Course 4's building blocks as Keras layers: residual blocks, Inception, 1x1 convolutions.

Course 4, Week 2 ("ResNets", "Why ResNets work", "Networks in networks and
1x1 convolutions", "Inception network motivation", "Inception network").

- `IdentityBlock`: a[l+2] = g(z[l+2] + a[l]); the input and output shapes
  are equal, so the skip path adds a[l] as it is.
- `ConvolutionalBlock`: a[l+2] = g(z[l+2] + W_s a[l]); the main path changes
  the shape (stride or number of channels), so the skip path projects a[l]
  with W_s, a 1x1 convolution with the same stride (plus batch norm).
- `InceptionModule`: 1x1, 3x3 and 5x5 convolutions and a 3x3 max pool run
  side by side and are concatenated along the channels; 1x1 "bottleneck"
  convolutions before the 3x3 and 5x5 and after the pool keep the cost down.
- `network_in_network`: a 1x1 convolution, i.e. the same fully connected
  layer applied to the channel vector of every pixel; it shrinks (or grows)
  the number of channels without touching height and width.

The residual blocks follow the ResNet paper's layout (He et al., 2015): each
convolution is followed by batch norm, and ReLU comes after the addition. A
main path of two `filters` entries is the "basic" block (two k x k
convolutions); three entries is the "bottleneck" block of ResNet-50
(1x1, k x k, 1x1).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops


def _check_positive_ints(name: str, values: Sequence[int], lengths: tuple[int, ...]) -> tuple[int, ...]:
    values = tuple(values) if isinstance(values, (list, tuple)) else (values,)
    if len(values) not in lengths or not all(isinstance(v, int) and v > 0 for v in values):
        raise ValueError(
            f"{name} must be {' or '.join(str(n) for n in lengths)} positive integers. "
            f"Received: {name}={values!r}"
        )
    return values


def _check_positive_int(name: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
    return value


class _ResidualBlock(keras.layers.Layer):
    """The shared body of `IdentityBlock` and `ConvolutionalBlock`."""

    def __init__(
        self, filters: Sequence[int], kernel_size: int = 3, strides: int = 1, momentum: float = 0.9, **kwargs
    ):
        super().__init__(**kwargs)
        self.filters = _check_positive_ints("filters", filters, (2, 3))
        self.kernel_size = _check_positive_int("kernel_size", kernel_size)
        self.strides = _check_positive_int("strides", strides)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1). Received: momentum={momentum}")
        self.momentum = float(momentum)

    def _main_path_specs(self) -> list[tuple[int, int, int]]:
        """(filters, kernel size, stride) of each convolution on the main path."""
        k, s = self.kernel_size, self.strides
        if len(self.filters) == 2:
            return [(self.filters[0], k, s), (self.filters[1], k, 1)]
        return [(self.filters[0], 1, s), (self.filters[1], k, 1), (self.filters[2], 1, 1)]

    def _conv_bn(self, filters: int, kernel_size: int, strides: int, tag: str):
        conv = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="same", name=f"conv_{tag}")
        return conv, keras.layers.BatchNormalization(momentum=self.momentum, name=f"bn_{tag}")

    def _has_projection(self) -> bool:
        raise NotImplementedError

    def build(self, input_shape):
        shape = tuple(input_shape)
        self.main_path = []
        for index, (filters, kernel_size, strides) in enumerate(self._main_path_specs()):
            conv, bn = self._conv_bn(filters, kernel_size, strides, str(index))
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            bn.build(shape)
            self.main_path.append((conv, bn))
        self.projection = None
        if self._has_projection():
            self.projection = self._conv_bn(self.filters[-1], 1, self.strides, "shortcut")
            self.projection[0].build(tuple(input_shape))
            self.projection[1].build(shape)

    def call(self, inputs, training=None):
        x = inputs
        for index, (conv, bn) in enumerate(self.main_path):
            x = bn(conv(x), training=training)
            if index < len(self.main_path) - 1:
                x = ops.relu(x)
        shortcut = inputs
        if self.projection is not None:
            shortcut = self.projection[1](self.projection[0](inputs), training=training)
        return ops.relu(x + shortcut)

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        size = [None if n is None else (n + self.strides - 1) // self.strides for n in (height, width)]
        return (batch, *size, self.filters[-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {"filters": list(self.filters), "kernel_size": self.kernel_size, "strides": self.strides}
        )
        return config


@keras.saving.register_keras_serializable(package="kerasdl")
class IdentityBlock(_ResidualBlock):
    """Residual block whose skip path is the identity: a[l+2] = g(z[l+2] + a[l]).

    Course 4, Week 2: residual block. When the main path's weights are zero,
    z[l+2] = 0 and the block computes g(a[l]) = a[l] (a[l] >= 0 after a ReLU):
    learning the identity is easy, which is why a deeper ResNet does no worse
    than a shallower one.

    Args:
        filters: the number of filters of each convolution on the main path:
            two entries for the basic block (k x k, k x k), three for the
            bottleneck block (1x1, k x k, 1x1). The last entry must equal
            the number of input channels.
        kernel_size: k, the size of the middle convolution(s).
        momentum: batch norm's beta for the moving mean and variance
            (Course 2, Week 3: an exponentially weighted average, beta = 0.9;
            Keras' default 0.99 lags behind in short trainings).

    Call arguments:
        inputs: [batch, height, width, channels].
        training: batch norm uses batch statistics when True.

    Example:
        >>> block = IdentityBlock((64, 64, 256))
        >>> block(keras.ops.zeros((1, 8, 8, 256))).shape
        (1, 8, 8, 256)
    """

    def __init__(self, filters: Sequence[int], kernel_size: int = 3, momentum: float = 0.9, **kwargs):
        super().__init__(filters, kernel_size, strides=1, momentum=momentum, **kwargs)

    def _has_projection(self) -> bool:
        return False

    def build(self, input_shape):
        if input_shape[-1] != self.filters[-1]:
            raise ValueError(
                "An IdentityBlock's last number of filters must equal the input channels; use "
                "ConvolutionalBlock to change them. "
                f"Received: filters={self.filters}, input_shape={input_shape}"
            )
        super().build(input_shape)

    def get_config(self):
        config = super().get_config()
        config.pop("strides")
        return config


@keras.saving.register_keras_serializable(package="kerasdl")
class ConvolutionalBlock(_ResidualBlock):
    """Residual block with a projection shortcut: a[l+2] = g(z[l+2] + W_s a[l]).

    Course 4, Week 2: the "dashed" skip connections of ResNet, where the main
    path halves the height and width (stride 2) or changes the number of
    channels. W_s is a 1x1 convolution with the block's stride, followed by
    batch norm, so that W_s a[l] has the shape of z[l+2].

    Args:
        filters: as in `IdentityBlock`; the last entry is the number of
            output channels.
        kernel_size: k, the size of the middle convolution(s).
        strides: the stride of the first convolution and of W_s.
        momentum: batch norm's moving-average beta, as in `IdentityBlock`.

    Example:
        >>> block = ConvolutionalBlock((64, 64, 256), strides=2)
        >>> block(keras.ops.zeros((1, 8, 8, 64))).shape
        (1, 4, 4, 256)
    """

    def _has_projection(self) -> bool:
        return True


@keras.saving.register_keras_serializable(package="kerasdl")
class InceptionModule(keras.layers.Layer):
    """GoogLeNet's Inception module: four branches side by side, concatenated.

    Course 4, Week 2: Inception network. "Instead of choosing a filter size,
    do them all":

        [ 1x1(a) | 1x1(b_r) -> 3x3(b) | 1x1(c_r) -> 5x5(c) | maxpool 3x3 -> 1x1(d) ]

    Every convolution uses "same" padding and is followed by ReLU, so the
    output has the input's height and width and a + b + c + d channels. The
    1x1 reductions are the lesson's bottleneck: 28x28x192 -> 5x5 conv -> 32
    costs 120M multiplications directly, 12.4M through a 16-channel 1x1
    bottleneck (`kerasdl.scratch.conv.conv_multiplications`).

    Args:
        filters_1x1: a, the 1x1 branch.
        filters_3x3_reduce: b_r, the bottleneck before the 3x3.
        filters_3x3: b.
        filters_5x5_reduce: c_r, the bottleneck before the 5x5.
        filters_5x5: c.
        filters_pool_proj: d, the 1x1 after the 3x3 max pool (stride 1).

    Reference:
        Szegedy et al., 2014, "Going deeper with convolutions" (Table 1 holds
        the filter numbers of GoogLeNet's nine modules).

    Example:
        >>> module = InceptionModule(64, 96, 128, 16, 32, 32)  # GoogLeNet's 3a
        >>> module(keras.ops.zeros((1, 28, 28, 192))).shape
        (1, 28, 28, 256)
    """

    _ARGUMENTS = ("filters_1x1", "filters_3x3_reduce", "filters_3x3", "filters_5x5_reduce", "filters_5x5",
                  "filters_pool_proj")  # fmt: skip

    def __init__(
        self,
        filters_1x1: int,
        filters_3x3_reduce: int,
        filters_3x3: int,
        filters_5x5_reduce: int,
        filters_5x5: int,
        filters_pool_proj: int,
        **kwargs,
    ):
        super().__init__(**kwargs)
        values = (
            filters_1x1,
            filters_3x3_reduce,
            filters_3x3,
            filters_5x5_reduce,
            filters_5x5,
            filters_pool_proj,
        )
        for name, value in zip(self._ARGUMENTS, values, strict=True):
            setattr(self, name, _check_positive_int(name, value))

    def _conv(self, filters: int, kernel_size: int, name: str):
        return keras.layers.Conv2D(filters, kernel_size, padding="same", activation="relu", name=name)

    def build(self, input_shape):
        conv = self._conv
        self.branches = [
            [conv(self.filters_1x1, 1, "branch1x1")],
            [conv(self.filters_3x3_reduce, 1, "branch3x3_reduce"), conv(self.filters_3x3, 3, "branch3x3")],
            [conv(self.filters_5x5_reduce, 1, "branch5x5_reduce"), conv(self.filters_5x5, 5, "branch5x5")],
            [keras.layers.MaxPooling2D(3, strides=1, padding="same", name="branch_pool"),
             conv(self.filters_pool_proj, 1, "branch_pool_proj")],
        ]  # fmt: skip
        for branch in self.branches:
            shape = tuple(input_shape)
            for layer in branch:
                layer.build(shape)
                shape = layer.compute_output_shape(shape)

    def call(self, inputs):
        outputs = []
        for branch in self.branches:
            x = inputs
            for layer in branch:
                x = layer(x)
            outputs.append(x)
        return ops.concatenate(outputs, axis=-1)

    def compute_output_shape(self, input_shape):
        channels = self.filters_1x1 + self.filters_3x3 + self.filters_5x5 + self.filters_pool_proj
        return (*tuple(input_shape)[:-1], channels)

    def get_config(self):
        config = super().get_config()
        config.update({name: getattr(self, name) for name in self._ARGUMENTS})
        return config


def network_in_network(
    filters: int, activation: str | None = "relu", name: str | None = None
) -> keras.layers.Conv2D:
    """A 1x1 convolution: one fully connected layer applied to every pixel's channels.

    Course 4, Week 2: "Networks in networks and 1x1 convolutions". For an
    input a [n_H, n_W, n_C] the output at each pixel is g(W^T a[h, w, :] + b)
    with W [n_C, filters]: height and width stay, the number of channels
    becomes `filters` (28x28x192 -> 28x28x32 with 192 * 32 + 32 parameters).

    Reference:
        Lin et al., 2013, "Network in network".
    """
    _check_positive_int("filters", filters)
    return keras.layers.Conv2D(filters, 1, activation=activation, name=name)
