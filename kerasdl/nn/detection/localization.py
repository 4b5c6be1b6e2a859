"""Classification with localization and landmarks: the lesson's output vector, its head and its loss.

Course 4, Week 3 ("Object localization", "Landmark detection"). A classifier
that also says where its one object is ends in the vector

    y = (p_c, b_x, b_y, b_h, b_w, c_1, ..., c_n, l_1x, l_1y, ..., l_Lx, l_Ly)

p_c: is there an object at all; (b_x, b_y) its centre and (b_h, b_w) its
size, as fractions of the image ((0, 0) its top-left corner, (1, 1) its
bottom-right); c_i: which class; (l_kx, l_ky): landmark k, also in fractions
of the image. With p_c = 0 the rest is "don't care".

`LocalizationHead` is that vector's output layer: one `Dense` layer and an
activation per part (sigmoid for p_c, the box and the landmarks, which all
lie in [0, 1]; softmax for the classes). `LocalizationLoss` is the lesson's
loss, in two forms:

- "lesson":    L(y^, y) = sum_i (y^_i - y_i)^2   if y_1 = 1
                          (y^_1 - y_1)^2         if y_1 = 0
- "practical": the lesson's remark that "in practice" one uses a logistic
  loss on p_c, squared error on the box (and landmarks) and log-likelihood
  on the classes; the last two count only when y_1 = 1.

`localization_targets` builds y from boxes, classes and landmarks (at most
one object per image).

Example:

    features = ...                                        # any backbone
    outputs = LocalizationHead(num_classes=10, num_landmarks=5)(features)
    model.compile("adam", LocalizationLoss(num_classes=10, num_landmarks=5))
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

FORMS = ("lesson", "practical")


def _check_count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}. Received: {name}={value!r}")
    return value


def vector_size(num_classes: int, num_landmarks: int = 0) -> int:
    """1 + 4 + n + 2L, the length of the lesson's vector."""
    return 5 + num_classes + 2 * num_landmarks


def localization_targets(boxes, classes, num_classes: int, landmarks=None) -> np.ndarray:
    """The lesson's target vector of each image, from its (at most one) object.

    Args:
        boxes: [N, K, 4] corner boxes (y_min, x_min, y_max, x_max) in fractions of the image.
        classes: [N, K] class indices, negative in padding slots; at most one object per image.
        num_classes: n.
        landmarks: optional [N, K, L, 2] (x, y) points in fractions of the image.

    Returns:
        float32 [N, 5 + n + 2L]: (1, b_x, b_y, b_h, b_w, one-hot c, l_1x, l_1y, ...)
        for an image with its object, (0, 0, ...) for one without.
    """
    boxes, classes = np.asarray(boxes, np.float64), np.asarray(classes)
    counts = np.sum(classes >= 0, axis=1)
    if np.any(counts > 1):
        raise ValueError(
            f"Localization takes at most one object per image; image {int(np.argmax(counts > 1))} has "
            f"{int(counts.max())}. Use YOLO (kerasdl.nn.detection.yolo) for several."
        )
    num_landmarks = 0 if landmarks is None else np.asarray(landmarks).shape[2]
    targets = np.zeros((len(classes), vector_size(num_classes, num_landmarks)), np.float32)
    image, slot = np.nonzero(classes >= 0)
    y_min, x_min, y_max, x_max = (boxes[image, slot, i] for i in range(4))
    targets[image, 0] = 1
    targets[image, 1:5] = np.stack(
        [(x_min + x_max) / 2, (y_min + y_max) / 2, y_max - y_min, x_max - x_min], 1
    )
    targets[image, 5 + classes[image, slot]] = 1
    if num_landmarks:
        targets[image, 5 + num_classes :] = np.asarray(landmarks)[image, slot].reshape(len(image), -1)
    return targets


