"""Neural style transfer: content cost, Gram matrices, style cost, and gradient descent on the image.

Course 4, Week 4 ("What is neural style transfer?", "Cost function",
"Content cost function", "Style cost function"; Gatys, Ecker and Bethge,
"A Neural Algorithm of Artistic Style", 2015). A generated image G is made
to have the content of an image C and the style of an image S by gradient
descent on G's pixels (the network's weights stay fixed), minimising

    J(G) = alpha J_content(C, G) + beta J_style(S, G)  (+ gamma TV(G), optional)

with, at layers [l] of a fixed feature network (activations a of shape
n_H x n_W x n_C):

- content cost, at one middle layer:

      J_content(C, G) = 1 / (4 n_H n_W n_C) * sum_ijk (a_ijk^(C) - a_ijk^(G))^2

  (the lecture notes write 1/2 ||a^(C) - a^(G)||^2; the constant only
  rescales alpha, and 1 / (4 n_H n_W n_C) is the normalisation of the
  course's programming assignment);

- Gram ("style") matrix: the activations unrolled into A, n_C x (n_H n_W),
  and G = A A^T, n_C x n_C: G_kk' = sum_ij a_ijk a_ijk', how strongly
  channels k and k' fire together, wherever in the image;
- style cost of one layer:

      J_style^[l](S, G) = 1 / (2 n_H n_W n_C)^2 * sum_kk' (G_kk'^(S) - G_kk'^(G))^2

- style cost over several layers, weighted: J_style = sum_l lambda_l J_style^[l];
- total variation (optional, not in the lesson): the mean absolute
  difference of neighbouring pixels, `tf.image.total_variation` divided by
  n_H n_W n_C, which smooths the high-frequency noise the optimisation
  leaves.

With a batch of several images, each cost is the mean over the batch.

`StyleTransfer` is a `keras.Model` whose one trainable weight is G
(initialised as C plus uniform noise, clipped to [0, 1] after every step,
as in the course's assignment); `fit` runs the optimizer on its pixels, so
`model.fit(dummy_inputs(steps), ...)` with Adam is the lesson's loop, works
on every Keras backend, and a `BackupAndRestore` callback resumes it. The
feature network is held outside the model's variables (a backup holds the
image and the optimizer state only).

Feature networks (each takes RGB images in [0, 1] and applies Keras' VGG
preprocessing itself):

- `vgg19_features`: Keras' VGG-19 convolutional base, the lesson's network,
  with ImageNet weights (a local weights file, or Keras' download) or with
  random, fixed weights (He-normal, seeded). Pretrained weights give
  clearly better pictures: objects keep their shapes, strokes follow
  edges.
- `random_multiscale_features`: one layer of random convolutions at
  several kernel sizes side by side (Ustyuzhaninov, Brendel, Gatys and
  Bethge, "What does it take to generate natural textures?", ICLR 2017),
  offline and cheap.

Random weights need no download and still capture texture: Gram matrices
of random convolutional features are a usable texture statistic (He, Wang
and Hopcroft, "A Powerful Generative Model Using Random Weights for the
Deep Image Representation", NeurIPS 2016; Ustyuzhaninov et al. 2017).
With the few hundred Adam steps a CPU affords, the single random layer
moves G much further towards S's texture than random VGG-19, whose 16
random layers mostly add coloured speckle; so the experiment
(`experiments/style_transfer.py`) uses it by default.

Example:

    features = vgg19_features("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5")  # or None: random
    model = StyleTransfer(
        features, content, style,  # float images in [0, 1], [H, W, 3]
        content_layer="block4_conv2",
        style_layers={f"block{b}_conv1": 0.2 for b in range(1, 6)},
    )
    model.compile(keras.optimizers.Adam(0.02))
    model.fit(dummy_inputs(200), batch_size=1)
    generated = model.generated_image()
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import keras
import numpy as np
from keras import ops

VGG19_STYLE_LAYERS = {f"block{block}_conv1": 0.2 for block in range(1, 6)}  # the assignment's lambda_l
VGG19_CONTENT_LAYER = "block4_conv2"  # Gatys et al.'s "conv4_2", a middle layer
MULTISCALE_KERNEL_SIZES = (3, 5, 7, 11)  # random_multiscale_features' filter sizes
MULTISCALE_STYLE_LAYERS = {f"conv{k}x{k}": 1 / len(MULTISCALE_KERNEL_SIZES) for k in MULTISCALE_KERNEL_SIZES}
MULTISCALE_CONTENT_LAYER = "conv3x3"
IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)  # what Keras' VGG preprocessing subtracts (caffe mode)


# -- the costs ---------------------------------------------------------------------------------------


def _mean(values):
    """The mean of a 0-d or 1-d tensor in its own dtype.

    Keras 3.15's `ops.mean` computes float64 in float32 on the JAX backend
    (keras-team/keras#23223), which would cost a float64 cost half its digits.
    """
    values = ops.reshape(values, (-1,))
    return ops.sum(values) / ops.cast(ops.shape(values)[0], values.dtype)


def _batched(activations):
    """[B, n_H, n_W, n_C] from [n_H, n_W, n_C] or [B, n_H, n_W, n_C]."""
    activations = ops.convert_to_tensor(activations)
    if len(activations.shape) == 3:
        return activations[None]
    if len(activations.shape) != 4:
        raise ValueError(
            f"activations must be [n_H, n_W, n_C] or [batch, n_H, n_W, n_C]. "
            f"Received: shape={tuple(activations.shape)}"
        )
    return activations


def gram_matrix(activations):
    """The style matrix G = A A^T of activations unrolled into A, n_C x (n_H n_W).

    G_kk' = sum_i sum_j a_ijk a_ijk' (Course 4, Week 4, "Style cost function").

    Args:
        activations: [n_H, n_W, n_C], or [batch, n_H, n_W, n_C].

    Returns:
        [n_C, n_C], or [batch, n_C, n_C] for a batch.
    """
    batched = _batched(activations)
    _, n_h, n_w, n_c = batched.shape
    unrolled = ops.reshape(batched, (-1, n_h * n_w, n_c))  # A^T for each image: (n_H n_W) x n_C
    # A A^T as an einsum: Keras 3.15's PyTorch matmul computes float64 in float32 (keras-team/keras#23223).
    gram = ops.einsum("bpk,bpl->bkl", unrolled, unrolled)
    return gram if len(ops.shape(activations)) == 4 else gram[0]


def content_cost(content_activations, generated_activations):
    """J_content(C, G) = 1 / (4 n_H n_W n_C) * sum (a^(C) - a^(G))^2, at one layer.

    Args:
        content_activations: a^(C), [n_H, n_W, n_C] or [batch, n_H, n_W, n_C].
        generated_activations: a^(G), the same shape.

    Returns:
        A scalar: the cost (the mean over the batch for a batch).
    """
    content, generated = _batched(content_activations), _batched(generated_activations)
    _, n_h, n_w, n_c = generated.shape
    squared = ops.sum(ops.square(content - generated), axis=(1, 2, 3))
    return _mean(squared) / (4.0 * n_h * n_w * n_c)


def gram_style_cost(style_gram, generated_gram, size: tuple[int, int, int]):
    """J_style^[l] from the two Gram matrices: 1 / (2 n_H n_W n_C)^2 * sum (G^(S) - G^(G))^2.

    Args:
        style_gram: G^(S), [n_C, n_C] (or a batch of them).
        generated_gram: G^(G), the same shape.
        size: (n_H, n_W, n_C) of the layer's activations.
    """
    n_h, n_w, n_c = size
    squared = ops.sum(ops.square(ops.convert_to_tensor(style_gram) - generated_gram), axis=(-2, -1))
    return _mean(squared) / float(2 * n_h * n_w * n_c) ** 2


def layer_style_cost(style_activations, generated_activations):
    """J_style^[l](S, G) = 1 / (2 n_H n_W n_C)^2 * sum_kk' (G_kk'^(S) - G_kk'^(G))^2, at one layer.

    Args:
        style_activations: a^(S), [n_H, n_W, n_C] or [batch, n_H, n_W, n_C].
        generated_activations: a^(G), the same shape.
    """
    size = tuple(_batched(generated_activations).shape[1:])
    return gram_style_cost(gram_matrix(style_activations), gram_matrix(generated_activations), size)


def style_cost(style_activations, generated_activations, layer_weights):
    """J_style(S, G) = sum_l lambda_l J_style^[l](S, G) over several layers.

    Args:
        style_activations: a list of a^(S) [l], one per layer.
        generated_activations: a list of a^(G) [l], in the same order.
        layer_weights: lambda_l, one number per layer.
    """
    if not len(style_activations) == len(generated_activations) == len(layer_weights):
        raise ValueError(
            "style_activations, generated_activations and layer_weights must have one entry per layer. "
            f"Received: {len(style_activations)}, {len(generated_activations)} and {len(layer_weights)}"
        )
    costs = [
        weight * layer_style_cost(style, generated)
        for style, generated, weight in zip(
            style_activations, generated_activations, layer_weights, strict=True
        )
    ]
    return ops.sum(ops.stack(costs))


def total_variation(images):
    """The mean absolute difference between vertically and horizontally neighbouring pixel values.

    TV(G) = (sum |G_i+1,j,c - G_i,j,c| + sum |G_i,j+1,c - G_i,j,c|) / (n_H n_W n_C), i.e.
    `tf.image.total_variation` divided by the number of pixel values; the
    mean over the batch for a batch.

    Args:
        images: [n_H, n_W, n_C] or [batch, n_H, n_W, n_C].
    """
    batched = _batched(images)
    _, n_h, n_w, n_c = batched.shape
    vertical = ops.sum(ops.abs(batched[:, 1:] - batched[:, :-1]), axis=(1, 2, 3))
    horizontal = ops.sum(ops.abs(batched[:, :, 1:] - batched[:, :, :-1]), axis=(1, 2, 3))
    return _mean(vertical + horizontal) / float(n_h * n_w * n_c)


# -- the feature network -----------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="kerasdl")
class VGGPreprocess(keras.layers.Layer):
    """Images in [0, 1], RGB, to what Keras' VGG weights expect: BGR in 0..255 minus ImageNet's mean.

    The same as `keras.applications.vgg19.preprocess_input(255 * images)`.
    """

    def call(self, images):
        bgr = ops.flip(ops.convert_to_tensor(images), axis=-1) * 255.0
        return bgr - ops.convert_to_tensor(IMAGENET_BGR_MEAN, dtype=bgr.dtype)


def vgg19_features(weights: str | None = None, seed: int = 0) -> keras.Model:
    """VGG-19's convolutional base (Simonyan and Zisserman, 2015) on images in [0, 1]; frozen.

    The model takes RGB images of any size in [0, 1] (`VGGPreprocess` does
    Keras' VGG preprocessing) and returns the last pooling layer's output;
    its layers keep Keras' names (block1_conv1 ... block5_conv4), so
    `feature_extractor(vgg19_features(), names)` picks layers by name.

    Args:
        weights: None for random, fixed weights: He-normal kernels (variance
            2 / fan_in, so activations keep their scale through the 16 ReLU
            layers) and zero biases, drawn from `seed`; "imagenet" for Keras'
            download of the ImageNet weights (network); or the path of a
            local weights file of `keras.applications.VGG19` (the
            `..._notop.h5` file Keras downloads into ~/.keras/models/, the
            full model's `.h5`, or a `.keras` / `.weights.h5` file saved from
            such a model).
        seed: the seed of the random weights.

    Raises:
        FileNotFoundError: `weights` names a file that does not exist.
        ValueError: the file does not hold VGG-19's weights.
    """
    images = keras.Input((None, None, 3), name="images")
    preprocessed = VGGPreprocess(name="vgg_preprocess")(images)
    # Built on the preprocessed input, so every layer's first call (`layer.output`) is in this model.
    base = keras.applications.VGG19(include_top=False, weights=None, input_tensor=preprocessed)
    if weights is None:
        _randomize(base, seed)
    else:
        source = _vgg19_with_weights(str(weights))
        try:
            for layer in base.layers:
                if layer.weights:
                    layer.set_weights(source.get_layer(layer.name).get_weights())
        except ValueError as error:
            raise ValueError(
                f"{weights} does not hold keras.applications.VGG19's weights ({error})"
            ) from None
    model = keras.Model(images, base.output, name="vgg19_features")
    model.trainable = False
    return model


def _randomize(model: keras.Model, seed: int) -> None:
    for index, layer in enumerate(model.layers):
        if isinstance(layer, keras.layers.Conv2D):
            kernel = keras.initializers.HeNormal(seed=seed + index)(layer.kernel.shape)
            layer.kernel.assign(kernel)
            layer.bias.assign(ops.zeros_like(layer.bias))


def _vgg19_with_weights(path: str) -> keras.Model:
    if path == "imagenet":
        return keras.applications.VGG19(include_top=False, weights="imagenet")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No VGG-19 weights file at {path}")
    if path.endswith(".keras"):
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    errors = []
    for include_top in (False, True):
        shape = (None, None, 3) if not include_top else (224, 224, 3)
        base = keras.applications.VGG19(include_top=include_top, weights=None, input_shape=shape)
        try:
            base.load_weights(path)
            return base
        except (ValueError, KeyError, OSError) as error:
            errors.append(str(error).splitlines()[0] if str(error) else type(error).__name__)
    raise ValueError(f"{path} does not hold keras.applications.VGG19's weights ({errors[0]})")


def random_multiscale_features(
    filters: int = 128, kernel_sizes: tuple[int, ...] = MULTISCALE_KERNEL_SIZES, seed: int = 0
) -> keras.Model:
    """One layer of random convolutions at several scales, side by side, on images in [0, 1]; frozen.

    After Ustyuzhaninov et al. (2017), who synthesised natural textures from
    the Gram matrices of a single layer of random multi-scale filters. Each
    kernel size k gives a layer "conv{k}x{k}": `filters` filters of k x k,
    He-normal from `seed`, zero bias, ReLU, 'same' padding, on the same
    input as `vgg19_features` (Keras' VGG preprocessing). Small kernels see
    fine grain, large ones larger structure; the content cost on "conv3x3"
    keeps the content image's edges.
    """
    if filters < 1 or not kernel_sizes or min(kernel_sizes) < 1:
        raise ValueError(
            f"filters and kernel_sizes must be positive. Received: filters={filters}, "
            f"kernel_sizes={kernel_sizes}"
        )
    images = keras.Input((None, None, 3), name="images")
    preprocessed = VGGPreprocess(name="vgg_preprocess")(images)
    outputs = [
        keras.layers.Conv2D(
            filters, size, padding="same", activation="relu", name=f"conv{size}x{size}",
            kernel_initializer=keras.initializers.HeNormal(seed=seed + index),
        )(preprocessed)
        for index, size in enumerate(kernel_sizes)
    ]  # fmt: skip
    model = keras.Model(images, outputs, name="random_multiscale_features")
    model.trainable = False
    return model


def feature_extractor(network: keras.Model, layer_names: list[str] | tuple[str, ...]) -> keras.Model:
    """A model from `network`'s input to the outputs of the named layers, as a list, in that order.

    Args:
        network: a functional Keras model (e.g. `vgg19_features()`).
        layer_names: names of its layers; a ValueError lists the valid ones.
    """
    known = [layer.name for layer in network.layers]
    unknown = [name for name in layer_names if name not in known]
    if unknown:
        raise ValueError(f"{network.name} has no layer {unknown[0]!r}. Its layers: {', '.join(known)}")
    outputs = [network.get_layer(name).output for name in layer_names]
    extractor = keras.Model(network.input, outputs, name=f"{network.name}_features")
    extractor.trainable = False
    return extractor


# -- gradient descent on the generated image ---------------------------------------------------------


@keras.saving.register_keras_serializable(package="kerasdl")
class ClipToUnitInterval(keras.constraints.Constraint):
    """Keeps pixel values in [0, 1] after every optimizer step (the assignment's `clip_0_1`)."""

    def __call__(self, w):
        return ops.clip(w, 0.0, 1.0)


class LatestValue(keras.metrics.Metric):
    """A metric that reports the value of the latest step (not the epoch's running mean)."""

    def __init__(self, name: str, **kwargs):
        super().__init__(name=name, **kwargs)
        self.value = self.add_variable(shape=(), initializer="zeros", name="value")

    def update_state(self, value):
        self.value.assign(ops.cast(value, self.value.dtype))

    def result(self):
        return ops.convert_to_tensor(self.value)

    def reset_state(self):
        self.value.assign(0.0)


def initial_image(content, noise: float = 0.25, seed: int = 0) -> np.ndarray:
    """G's starting point: C plus uniform noise in [-noise, noise], clipped to [0, 1] (as the assignment)."""
    content = np.asarray(content, dtype="float32")
    rng = np.random.default_rng(seed)
    return np.clip(content + rng.uniform(-noise, noise, content.shape), 0.0, 1.0).astype("float32")


def dummy_inputs(steps: int) -> np.ndarray:
    """What `StyleTransfer.fit` iterates over: `steps` placeholder rows, one step each at batch size 1."""
    return np.zeros((steps, 1), dtype="float32")


class _Untracked:
    """Holds objects a Keras model must not track (their variables stay out of `model.variables`)."""

    def __init__(self, **items):
        self.__dict__.update(items)


class StyleTransfer(keras.Model):
    """The generated image G as a model's one weight, trained on J(G) = alpha J_content + beta J_style.

    Its `call` ignores the inputs and returns G, [1, H, W, 3]; its loss is
    J(G) (module docstring), computed from the feature network's activations
    of G against those of C and S, which are computed once, here. `fit`
    with any optimizer (the lesson: Adam) then does gradient descent on the
    pixels, one step per batch of `dummy_inputs(steps)` at `batch_size=1`,
    and reports, per step, the costs of G before that step: "content_cost",
    "style_cost", "total_variation" and "total_cost" (latest values, not
    running means).

    Args:
        feature_network: a functional Keras model on images in [0, 1]
            (e.g. `vgg19_features()`); its weights are never trained.
        content_image: C, [H, W, 3], float in [0, 1].
        style_image: S, [H', W', 3] in [0, 1] (its size may differ from C's).
        content_layer: the layer of J_content.
        style_layers: layer name -> lambda_l.
        alpha: the weight of J_content.
        beta: the weight of J_style.
        total_variation_weight: gamma, the weight of TV(G) (0: none, the lesson's J).
        noise: G starts as C plus uniform noise in [-noise, noise] (`initial_image`).
        seed: the seed of that noise.
    """

    def __init__(
        self,
        feature_network: keras.Model,
        content_image,
        style_image,
        content_layer: str = VGG19_CONTENT_LAYER,
        style_layers: Mapping[str, float] | None = None,
        alpha: float = 10.0,
        beta: float = 40.0,
        total_variation_weight: float = 0.0,
        noise: float = 0.25,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        style_layers = dict(VGG19_STYLE_LAYERS if style_layers is None else style_layers)
        if not style_layers:
            raise ValueError("style_layers must name at least one layer. Received: style_layers={}")
        numbers = {
            "alpha": alpha,
            "beta": beta,
            "total_variation_weight": total_variation_weight,
            "noise": noise,
        }
        numbers.update({f"style_layers[{name!r}]": weight for name, weight in style_layers.items()})
        for name, value in numbers.items():
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a number >= 0. Received: {name}={value!r}")
        content_image = _image(content_image, "content_image")
        style_image = _image(style_image, "style_image")
        self.content_layer = content_layer
        self.style_layers = style_layers
        self.alpha, self.beta, self.total_variation_weight = alpha, beta, total_variation_weight
        extractor = feature_extractor(feature_network, [content_layer, *style_layers])
        content_target = extractor(content_image[None])[0][0]
        style_targets = [a[0] for a in extractor(style_image[None])[1:]]
        self._frozen = _Untracked(
            extractor=extractor,
            content_target=ops.convert_to_tensor(content_target),
            style_grams=[ops.convert_to_tensor(gram_matrix(a)) for a in style_targets],
        )
        self.image = self.add_weight(
            shape=(1, *content_image.shape),
            initializer=keras.initializers.Constant(initial_image(content_image, noise, seed)[None]),
            constraint=ClipToUnitInterval(),
            name="generated_image",
        )
        # Tracked by Keras (a dict attribute), so fit reports them in its logs.
        self.trackers = {
            name: LatestValue(name)
            for name in ("content_cost", "style_cost", "total_variation", "total_cost")
        }
        self.build((None, 1))  # G, the only weight, exists: the model is built (BackupAndRestore asks)

    def build(self, input_shape=None):
        pass

    def call(self, inputs=None):
        return ops.convert_to_tensor(self.image)

    def costs(self, generated=None) -> dict:
        """{"content_cost", "style_cost", "total_variation", "total_cost"} of `generated` (default: G)."""
        generated = ops.convert_to_tensor(self.image if generated is None else generated)
        activations = self._frozen.extractor(generated)
        content = content_cost(self._frozen.content_target[None], activations[0])
        layer_costs = self._layer_style_costs(activations[1:])
        style = ops.sum(
            ops.stack(
                [weight * cost for weight, cost in zip(self.style_layers.values(), layer_costs, strict=True)]
            )
        )
        tv = total_variation(generated) if self.total_variation_weight else ops.zeros(())
        total = self.alpha * content + self.beta * style + self.total_variation_weight * tv
        return {"content_cost": content, "style_cost": style, "total_variation": tv, "total_cost": total}

    def _layer_style_costs(self, style_activations) -> list:
        return [
            gram_style_cost(gram, gram_matrix(a), tuple(a.shape[1:]))
            for gram, a in zip(self._frozen.style_grams, style_activations, strict=True)
        ]

    def layer_style_costs(self, generated=None) -> dict[str, float]:
        """J_style^[l] of each style layer (unweighted), as floats."""
        generated = ops.convert_to_tensor(self.image if generated is None else generated)
        costs = self._layer_style_costs(self._frozen.extractor(generated)[1:])
        return {name: float(cost) for name, cost in zip(self.style_layers, costs, strict=True)}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        costs = self.costs(y_pred)
        for name, tracker in self.trackers.items():
            tracker.update_state(costs[name])
        return costs["total_cost"]

    def generated_image(self) -> np.ndarray:
        """G as a NumPy array, [H, W, 3] in [0, 1]."""
        return keras.ops.convert_to_numpy(self.image)[0]


def _image(image, name: str) -> np.ndarray:
    image = np.asarray(image, dtype="float32")
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"{name} must be an RGB image [H, W, 3]. Received: shape={image.shape}")
    if not (np.all(np.isfinite(image)) and image.min() >= 0 and image.max() <= 1):
        raise ValueError(f"{name} must hold values in [0, 1]. Received: min={image.min()}, max={image.max()}")
    return image
