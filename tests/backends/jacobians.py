"""Theoretical and numerical Jacobians on every Keras backend: `tf.test.compute_gradient`, backend-neutral.

The theoretical Jacobian is built row by row from the backend's gradients
(`kerasdl.nn.autodiff.value_and_gradients`), the numerical one by the same
central differences as TensorFlow's, with its default perturbation 1/1024
(exact in binary), in NumPy. Both are [output size, argument size] arrays,
one per argument, as `tf.test.compute_gradient` returns them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from keras import ops

from kerasdl.nn.autodiff import value_and_gradients

DELTA = 1.0 / 1024  # tf.test.compute_gradient's default


def compute_gradient(
    function: Callable, arguments: Sequence[np.ndarray], delta: float = DELTA
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(theoretical, numerical) Jacobians of the pure `function` at `arguments`, one per argument.

    Args:
        function: a pure function of backend tensors (see `kerasdl.nn.autodiff`).
        arguments: floating-point NumPy arrays.
        delta: the perturbation of the central differences.
    """
    arguments = [np.array(argument) for argument in arguments]

    def evaluate(values) -> np.ndarray:
        outputs = function(*[ops.convert_to_tensor(value) for value in values])
        return np.asarray(ops.convert_to_numpy(outputs), np.float64).ravel()

    size = evaluate(arguments).size
    theoretical = [np.zeros((size, argument.size)) for argument in arguments]
    for row in range(size):

        def element(*values, row=row):
            return ops.reshape(function(*values), (-1,))[row]

        _, gradients = value_and_gradients(element, arguments)
        for jacobian, gradient in zip(theoretical, gradients, strict=True):
            jacobian[row] = np.ravel(gradient)
    numerical = [np.zeros((size, argument.size)) for argument in arguments]
    for position, argument in enumerate(arguments):
        for column in range(argument.size):
            values = list(arguments)
            for sign in (1.0, -1.0):
                perturbed = argument.copy()
                perturbed.flat[column] += sign * delta
                values[position] = perturbed
                numerical[position][:, column] += sign * evaluate(values)
            numerical[position][:, column] /= 2 * delta
    return theoretical, numerical
