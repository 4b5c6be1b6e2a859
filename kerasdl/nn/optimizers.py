"""Momentum, RMSprop and Adam exactly as the lesson writes them.

Course 2, Week 2: "Optimization algorithms". On iteration t, with dW the
mini-batch gradient and every square and division element-wise:

    Momentum  v = beta v + (1 - beta) dW;                 W -= alpha v
    RMSprop   s = beta s + (1 - beta) dW^2;               W -= alpha dW / sqrt(s + eps)
    Adam      v = beta_1 v + (1 - beta_1) dW
              s = beta_2 s + (1 - beta_2) dW^2
              v_hat = v / (1 - beta_1^t),  s_hat = s / (1 - beta_2^t)
              W -= alpha v_hat / sqrt(s_hat + eps)

Every average is `kerasdl.nn.ewma.ewma_update`, started at zero. Where the
built-ins differ (each relation is tested in tests/kerasdl/nn/test_optimizers.py):

- `keras.optimizers.SGD(momentum=beta)` keeps m = beta m - lr dW with no
  (1 - beta) factor. From zero velocity, m_t = -alpha v_t exactly when
  lr = alpha * (1 - beta): the trajectories are identical.
- `keras.optimizers.RMSprop(rho=beta, epsilon=eps)` puts eps inside the square
  root like the lesson: the same update.
- `keras.optimizers.Adam` computes lr * m_hat / (sqrt(s_hat) + eps_hat /
  sqrt(1 - beta_2^t)) ("epsilon hat", outside the root). The lesson's notes
  put eps inside the root; multiplied out, the lesson's step is
  alpha sqrt(c2) / c1 * v / sqrt(s + eps c2) with c1 = 1 - beta_1^t and
  c2 = 1 - beta_2^t (how `Adam.update_step` computes it), Keras' is
  alpha sqrt(c2) / c1 * v / (sqrt(s) + eps_hat). No constant maps one onto
  the other (the needed eps_hat depends on s and t), but both tend to lr * m_hat / sqrt(s_hat) as
  eps -> 0: since sqrt(s) <= sqrt(s + eps) <= sqrt(s) + sqrt(eps), the step
  sizes differ by a relative amount at most sqrt(eps) / sqrt(s_hat). With the
  default eps = 1e-8, eps inside the root damps a coordinate whose gradients
  are around 1e-4 or smaller; the Keras default (1e-7 outside) damps below
  about 1e-7.

The step t comes from `self.iterations` (t = iterations + 1), which is saved
with the optimizer, so a resumed run continues bias correction and any
learning-rate schedule exactly.
"""

from __future__ import annotations

import keras
from keras import ops

from kerasdl.nn.ewma import ewma_increment


