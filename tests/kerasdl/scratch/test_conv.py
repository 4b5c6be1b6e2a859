"""kerasdl.scratch.conv against Keras' Conv2D / pooling layers and the backend's gradients."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
from keras import ops

from kerasdl.nn.autodiff import value_and_gradients
from kerasdl.scratch import conv
from tests.backends.gaps import atol64, rtol64

RNG = np.random.default_rng(0)


def _keras_conv(A, W, b, stride, pad):
    """Keras Conv2D with copied weights; the explicit zero padding makes any p expressible."""
    layer = keras.layers.Conv2D(W.shape[-1], W.shape[0], strides=stride, padding="valid")
    x = conv.zero_pad(A, pad).astype(np.float32)
    layer.build(x.shape)
    layer.set_weights([W.astype(np.float32), b.reshape(-1).astype(np.float32)])
    return ops.convert_to_numpy(layer(x))


class TestOutputSize:
    @pytest.mark.parametrize(
        "n,f,p,s", list(itertools.product([5, 6, 7, 28], [1, 2, 3, 5], [0, 1, 2], [1, 2, 3]))
    )
    def test_matches_formula_and_the_backend(self, n, f, p, s):
        expected = int(np.floor((n + 2 * p - f) / s)) + 1
        assert conv.output_size(n, f, p, s) == expected
        x = np.zeros([1, n + 2 * p, n + 2 * p, 1], np.float32)
        y = ops.conv(x, np.zeros([f, f, 1, 1], np.float32), strides=s, padding="valid")
        assert y.shape[1] == expected

    def test_lesson_examples(self):
        assert conv.output_size(6, 3) == 4  # 6x6 * 3x3 -> 4x4
        assert conv.output_size(7, 3, 0, 2) == 3  # 7x7, f=3, s=2 -> 3x3
        assert conv.output_size(6, 3, conv.same_padding(3)) == 6  # "same"

    @pytest.mark.parametrize(
        "kwargs", [dict(n=2, f=3), dict(n=5, f=3, s=0), dict(n=5, f=0), dict(n=5, f=3, p=-1)]
    )
    def test_rejects_bad_arguments(self, kwargs):
        with pytest.raises(ValueError, match="Received"):
            conv.output_size(**kwargs)

    def test_same_padding_needs_odd_kernel(self):
        with pytest.raises(ValueError, match="f=4"):
            conv.same_padding(4)


class TestConv:
    def test_zero_pad(self):
        x = RNG.normal(size=(2, 3, 3, 2))
        padded = conv.zero_pad(x, 2)
        assert padded.shape == (2, 7, 7, 2)
        np.testing.assert_array_equal(padded[:, 2:5, 2:5, :], x)
        assert np.abs(padded).sum() == pytest.approx(np.abs(x).sum())

    def test_single_step(self):
        a, w, b = RNG.normal(size=(3, 3, 4)), RNG.normal(size=(3, 3, 4)), RNG.normal(size=(1, 1, 1))
        assert conv.conv_single_step(a, w, b) == pytest.approx(sum(a.ravel() * w.ravel()) + b.item())

    @pytest.mark.parametrize(
        "f,stride,pad", [(3, 1, 0), (3, 1, 1), (3, 2, 1), (2, 2, 0), (5, 3, 2), (1, 1, 0)]
    )
    def test_forward_matches_keras_conv2d(self, f, stride, pad):
        A = RNG.normal(size=(2, 9, 8, 3))
        W = RNG.normal(size=(f, f, 3, 4))
        b = RNG.normal(size=(1, 1, 1, 4))
        Z, _ = conv.conv_forward(A, W, b, stride=stride, pad=pad)
        np.testing.assert_allclose(Z, _keras_conv(A, W, b, stride, pad), rtol=1e-4, atol=1e-4)

    @pytest.mark.parametrize("f,stride,pad", [(3, 1, 0), (3, 2, 1), (2, 2, 0), (4, 3, 2)])
    def test_backward_matches_the_backends_gradients(self, f, stride, pad):
        A = RNG.normal(size=(2, 7, 8, 3))
        W = RNG.normal(size=(f, f, 3, 2))
        b = RNG.normal(size=(1, 1, 1, 2))
        Z, cache = conv.conv_forward(A, W, b, stride=stride, pad=pad)
        dZ = RNG.normal(size=Z.shape)  # J = sum(Z * dZ), so dJ/dZ = dZ
        dA, dW, db = conv.conv_backward(dZ, cache)

        def loss(A, W, b):
            x = ops.pad(A, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
            z = ops.add(ops.conv(x, W, strides=stride, padding="valid"), b)
            return ops.sum(ops.multiply(z, dZ))

        _, (gA, gW, gb) = value_and_gradients(loss, [A, W, b])
        rtol, atol = rtol64(1e-9), atol64(1e-9)  # float32 products outside TensorFlow (gaps.py)
        np.testing.assert_allclose(dA, gA, rtol=rtol, atol=atol)
        np.testing.assert_allclose(dW, gW, rtol=rtol, atol=atol)
        np.testing.assert_allclose(db, gb, rtol=rtol, atol=atol)

    def test_rejects_mismatched_channels(self):
        with pytest.raises(ValueError, match="n_C_prev=3"):
            conv.conv_forward(np.zeros((1, 5, 5, 3)), np.zeros((3, 3, 2, 1)), np.zeros(1))


class TestPool:
    @pytest.mark.parametrize("mode,layer", [("max", keras.layers.MaxPooling2D),
                                            ("average", keras.layers.AveragePooling2D)])  # fmt: skip
    @pytest.mark.parametrize("f,stride", [(2, 2), (3, 1), (3, 2)])
    def test_forward_matches_keras(self, mode, layer, f, stride):
        A = RNG.normal(size=(2, 9, 7, 3))
        out, _ = conv.pool_forward(A, f, stride, mode)
        expected = ops.convert_to_numpy(
            layer(pool_size=f, strides=stride, padding="valid")(A.astype(np.float32))
        )
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)

    @pytest.mark.parametrize("mode", conv.POOL_MODES)
    @pytest.mark.parametrize("f,stride", [(2, 2), (3, 1), (3, 2)])
    def test_backward_matches_the_backends_gradients(self, mode, f, stride):
        A = RNG.normal(size=(2, 8, 7, 3))
        out, cache = conv.pool_forward(A, f, stride, mode)
        dA = RNG.normal(size=out.shape)
        grad = conv.pool_backward(dA, cache)
        pool = ops.max_pool if mode == "max" else ops.average_pool
        _, (expected,) = value_and_gradients(
            lambda x: ops.sum(ops.multiply(pool(x, f, stride, "valid"), dA)), [A]
        )
        np.testing.assert_allclose(grad, expected, rtol=rtol64(1e-9), atol=atol64(1e-9))

    def test_backward_lesson_helpers(self):
        x = np.array([[1.0, 3.0], [4.0, -1.0]])
        np.testing.assert_array_equal(conv.create_mask_from_window(x), [[False, False], [True, False]])
        np.testing.assert_allclose(conv.distribute_value(2.0, (2, 2)), np.full((2, 2), 0.5))

    def test_rejects_unknown_mode(self):
        with pytest.raises(ValueError, match="mode='min'"):
            conv.pool_forward(np.zeros((1, 4, 4, 1)), mode="min")
