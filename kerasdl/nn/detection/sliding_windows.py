"""Sliding windows as one convolution: a classifier's dense layers turned into convolutions.

Course 4, Week 3 ("Convolutional implementation of sliding windows";
Sermanet et al., OverFeat, 2014). Running a classifier trained on f x f
crops over every window of a larger image repeats most of the work, since
neighbouring windows share most of their pixels. Rewrite the classifier so
that it is convolutions only:

- the first `Dense` layer after `Flatten`, which sees the whole h x w x c
  volume before it, becomes a `Conv2D` with `units` filters of size h x w
  (its kernel [h w c, units] reshaped to [h, w, c, units]: `Flatten` reads
  the volume row by row, channels last, the order the reshape undoes);
- every later `Dense` layer becomes a 1 x 1 `Conv2D` (kernel [1, 1, in, units]);
- the layers before `Flatten` (convolutions, pooling, batch norm,
  activations) are copied as they are, weights included.

The result takes an image of any size and returns, at output position
(i, j), exactly what the classifier returns for the window whose top-left
corner is (i s, j s), where the stride s is the product of the strides of
the layers before `Flatten` (`window_stride`): all windows in one pass,
sharing the computation of their overlap.

Exactness needs "valid" padding before `Flatten` (with "same" padding a
window's border pixels would see its neighbours' pixels instead of the
classifier's zeros), so other padding is refused.

Example:

    classifier = keras.Sequential([keras.Input((28, 28, 1)), Conv2D(16, 5), MaxPooling2D(2), Flatten(),
                                   Dense(64, activation="relu"), Dense(10, activation="softmax")])
    scanner = convolutionalize(classifier)      # input (None, None, 1)
    scores = scanner(canvases)                  # [B, (H - 28) // 2 + 1, (W - 28) // 2 + 1, 10]
"""

from __future__ import annotations

import keras
import numpy as np

# Layers copied as they are: each maps a window of its input to the same window of its output.
SPATIAL_LAYERS = (
    keras.layers.Conv2D,
    keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D,
    keras.layers.BatchNormalization,
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.Dropout,
    keras.layers.SpatialDropout2D,
    keras.layers.Rescaling,
)
# Layers after Flatten that act on each vector alone, so they act on each position's vector alike.
VECTOR_LAYERS = (keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.Dropout)


def _chain(classifier: keras.Model) -> list[keras.layers.Layer]:
    """The classifier's layers in order, after checking they form a single chain."""
    if not isinstance(classifier, keras.Model) or not classifier.built:
        raise ValueError(f"classifier must be a built keras.Model. Received: {classifier!r}")
    layers = [layer for layer in classifier.layers if not isinstance(layer, keras.layers.InputLayer)]
    if not isinstance(classifier, keras.Sequential):
        expected = classifier.inputs
        for layer in layers:
            if list(keras.tree.flatten(layer.input)) != list(expected):
                raise ValueError(
                    "classifier must be a chain of layers, each reading the one before. "
                    f"Layer {layer.name!r} "
                    "reads something else."
                )
            expected = [layer.output]
    return layers


def _split_at_flatten(layers: list[keras.layers.Layer]):
    flatten = [i for i, layer in enumerate(layers) if isinstance(layer, keras.layers.Flatten)]
    if len(flatten) != 1:
        raise ValueError(f"classifier must have exactly one Flatten layer. Received: {len(flatten)}")
    before, after = layers[: flatten[0]], layers[flatten[0] + 1 :]
    for layer in before:
        if not isinstance(layer, SPATIAL_LAYERS):
            raise ValueError(
                f"Layer {layer.name!r} ({type(layer).__name__}) before Flatten is not one that maps "
                "windows to "
                f"windows; supported: {', '.join(t.__name__ for t in SPATIAL_LAYERS)}."
            )
        if getattr(layer, "padding", "valid") != "valid":
            raise ValueError(
                f"Layer {layer.name!r} has padding={layer.padding!r}: only 'valid' padding makes each output "
                "position equal the classifier on its window."
            )
    for layer in after:
        if not isinstance(layer, (keras.layers.Dense, *VECTOR_LAYERS)):
            raise ValueError(
                f"Layer {layer.name!r} ({type(layer).__name__}) after Flatten is not supported; supported: "
                f"Dense, {', '.join(t.__name__ for t in VECTOR_LAYERS)}."
            )
    if not any(isinstance(layer, keras.layers.Dense) for layer in after):
        raise ValueError("classifier must have a Dense layer after Flatten.")
    return before, layers[flatten[0]], after


def window_stride(classifier: keras.Model) -> int:
    """s: how far apart, in input pixels, the windows of neighbouring output positions are."""
    before, _, _ = _split_at_flatten(_chain(classifier))
    stride = [1, 1]
    for layer in before:
        strides = getattr(layer, "strides", (1, 1))
        stride = [stride[0] * strides[0], stride[1] * strides[1]]
    if stride[0] != stride[1]:
        raise ValueError(f"The classifier's strides differ along height and width: {tuple(stride)}")
    return stride[0]


def _copy(layer: keras.layers.Layer) -> keras.layers.Layer:
    return type(layer).from_config(layer.get_config())


def convolutionalize(classifier: keras.Model, name: str | None = None) -> keras.Model:
    """The classifier as convolutions only, for images of any size (module docstring).

    Args:
        classifier: a built chain: spatial layers, one `Flatten`, then `Dense`
            layers (and activations or dropout).
        name: the new model's name (default: "<classifier>_sliding").

    Returns:
        A model [B, H, W, c] -> [B, (H - f_h) // s + 1, (W - f_w) // s + 1, outputs],
        with copies of the classifier's weights.
    """
    layers = _chain(classifier)
    before, flatten, after = _split_at_flatten(layers)
    channels = classifier.inputs[0].shape[-1]
    inputs = keras.Input((None, None, channels), name="image")
    x = inputs
    copies = []
    for layer in before:
        copy = _copy(layer)
        x = copy(x)
        copies.append((copy, layer.get_weights()))
    volume = flatten.input.shape[1:]  # (h, w, c) that the first Dense layer sees as one vector
    if len(volume) != 3 or None in volume:
        raise ValueError(f"The volume before Flatten must have a known (h, w, c) shape. Received: {volume}")
    first = True
    for layer in after:
        if isinstance(layer, keras.layers.Dense):
            kernel, *bias = layer.get_weights()
            units = kernel.shape[1]
            size = volume[:2] if first else (1, 1)
            conv = keras.layers.Conv2D(
                units, size, activation=layer.activation, use_bias=layer.use_bias, name=f"{layer.name}_conv"
            )
            x = conv(x)
            copies.append((conv, [kernel.reshape(*size, -1, units), *bias]))
            first = False
        else:
            copy = _copy(layer)
            x = copy(x)
            copies.append((copy, layer.get_weights()))
    model = keras.Model(inputs, x, name=name or f"{classifier.name}_sliding")
    for copy, weights in copies:
        copy.set_weights([np.asarray(w) for w in weights])
    return model
