"""kerasdl.nn.blocks: residual blocks, Inception module and 1x1 convolutions."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from kerasdl.nn import blocks
from kerasdl.scratch import conv

numpy = ops.convert_to_numpy

RNG = np.random.default_rng(0)


def _zero_main_path(block):
    for layer, _ in block.main_path:
        layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])


def _round_trip(layer, x):
    model = keras.Sequential([keras.Input(x.shape[1:]), layer])
    expected = numpy(model(x, training=False))
    restored = keras.Sequential.from_config(model.get_config())
    restored.set_weights(model.get_weights())
    np.testing.assert_allclose(numpy(restored(x, training=False)), expected, rtol=1e-5, atol=1e-5)
    return model


class TestResidualBlocks:
    @pytest.mark.parametrize("filters", [(8, 8), (4, 4, 8)])
    def test_identity_skip_carries_the_input_when_residual_weights_are_zero(self, filters):
        x = np.maximum(RNG.normal(size=(3, 6, 6, 8)), 0).astype("float32")  # a[l] comes out of a ReLU
        block = blocks.IdentityBlock(filters)
        block.build(x.shape)
        assert not np.allclose(numpy(block(x, training=False)), x)
        _zero_main_path(block)
        np.testing.assert_allclose(numpy(block(x, training=False)), x, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(numpy(block(x, training=True)), x, rtol=1e-6, atol=1e-6)

    def test_projection_shortcut_when_residual_weights_are_zero(self):
        x = RNG.normal(size=(2, 8, 8, 3)).astype("float32")
        block = blocks.ConvolutionalBlock((4, 4, 6), strides=2)
        block.build(x.shape)
        _zero_main_path(block)
        w_s, b_s = block.projection[0].get_weights()
        bn = block.projection[1]
        gamma, beta, mean, var = bn.get_weights()
        projected = np.einsum("bhwc,cd->bhwd", x[:, ::2, ::2, :], w_s[0, 0]) + b_s  # 1x1 conv with stride 2
        expected = np.maximum((projected - mean) / np.sqrt(var + bn.epsilon) * gamma + beta, 0)
        np.testing.assert_allclose(numpy(block(x, training=False)), expected, rtol=1e-5, atol=1e-5)

    @pytest.mark.parametrize("filters,strides,in_shape,out_shape", [
        ((8, 8), 1, (2, 7, 7, 8), (2, 7, 7, 8)),
        ((8, 16), 2, (2, 7, 7, 8), (2, 4, 4, 16)),
        ((4, 4, 16), 2, (2, 8, 8, 3), (2, 4, 4, 16)),
    ])  # fmt: skip
    def test_shapes(self, filters, strides, in_shape, out_shape):
        block = blocks.ConvolutionalBlock(filters, strides=strides)
        y = block(np.zeros(in_shape, "float32"))
        assert tuple(y.shape) == out_shape == tuple(block.compute_output_shape(in_shape))

    def test_training_step_and_serialization(self):
        x = RNG.normal(size=(8, 6, 6, 4)).astype("float32")
        y = RNG.normal(size=(8, 3, 3, 8)).astype("float32")
        model = _round_trip(blocks.ConvolutionalBlock((4, 4, 8), strides=2), x)
        model.compile("sgd", "mse")
        before = [w.copy() for w in model.get_weights()]
        model.fit(x, y, epochs=1, verbose=0)
        assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights(), strict=True))
        _round_trip(blocks.IdentityBlock((4, 8)), np.maximum(y, 0))

    def test_rejects_bad_arguments(self):
        with pytest.raises(ValueError, match=r"filters=\(8,\)"):
            blocks.IdentityBlock((8,))
        with pytest.raises(ValueError, match="kernel_size=0"):
            blocks.IdentityBlock((8, 8), kernel_size=0)
        with pytest.raises(ValueError, match="momentum=1.0"):
            blocks.IdentityBlock((8, 8), momentum=1.0)
        with pytest.raises(ValueError, match="strides=1.5"):
            blocks.ConvolutionalBlock((8, 8), strides=1.5)
        with pytest.raises(ValueError, match="ConvolutionalBlock"):
            blocks.IdentityBlock((8, 8))(np.zeros((1, 4, 4, 3), "float32"))


class TestInception:
    def test_matches_its_branches(self):
        x = RNG.normal(size=(2, 9, 9, 5)).astype("float32")
        module = blocks.InceptionModule(2, 3, 4, 2, 3, 2)
        y = numpy(module(x))
        assert y.shape == (2, 9, 9, 2 + 4 + 3 + 2) == module.compute_output_shape(x.shape)

        def conv_relu(a, layer):
            W, b = layer.get_weights()
            return np.maximum(conv.conv_forward(a, W, b, pad=conv.same_padding(W.shape[0]))[0], 0)

        def max_pool_same(a):
            padded = np.pad(a, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
            return conv.pool_forward(padded, 3, 1, "max")[0]

        b1, b3, b5, bp = module.branches
        expected = np.concatenate([
            conv_relu(x, b1[0]),
            conv_relu(conv_relu(x, b3[0]), b3[1]),
            conv_relu(conv_relu(x, b5[0]), b5[1]),
            conv_relu(max_pool_same(x), bp[1]),
        ], axis=-1)  # fmt: skip
        np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
        _round_trip(blocks.InceptionModule(2, 3, 4, 2, 3, 2), x)

    def test_googlenet_3a_parameters_and_the_lesson_bottleneck_cost(self):
        module = blocks.InceptionModule(64, 96, 128, 16, 32, 32)
        module.build((None, 28, 28, 192))
        # GoogLeNet Table 1, inception (3a): "159K" parameters, counting kernels only, with K = 1024.
        weights = sum(int(np.prod(w.shape)) for w in module.weights if len(w.shape) == 4)
        assert weights == 192 * 64 + 192 * 96 + 9 * 96 * 128 + 192 * 16 + 25 * 16 * 32 + 192 * 32
        assert weights // 1024 == 159
        assert conv.conv_multiplications(28, 28, 32, 5, 192) == 120_422_400
        bottleneck = conv.conv_multiplications(28, 28, 16, 1, 192) + conv.conv_multiplications(
            28, 28, 32, 5, 16
        )
        assert bottleneck == 12_443_648

    def test_rejects_bad_arguments(self):
        with pytest.raises(ValueError, match="filters_5x5=0"):
            blocks.InceptionModule(1, 1, 1, 1, 0, 1)


def test_network_in_network_is_a_dense_layer_per_pixel():
    x = RNG.normal(size=(2, 6, 6, 192)).astype("float32")
    layer = blocks.network_in_network(32)
    y = numpy(layer(x))
    W, b = layer.get_weights()
    assert y.shape == (2, 6, 6, 32) and layer.count_params() == 192 * 32 + 32
    np.testing.assert_allclose(y, np.maximum(x @ W[0, 0] + b, 0), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="filters=0"):
        blocks.network_in_network(0)
