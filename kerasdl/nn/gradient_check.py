"""Gradient checking for any Keras model.

Course 2, Week 1 ("Gradient checking", "Gradient checking implementation
notes"), lifted from the NumPy version in `kerasdl.scratch.gradient_check` to
a Keras model: compare the gradient the backend computes (its automatic
differentiation, through `kerasdl.nn.autodiff`, so every custom layer's and
custom gradient's backward pass is exercised, on TensorFlow, JAX or
PyTorch) with the two-sided difference

    g_approx[i] = (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps),   eps = 1e-7

over the model's trainable parameter elements, and report

    difference = ||g - g_approx||_2 / (||g||_2 + ||g_approx||_2)

with the lesson's verdict ("fine" <= 1e-7, "check", "worry" >= 1e-3).

Following the lesson's implementation notes:

- float64: a difference with eps = 1e-7 is meaningless in float32, so a
  float32 model is cloned layer by layer with a float64 dtype policy and its
  weights are copied (Sequential and functional models; build subclassed
  models with `dtype="float64"` yourself).
- J includes the regularization losses (`model.losses`).
- Dropout off: the model is called with `training=False` by default. With
  `training=True` every evaluation of J sees the same dropout mask (the
  model is called statelessly, its random seed state held fixed), so J
  is one function of theta and the check is still meaningful.
- Big models: `max_elements` perturbs a random sample of the elements
  (at least one per variable) instead of all of them.

Backends: on JAX, set JAX_ENABLE_X64=1 before Python starts, or JAX
truncates float64 to float32. Keras 3.15 computes some float64 operations
in float32 outside TensorFlow (keras-team/keras#23223): every matrix
product on PyTorch, `tanh` and `cos` on JAX, the means inside Keras' own
losses ("mse") on both. `check_model_gradients` refuses to run where float64
arrays or matrix products are not float64 (both checks lift by themselves
once Keras computes them in float64); a model that uses one of the other
operations gets "worry" from rounding alone. TensorFlow computes float64
throughout.

Example:

    result = check_model_gradients(model, x, y, keras.losses.SparseCategoricalCrossentropy())
    print(result)        # gradient check: difference 3.1e-09 over 410 elements (fine)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np
from keras import ops

from kerasdl.nn.autodiff import compiled, value_and_gradients
from kerasdl.scratch.gradient_check import GradientCheckResult, relative_difference, verdict


@dataclass(frozen=True)
class ModelGradientCheckResult(GradientCheckResult):
    """A `GradientCheckResult` plus the relative difference of each checked variable.

    Attributes:
        per_variable: {variable path: relative difference over its checked
            elements}; the variable with the largest one is where to look.
    """

    per_variable: dict[str, float] = field(default_factory=dict)


def to_float64(model: keras.Model) -> keras.Model:
    """A float64 copy of a Sequential or functional `model`, with the same weights.

    Raises:
        ValueError: for a subclassed model, which cannot be cloned; build it
            with dtype="float64" instead.
    """
    if all(variable.dtype == "float64" for variable in model.weights):
        return model

    def clone_layer(layer):
        config = layer.get_config()
        config["dtype"] = "float64"
        return layer.__class__.from_config(config)

    try:
        clone = keras.models.clone_model(model, clone_function=clone_layer)
    except ValueError as error:
        raise ValueError(
            "Gradient checking needs float64. This model cannot be cloned (subclassed models cannot); "
            f"build it with dtype='float64' and pass that. Received: model={model.name!r}"
        ) from error
    clone.set_weights([np.asarray(weight, dtype=np.float64) for weight in model.get_weights()])
    return clone


def _mean(values):
    """The mean in float64 precision: `ops.mean` sums in float32 on JAX and PyTorch (Keras 3.15)."""
    return ops.sum(values) / ops.cast(ops.size(values), values.dtype)


def _as_loss_function(loss) -> Callable:
    """J(y, y_pred) as a mean over the batch, without casting to float32.

    Keras `Loss` objects cast y_pred to their own dtype (float32 by default);
    their `call` method returns the unreduced per-example values and does not.
    """
    if isinstance(loss, str):
        loss = keras.losses.get(loss)
    if isinstance(loss, keras.losses.Loss):
        return lambda y, y_pred: _mean(loss.call(y, y_pred))
    if callable(loss):
        return lambda y, y_pred: _mean(ops.convert_to_tensor(loss(y, y_pred)))
    raise ValueError(f"loss must be a Keras loss, its name or a callable. Received: loss={loss!r}")


def _check_float64() -> None:
    """Raises `RuntimeError` where float64 arrays or float64 matrix products lose float64 precision."""
    backend = keras.backend.backend()
    dtype = keras.backend.standardize_dtype(ops.convert_to_tensor(np.zeros((), np.float64)).dtype)
    if dtype != "float64":
        raise RuntimeError(
            "Gradient checking needs float64, which this backend does not compute: JAX truncates it to "
            "float32 unless JAX_ENABLE_X64=1 is set before Python starts (or "
            "jax.config.update('jax_enable_x64', True) runs first). "
            f"Received: backend={backend!r}, float64 arrays became {dtype}"
        )
    # 1 + 2^-30 is a float64 number that float32 rounds to 1.
    product = ops.matmul(ops.convert_to_tensor([[1.0 + 2.0**-30]], "float64"), ops.ones((1, 1), "float64"))
    if float(ops.convert_to_numpy(product)[0, 0]) != 1.0 + 2.0**-30:
        raise RuntimeError(
            f"Gradient checking needs float64 arithmetic, and Keras {keras.__version__} computes float64 "
            f"matrix products in float32 on the {backend} backend (keras-team/keras#23223). Check the "
            "model under TensorFlow (or JAX with JAX_ENABLE_X64=1). "
            f"Received: backend={backend!r}"
        )


def _as_float64_tensor(value):
    """`value` as a backend tensor, cast to float64 when it is floating-point (integer labels stay)."""
    value = ops.convert_to_tensor(value)
    if "float" in keras.backend.standardize_dtype(value.dtype):
        value = ops.cast(value, "float64")
    return value


def _sample_indices(sizes: list[int], max_elements: int | None, seed: int) -> list[np.ndarray]:
    total = sum(sizes)
    if max_elements is None or max_elements >= total:
        return [np.arange(size) for size in sizes]
    rng = np.random.default_rng(seed)
    picks = []
    for size in sizes:
        count = min(size, max(1, round(max_elements * size / total)))
        picks.append(np.sort(rng.choice(size, count, replace=False)))
    return picks


def check_model_gradients(
    model: keras.Model,
    x,
    y,
    loss,
    *,
    epsilon: float = 1e-7,
    max_elements: int | None = 2000,
    training: bool = False,
    seed: int = 0,
) -> ModelGradientCheckResult:
    """Checks the backward pass of `model` against two-sided differences in float64.

    Args:
        model: a built Keras model. Float32 Sequential/functional models are
            cloned in float64 (the original is left untouched).
        x: a batch of inputs.
        y: the matching targets.
        loss: a `keras.losses.Loss`, its name, or a callable (y, y_pred);
            reduced by the mean over the batch.
        epsilon: the perturbation, 1e-7 in the lesson.
        max_elements: perturb at most about this many parameter elements,
            sampled at random with at least one per variable (None: all).
        training: the `training` flag the model is called with; False (the
            lesson's dropout off) by default. With True, every evaluation
            sees the same dropout mask.
        seed: the seed of the element sample.

    Returns:
        A `ModelGradientCheckResult`.

    Raises:
        RuntimeError: the backend computes no float64 (JAX without
            JAX_ENABLE_X64=1), or Keras computes float64 matrix products in
            float32 there (PyTorch, Keras 3.15).
    """
    if epsilon <= 0:
        raise ValueError(f"epsilon must be positive. Received: epsilon={epsilon}")
    if max_elements is not None and max_elements < 1:
        raise ValueError(
            f"max_elements must be a positive integer or None. Received: max_elements={max_elements}"
        )
    _check_float64()
    model = to_float64(model)
    variables = list(model.trainable_variables)
    if not variables:
        raise ValueError(f"The model has no trainable variables to check. Received: model={model.name!r}")
    loss_fn = _as_loss_function(loss)
    x = keras.tree.map_structure(_as_float64_tensor, x)
    y = _as_float64_tensor(y)
    non_trainable = [variable.value for variable in model.non_trainable_variables]

    # J as a pure function of the trainable weights, so that every backend can differentiate it.
    @compiled
    def cost(*trainable):
        outputs, _, losses = model.stateless_call(
            list(trainable), non_trainable, x, training=training, return_losses=True
        )
        total = loss_fn(y, outputs)
        for term in losses:
            total = total + ops.cast(term, "float64")
        return total

    theta = [np.asarray(ops.convert_to_numpy(variable.value), np.float64) for variable in variables]
    _, grads = value_and_gradients(cost, theta)

    picks = _sample_indices([int(np.prod(v.shape)) for v in variables], max_elements, seed)
    analytic, numeric, per_variable = [], [], {}
    for position, (variable, grad, indices) in enumerate(zip(variables, grads, picks, strict=True)):
        original = theta[position]
        approx = np.zeros(len(indices))
        for n, i in enumerate(indices):
            for sign in (1.0, -1.0):
                perturbed = original.copy()
                perturbed.flat[i] += sign * epsilon
                theta[position] = perturbed
                approx[n] += sign * float(ops.convert_to_numpy(cost(*theta)))
            approx[n] /= 2.0 * epsilon
        theta[position] = original
        exact = grad.ravel()[indices]
        per_variable[variable.path] = relative_difference(exact, approx)
        analytic.append(exact)
        numeric.append(approx)
    grad_vector, approx_vector = np.concatenate(analytic), np.concatenate(numeric)
    difference = relative_difference(grad_vector, approx_vector)
    return ModelGradientCheckResult(
        difference=difference,
        verdict=verdict(difference),
        grad=grad_vector,
        grad_approx=approx_vector,
        num_checked=grad_vector.size,
        per_variable=per_variable,
    )
