"""Face verification as binary classification: a logistic unit on the difference of two encodings.

Course 4, Week 4 ("Face verification and binary classification"; Taigman
et al., DeepFace, 2014). Instead of the triplet loss, a Siamese network's two
encodings f(x_i), f(x_j) feed one logistic unit that says whether x_i and
x_j are the same identity:

    y_hat = sigmoid( sum_k w_k phi(f_k(x_i), f_k(x_j)) + b )

with the lesson's two element-wise features phi:

- "absolute": |f_k(x_i) - f_k(x_j)|;
- "chi_square": (f_k(x_i) - f_k(x_j))^2 / (f_k(x_i) + f_k(x_j)).

The chi-square form is written for non-negative features (DeepFace's come
after a ReLU). For signed features, such as L2-normalized encodings, the
denominator here is |f_k(x_i)| + |f_k(x_j)|, equal to the lesson's for
non-negative features, which keeps every term finite and >= 0 (f_i + f_j
could be 0 or negative); a term whose denominator is 0 (both features 0) is
0. Both features are symmetric, so y_hat(x_i, x_j) = y_hat(x_j, x_i).

`SiameseHead` is the unit: w is a [D, 1] kernel and b a bias, so it is
`keras.layers.Dense(1, activation="sigmoid")` applied to phi (the test
checks exactly that). Train it with binary cross-entropy, alone on frozen
encodings or with the encoder (pre-computed encodings of a gallery make it
cheap at test time, as the lesson notes).

Example:

    encoder = keras.Sequential([...])  # images -> [B, D]
    first, second = keras.Input((28, 28, 1)), keras.Input((28, 28, 1))
    same = SiameseHead("absolute")([encoder(first), encoder(second)])
    model = keras.Model([first, second], same)
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
"""

from __future__ import annotations

import keras
from keras import ops

FORMS = ("absolute", "chi_square")


def pair_features(first, second, form: str = "absolute"):
    """phi(f(x_i), f(x_j)), element by element: [..., D] (module docstring)."""
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}. Received: form={form!r}")
    first, second = ops.convert_to_tensor(first), ops.convert_to_tensor(second)
    difference = first - second
    if form == "absolute":
        return ops.abs(difference)
    denominator = ops.abs(first) + ops.abs(second)
    positive = denominator > 0
    return ops.where(positive, ops.square(difference) / ops.where(positive, denominator, 1.0), 0.0)


@keras.saving.register_keras_serializable(package="kerasdl")
class SiameseHead(keras.layers.Layer):
    """The logistic unit on phi(f(x_i), f(x_j)): the probability that x_i and x_j are the same identity.

    Args:
        form: the feature phi, "absolute" (default) or "chi_square" (module docstring).
        kernel_initializer: initializer of w, [D, 1].
        bias_initializer: initializer of b.
        **kwargs: base `Layer` arguments (name, dtype, ...).

    Call arguments:
        inputs: a list of the two encodings [f(x_i), f(x_j)], each [B, D].

    Returns:
        y_hat, [B, 1], in (0, 1).
    """

    def __init__(
        self,
        form: str = "absolute",
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}. Received: form={form!r}")
        self.form = form
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def _check(self, input_shape):
        if (
            not isinstance(input_shape, list | tuple)
            or len(input_shape) != 2
            or tuple(input_shape[0]) != tuple(input_shape[1])
        ):
            raise ValueError(
                f"SiameseHead takes a list of two encodings of one shape [B, D]. Received: {input_shape}"
            )
        return tuple(input_shape[0])

    def build(self, input_shape):
        shape = self._check(input_shape)
        self.kernel = self.add_weight(
            name="kernel", shape=(shape[-1], 1), initializer=self.kernel_initializer
        )
        self.bias = self.add_weight(name="bias", shape=(1,), initializer=self.bias_initializer)

    def call(self, inputs):
        first, second = inputs
        features = pair_features(first, second, self.form)
        return ops.sigmoid(ops.matmul(features, self.kernel) + self.bias)

    def compute_output_shape(self, input_shape):
        return (*self._check(input_shape)[:-1], 1)

    def get_config(self):
        return {
            **super().get_config(),
            "form": self.form,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
