"""What is not yet the same on every Keras backend, each gap with its reason, for the oracle tests.

The reusable parts' tests run under TensorFlow (`make test`) and under JAX
and PyTorch (`make test-backends`). Where a backend differs for a reason
outside the part under test, the test says so with one of these names
instead of a silent skip or a looser tolerance everywhere. Each gap is
detected rather than assumed, so it closes by itself when its cause is fixed.
"""

from __future__ import annotations

import keras
import pytest
from keras import ops

from kerasdl.training.saving import UntrustedModelError, check_model_config

BACKEND = keras.backend.backend()

# Keras computes some ops in float32 for float64 inputs on every backend but TensorFlow: those whose
# result dtype comes from `keras.backend.result_type`, which demotes 64-bit types there (tanh, cos,
# maximum, arctan2, ...; keras-team/keras#23223). A float64 comparison through one of them is then good
# to float32's precision, not float64's.
KERAS_DEMOTES_FLOAT64 = keras.backend.result_type("float64", "float64") != "float64"
FLOAT32_RTOL = 1e-5


# Among those ops, on PyTorch: every matrix product (ops.matmul rounds float64 to float32 and back), so
# no float64 model computes in float64 there, and kerasdl.nn.gradient_check refuses to run.
_PRODUCT = ops.matmul(ops.convert_to_tensor([[1.0 + 2.0**-30]], "float64"), ops.ones((1, 1), "float64"))
KERAS_MATMUL_IS_FLOAT32 = float(ops.convert_to_numpy(_PRODUCT)[0, 0]) != 1.0 + 2.0**-30
needs_float64_matmul = pytest.mark.skipif(
    KERAS_MATMUL_IS_FLOAT32,
    reason="Keras computes float64 matrix products in float32 on this backend (keras-team/keras#23223)",
)

# Among those ops, on JAX: tanh. keras.layers.SimpleRNN(dtype="float64") then fails there: its loop
# (lax.scan) refuses a state that comes back float32. kerasdl's SimpleRNNCell casts its state back.
KERAS_TANH_IS_FLOAT32 = (
    keras.backend.standardize_dtype(ops.tanh(ops.ones((1,), "float64")).dtype) != "float64"
)


def rtol64(rtol: float) -> float:
    """`rtol` for a float64 comparison through Keras ops, widened to float32's where Keras demotes."""
    return max(rtol, FLOAT32_RTOL) if KERAS_DEMOTES_FLOAT64 else rtol


def atol64(atol: float) -> float:
    """`atol` for a float64 comparison of values near zero, widened where Keras demotes."""
    return max(atol, FLOAT32_RTOL) if KERAS_DEMOTES_FLOAT64 else atol


# Under PyTorch, Keras saves its own optimizers under their backend class's module
# ("keras.src.backend.torch.optimizers.torch_adam.Adam"), which kerasdl.training.saving's allowlist
# (public names, "keras.optimizers.Adam") refuses, so a model compiled with one does not reload through
# kerasdl's safe loader there. Asked of the loader itself, so the marker lifts with the allowlist.
def _loader_refuses_keras_optimizers() -> bool:
    try:
        check_model_config(keras.saving.serialize_keras_object(keras.optimizers.Adam()))
    except UntrustedModelError:
        return True
    return False


LOADER_REFUSES_KERAS_OPTIMIZERS = _loader_refuses_keras_optimizers()
keras_optimizer_not_allowlisted = pytest.mark.xfail(
    LOADER_REFUSES_KERAS_OPTIMIZERS,
    reason=f"kerasdl.training.saving refuses Keras' own optimizers as the {BACKEND} backend saves them",
    raises=UntrustedModelError,
    strict=True,
)
