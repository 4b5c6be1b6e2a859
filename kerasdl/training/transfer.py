"""Transfer learning, the lesson's four ways, as small reusable pieces.

Course 3, Week 2 ("Transfer learning") and Course 4, Week 2 ("Transfer
learning"): pre-train on task A (much data), reuse the network for task B
(little data, same input type). With a pretrained `base` model and the name
of its feature layer (the last hidden layer, just before the softmax):

1. `head_model(base, feature_layer, classes, trainable_from=None)`: freeze
   everything, train only a new softmax.
2. `precompute_features(...)`: run the frozen network once, save the
   features to disk, and train a shallow net on them
   (`shallow_classifier`); every epoch then costs a tiny dense layer only.
3. `head_model(..., trainable_from="<layer>")`: freeze fewer layers (the
   ones before `<layer>`); with more target data, train more of the network.
4. `head_model(..., trainable_from="all")`: fine-tune everything, starting
   from the pretrained weights instead of a random initialization.

`pipelines.transfer_split.class_transfer_split` builds a real source/target
task from one labelled dataset.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import keras
import numpy as np

from kerasdl.training.io import atomic_write_bytes


def feature_extractor(model: keras.Model, feature_layer: str) -> keras.Model:
    """The model from its input to the output of `feature_layer` (weights shared, not copied)."""
    return keras.Model(model.input, model.get_layer(feature_layer).output, name=f"{model.name}_features")


def head_model(
    base: keras.Model, feature_layer: str, classes: int, trainable_from: str | None = None
) -> keras.Model:
    """A copy of `base` up to `feature_layer`, with the pretrained weights, and a new softmax on top.

    Args:
        base: the pretrained model (left untouched: the copy has its own weights).
        feature_layer: the layer whose output feeds the new softmax.
        classes: the target task's number of classes.
        trainable_from: None freezes the whole copied network (way 1);
            a layer name trains that layer and everything after it (way 3);
            "all" trains everything (way 4, fine-tuning). The new softmax
            always trains. Frozen batch-norm layers run in inference mode.
    """
    copy = keras.models.clone_model(base)
    copy.set_weights(base.get_weights())
    extractor = feature_extractor(copy, feature_layer)
    names = [layer.name for layer in extractor.layers]
    if trainable_from not in (None, "all") and trainable_from not in names:
        raise ValueError(
            f"trainable_from must be None, 'all' or a layer up to {feature_layer!r}: {names}. "
            f"Received: trainable_from={trainable_from!r}"
        )
    first_trainable = (
        0
        if trainable_from == "all"
        else len(names)
        if trainable_from is None
        else names.index(trainable_from)
    )
    for index, layer in enumerate(extractor.layers):
        layer.trainable = index >= first_trainable
    outputs = keras.layers.Dense(classes, activation="softmax", name="new_softmax")(extractor.output)
    return keras.Model(extractor.input, outputs, name=f"{base.name}_transfer")


def _weights_fingerprint(model: keras.Model) -> str:
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()


def precompute_features(
    extractor: keras.Model, images: np.ndarray, path: str | os.PathLike, batch_size: int = 512
) -> np.ndarray:
    """The features of `images`, computed once and saved to `path` (.npz, written atomically).

    A later call with the same network weights and the same number of images
    loads the file instead of recomputing; different weights recompute and
    overwrite it.
    """
    path = Path(path)
    fingerprint = _weights_fingerprint(extractor)
    if path.exists():
        with np.load(path, allow_pickle=False) as data:
            if str(data["fingerprint"]) == fingerprint and len(data["features"]) == len(images):
                return data["features"]
    features = extractor.predict(images, batch_size=batch_size, verbose=0)
    buffer = io.BytesIO()
    np.savez(buffer, features=features, fingerprint=np.array(fingerprint))
    atomic_write_bytes(path, buffer.getvalue())
    return features


def shallow_classifier(feature_dim: int, classes: int, hidden_units: int = 0) -> keras.Model:
    """The shallow net trained on saved features (way 2): optional hidden ReLU layer, softmax."""
    layers = [keras.Input((feature_dim,))]
    if hidden_units:
        layers.append(keras.layers.Dense(hidden_units, activation="relu", name="hidden"))
    layers.append(keras.layers.Dense(classes, activation="softmax", name="new_softmax"))
    return keras.Sequential(layers, name="shallow_classifier")