def _check_fraction(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
        raise ValueError(f"{name} must be a number in [0, 1). Received: {name}={value!r}")


def _check_epsilon(epsilon: float) -> None:
    if not (isinstance(epsilon, (int, float)) and epsilon >= 0.0):
        raise ValueError(f"epsilon must be a non-negative number. Received: epsilon={epsilon!r}")


class _LessonOptimizer(keras.optimizers.Optimizer):
    """Adds one zero-initialized slot per model variable for each slot name."""

    slot_names: tuple[str, ...] = ()

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        for slot in self.slot_names:
            setattr(self, f"_{slot}", [self.add_variable_from_reference(v, name=slot) for v in var_list])

    def _slot(self, slot: str, variable):
        return getattr(self, f"_{slot}")[self._get_variable_index(variable)]

    def _average(self, average, value, beta: float) -> None:
        """average = beta * average + (1 - beta) * value, in place."""
        self.assign_add(average, ewma_increment(average, value, beta))


@keras.saving.register_keras_serializable(package="kerasdl")
class Momentum(_LessonOptimizer):
    """Gradient descent with momentum, the lesson's form.

    Course 2, Week 2: v = beta v + (1 - beta) dW; W = W - alpha v.

    `keras.optimizers.SGD(learning_rate=alpha * (1 - beta), momentum=beta)`
    gives the same trajectory.

    Args:
        learning_rate: alpha: a float or a
            `keras.optimizers.schedules.LearningRateSchedule`.
        beta: the averaging decay, in [0, 1) (0.9 averages ~10 gradients).
        **kwargs: the base optimizer's arguments (clipnorm, weight_decay, ...).

    Example:

        >>> model.compile(optimizer=Momentum(learning_rate=0.1, beta=0.9), loss="mse")
    """

    slot_names = ("velocities",)

    def __init__(self, learning_rate=0.01, beta: float = 0.9, name: str = "momentum", **kwargs):
        _check_fraction("beta", beta)
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta = beta

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        velocity = self._slot("velocities", variable)
        self._average(velocity, gradient, self.beta)
        self.assign_sub(variable, ops.multiply(lr, velocity))

    def get_config(self) -> dict:
        return {**super().get_config(), "beta": self.beta}


@keras.saving.register_keras_serializable(package="kerasdl")
class RMSprop(_LessonOptimizer):
    """RMSprop, the lesson's form.

    Course 2, Week 2: s = beta s + (1 - beta) dW^2; W = W - alpha dW / sqrt(s + eps).

    Identical to `keras.optimizers.RMSprop(rho=beta, epsilon=eps)`.

    Args:
        learning_rate: alpha: a float or a learning-rate schedule.
        beta: the decay of the squared-gradient average, in [0, 1).
        epsilon: added to s inside the square root, for numerical stability.
        **kwargs: the base optimizer's arguments.
    """

    slot_names = ("squares",)

    def __init__(
        self, learning_rate=0.001, beta: float = 0.9, epsilon: float = 1e-8, name: str = "rmsprop", **kwargs
    ):
        _check_fraction("beta", beta)
        _check_epsilon(epsilon)
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta = beta
        self.epsilon = epsilon

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        square = self._slot("squares", variable)
        self._average(square, ops.square(gradient), self.beta)
        # A tensor of the variable's dtype: `square + self.epsilon` would round epsilon to float32 on
        # PyTorch (Keras' promotion of a Python float against a variable), even for float64 variables.
        epsilon = ops.convert_to_tensor(self.epsilon, variable.dtype)
        self.assign_sub(variable, ops.divide(ops.multiply(lr, gradient), ops.sqrt(ops.add(square, epsilon))))

    def get_config(self) -> dict:
        return {**super().get_config(), "beta": self.beta, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="kerasdl")
class Adam(_LessonOptimizer):
    """Adam (adaptive moment estimation), the lesson's form.

    Course 2, Week 2:

        v = beta_1 v + (1 - beta_1) dW,   s = beta_2 s + (1 - beta_2) dW^2
        v_hat = v / (1 - beta_1^t),       s_hat = s / (1 - beta_2^t)
        W = W - alpha v_hat / sqrt(s_hat + eps)

    eps sits inside the square root, as in the course notes; Keras' Adam puts
    its "epsilon hat" outside (see the module docstring for the relation).

    Args:
        learning_rate: alpha: a float or a learning-rate schedule.
        beta_1: decay of the gradient average (momentum), in [0, 1); 0.9.
        beta_2: decay of the squared-gradient average (RMSprop), in [0, 1); 0.999.
        epsilon: added to s_hat inside the square root; 1e-8.
        **kwargs: the base optimizer's arguments.

    Reference:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", 2014.
    """

    slot_names = ("momentums", "squares")

    def __init__(
        self,
        learning_rate=0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        name: str = "adam",
        **kwargs,
    ):
        _check_fraction("beta_1", beta_1)
        _check_fraction("beta_2", beta_2)
        _check_epsilon(epsilon)
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        t = ops.cast(self.iterations + 1, dtype)
        momentum = self._slot("momentums", variable)
        square = self._slot("squares", variable)
        self._average(momentum, gradient, self.beta_1)
        self._average(square, ops.square(gradient), self.beta_2)
        # With c1 = 1 - beta_1^t and c2 = 1 - beta_2^t (scalars),
        #   alpha * (v / c1) / sqrt(s / c2 + eps) = (alpha * sqrt(c2) / c1) * v / sqrt(s + eps * c2):
        # the same step, with the corrections folded into two scalars so that the tensors see four
        # operations, as in Keras' Adam. convert_to_tensor with a dtype keeps a Python float's full
        # precision in float64 (a cast goes through float32).
        correction_1 = 1.0 - ops.power(ops.convert_to_tensor(self.beta_1, dtype), t)
        correction_2 = 1.0 - ops.power(ops.convert_to_tensor(self.beta_2, dtype), t)
        alpha_t = lr * ops.sqrt(correction_2) / correction_1
        epsilon_t = self.epsilon * correction_2
        self.assign_sub(variable, ops.divide(ops.multiply(momentum, alpha_t), ops.sqrt(square + epsilon_t)))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }
