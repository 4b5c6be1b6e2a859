"""kerasdl.transfer: the source/target split, frozen layers, features saved once."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasdl import transfer
from kerasdl.recipes import fast_cnn
from pipelines.sources import ImageSource

RNG = np.random.default_rng(0)


def _source(n_per_class: int, name: str) -> ImageSource:
    labels = np.repeat(np.arange(10), n_per_class).astype(np.int64)
    images = RNG.integers(0, 255, size=(len(labels), 28, 28, 1)).astype(np.uint8)
    ids = np.array([f"{name}/{i}" for i in range(len(labels))])
    return ImageSource(name, images, labels, ids, tuple(f"class{c}" for c in range(10)))


def test_class_transfer_split():
    train, test = _source(30, "train"), _source(5, "test")
    split = transfer.class_transfer_split(train, test, source_classes=(0, 1, 2, 3, 4), per_class=7)
    assert len(split.pretrain) == 150 and len(split.pretrain_test) == 25
    assert len(split.target_train) == 35 and len(split.target_test) == 25
    np.testing.assert_array_equal(np.bincount(split.target_train.labels), [7] * 5)
    assert split.target_train.class_names == ("class5", "class6", "class7", "class8", "class9")
    # Relabelled, but the same images: class 5 became 0.
    original = dict(zip(train.ids, train.labels, strict=True))
    assert all(original[i] == label + 5 for i, label in zip(split.target_train.ids, split.target_train.labels,
                                                              strict=True))  # fmt: skip
    assert not set(split.pretrain.ids) & set(split.target_train.ids)
    again = transfer.class_transfer_split(train, test, (4, 3, 2, 1, 0), 7)
    np.testing.assert_array_equal(again.target_train.ids, split.target_train.ids)  # deterministic
    other_salt = transfer.class_transfer_split(train, test, (0, 1, 2, 3, 4), 7, salt="other")
    assert set(other_salt.target_train.ids) != set(split.target_train.ids)
    with pytest.raises(ValueError, match="per_class=31"):
        transfer.class_transfer_split(train, test, (0, 1), 31)
    with pytest.raises(ValueError, match="source_classes"):
        transfer.class_transfer_split(train, test, tuple(range(10)), 5)


@pytest.mark.parametrize("trainable_from,frozen_convs", [(None, 3), ("conv3", 2), ("all", 0)])
def test_head_model_freezes_what_it_says_and_keeps_base_untouched(trainable_from, frozen_convs):
    base = fast_cnn((4, 4, 4), hidden_units=8)
    base_weights = [w.copy() for w in base.get_weights()]
    model = transfer.head_model(base, "hidden_relu", classes=3, trainable_from=trainable_from)
    x = RNG.normal(size=(16, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(  # pretrained weights copied: same features as the base
        transfer.feature_extractor(model, "hidden_relu")(x),
        transfer.feature_extractor(base, "hidden_relu")(x),
        rtol=1e-5,
    )
    before = {w.path: w.numpy().copy() for w in model.weights}
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    model.fit(x, RNG.integers(0, 3, 16), epochs=2, verbose=0)
    after = {w.path: w.numpy() for w in model.weights}
    changed = {path for path, value in before.items() if not np.allclose(value, after[path])}
    conv_kernels = [f"conv{i}/kernel" for i in (1, 2, 3)]
    assert sum(kernel not in changed for kernel in conv_kernels) == frozen_convs
    assert "new_softmax/kernel" in changed
    for old, new in zip(base_weights, base.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    with pytest.raises(ValueError, match="trainable_from='nope'"):
        transfer.head_model(base, "hidden_relu", 3, trainable_from="nope")


def test_precompute_features_runs_once_per_weights(tmp_path):
    base = fast_cnn((4, 4, 4), hidden_units=8)
    extractor = transfer.feature_extractor(base, "hidden_relu")
    images = RNG.normal(size=(20, 28, 28, 1)).astype("float32")
    path = tmp_path / "features.npz"
    features = transfer.precompute_features(extractor, images, path)
    np.testing.assert_allclose(features, extractor(images).numpy(), rtol=1e-5, atol=1e-6)
    stamp = path.stat().st_mtime_ns
    np.testing.assert_array_equal(transfer.precompute_features(extractor, images, path), features)
    assert path.stat().st_mtime_ns == stamp  # loaded, not recomputed
    base.get_layer("hidden").set_weights([w * 2 for w in base.get_layer("hidden").get_weights()])
    changed = transfer.precompute_features(extractor, images, path)
    assert not np.allclose(changed, features)  # new weights: recomputed
    assert transfer.shallow_classifier(8, 5, hidden_units=4).output_shape == (None, 5)