@keras.saving.register_keras_serializable(package="kerasdl")
class LocalizationHead(keras.layers.Layer):
    """A `Dense` layer to the lesson's vector, each part through its activation (module docstring).

    Args:
        num_classes: n, the classes (softmax over them).
        num_landmarks: L, the landmarks ((x, y) each, sigmoid).
        kernel_initializer, bias_initializer: those of the `Dense` layer.

    Call arguments:
        inputs: [batch, features].

    Returns:
        [batch, 5 + n + 2L]: (p_c, b_x, b_y, b_h, b_w, c_1..c_n, l_1x, l_1y, ...).
    """

    def __init__(
        self,
        num_classes: int,
        num_landmarks: int = 0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_classes = _check_count("num_classes", num_classes, 1)
        self.num_landmarks = _check_count("num_landmarks", num_landmarks, 0)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        self.dense = keras.layers.Dense(
            vector_size(self.num_classes, self.num_landmarks),
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            dtype=self.dtype_policy,
            name="dense",
        )
        self.dense.build(input_shape)

    def call(self, inputs):
        z = self.dense(inputs)
        n = self.num_classes
        return ops.concatenate(
            [ops.sigmoid(z[..., :5]), ops.softmax(z[..., 5 : 5 + n], axis=-1), ops.sigmoid(z[..., 5 + n :])],
            axis=-1,
        )

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], vector_size(self.num_classes, self.num_landmarks))

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "num_landmarks": self.num_landmarks,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }


@keras.saving.register_keras_serializable(package="kerasdl")
class LocalizationLoss(keras.losses.Loss):
    """The lesson's loss of the localization vector, "lesson" or "practical" form (module docstring).

    Args:
        num_classes: n (only the "practical" form needs it, to find the classes).
        num_landmarks: L.
        form: "lesson" (squared error) or "practical" (logistic, squared, log-likelihood).
        epsilon: probabilities are clipped to [epsilon, 1 - epsilon] before a log.
        name: the loss's name.

    Call arguments:
        y_true: [batch, 5 + n + 2L] (`localization_targets`).
        y_pred: [batch, 5 + n + 2L] probabilities (`LocalizationHead`).
    """

    def __init__(
        self,
        num_classes: int,
        num_landmarks: int = 0,
        form: str = "lesson",
        epsilon: float = 1e-7,
        name: str = "localization_loss",
        **kwargs,
    ):
        if form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}. Received: form={form!r}")
        if not 0 < epsilon < 0.5:
            raise ValueError(f"epsilon must be in (0, 0.5). Received: epsilon={epsilon}")
        kwargs.setdefault("reduction", "sum_over_batch_size")
        super().__init__(name=name, **kwargs)
        self.num_classes = _check_count("num_classes", num_classes, 1)
        self.num_landmarks = _check_count("num_landmarks", num_landmarks, 0)
        self.form = form
        self.epsilon = float(epsilon)

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.cast(y_true, y_pred.dtype)
        has_object = y_true[..., 0] > 0.5
        if self.form == "lesson":
            everything = ops.sum(ops.square(y_pred - y_true), axis=-1)
            return ops.where(has_object, everything, ops.square(y_pred[..., 0] - y_true[..., 0]))
        n = self.num_classes
        p = ops.clip(y_pred[..., 0], self.epsilon, 1 - self.epsilon)
        logistic = -(y_true[..., 0] * ops.log(p) + (1 - y_true[..., 0]) * ops.log(1 - p))
        coordinates = ops.concatenate(
            [y_pred[..., 1:5] - y_true[..., 1:5], y_pred[..., 5 + n :] - y_true[..., 5 + n :]], -1
        )
        squared = ops.sum(ops.square(coordinates), axis=-1)
        log_likelihood = -ops.sum(
            y_true[..., 5 : 5 + n]
            * ops.log(ops.clip(y_pred[..., 5 : 5 + n], self.epsilon, 1 - self.epsilon)),
            -1,
        )
        return logistic + ops.where(has_object, squared + log_likelihood, ops.zeros_like(logistic))

    def get_config(self):
        return {
            "name": self.name,
            "reduction": self.reduction,
            "num_classes": self.num_classes,
            "num_landmarks": self.num_landmarks,
            "form": self.form,
            "epsilon": self.epsilon,
        }
