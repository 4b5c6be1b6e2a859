"""The gradient of a function of arrays, on whichever backend Keras runs.

Keras 3 runs the same layers on TensorFlow, JAX and PyTorch, but leaves
differentiation to each backend: `tf.GradientTape`, `jax.value_and_grad`,
`torch.autograd.grad`. This module is the one place in kerasdl that knows
all three; gradient checking (`kerasdl.nn.gradient_check`) and the oracle
tests of the reusable parts (tests/kerasdl/nn/) go through it. It imports
the active backend's library only when called, so importing kerasdl.nn
under JAX or PyTorch never imports TensorFlow.

The function must be pure: its result may depend on its arguments only, not
on variables it reads. To differentiate with respect to a layer's weights,
pass them as arguments and call the layer with `stateless_call`, as Keras'
own JAX trainer does:

    def cost(x, kernel, bias):
        outputs, _ = layer.stateless_call([kernel, bias], [], x)
        return keras.ops.sum(outputs)

    value, (d_x, d_kernel, d_bias) = value_and_gradients(cost, [x, *layer.get_weights()])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np
from keras import ops


def _check_arguments(arguments: Sequence) -> list[np.ndarray]:
    arrays = [np.asarray(ops.convert_to_numpy(argument)) for argument in arguments]
    for index, array in enumerate(arrays):
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(
                "Only floating-point arguments can be differentiated; close over the others. "
                f"Received: arguments[{index}].dtype={array.dtype}"
            )
    return arrays


def _tensorflow(function: Callable, arrays: list[np.ndarray]):
    import tensorflow as tf

    tensors = [tf.constant(array) for array in arrays]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        value = function(*tensors)
    return value, tape.gradient(value, tensors, unconnected_gradients=tf.UnconnectedGradients.ZERO)


def _jax(function: Callable, arrays: list[np.ndarray]):
    import jax
    import jax.numpy as jnp

    return jax.value_and_grad(lambda tensors: function(*tensors))([jnp.asarray(array) for array in arrays])


def _torch(function: Callable, arrays: list[np.ndarray]):
    import torch

    tensors = [ops.convert_to_tensor(array).detach().requires_grad_(True) for array in arrays]
    value = function(*tensors)
    gradients = torch.autograd.grad(value, tensors, allow_unused=True)
    return value, [
        torch.zeros_like(tensor) if gradient is None else gradient
        for tensor, gradient in zip(tensors, gradients, strict=True)
    ]


_BACKENDS = {"tensorflow": _tensorflow, "jax": _jax, "torch": _torch}


def value_and_gradients(function: Callable, arguments: Sequence) -> tuple[np.ndarray, list[np.ndarray]]:
    """The value of `function(*arguments)` and its gradient with respect to each argument.

    Args:
        function: a pure function of backend tensors that returns a scalar
            tensor, written with `keras.ops`.
        arguments: floating-point arrays (NumPy or backend tensors), each
            passed to `function` as a backend tensor of its own dtype.

    Returns:
        (value, gradients): the value as a NumPy scalar and one NumPy array
        per argument, of its shape (zeros where the value does not depend on it).

    Raises:
        ValueError: an argument is not floating-point, or the backend (the
            NumPy or OpenVINO one) cannot differentiate.
    """
    backend = keras.backend.backend()
    if backend not in _BACKENDS:
        raise ValueError(
            f"Gradients need the TensorFlow, JAX or PyTorch backend. Received: backend={backend!r}"
        )
    value, gradients = _BACKENDS[backend](function, _check_arguments(arguments))
    return ops.convert_to_numpy(value), [ops.convert_to_numpy(gradient) for gradient in gradients]


def compiled(function: Callable) -> Callable:
    """`function` compiled by the backend for repeated calls: `tf.function` or `jax.jit`.

    PyTorch's functions run as they are: `torch.compile` takes longer to
    compile a small function than a gradient check spends calling it.
    The function must be pure (see the module docstring).
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(function, reduce_retracing=True)
    if backend == "jax":
        import jax

        return jax.jit(function)
    return function
