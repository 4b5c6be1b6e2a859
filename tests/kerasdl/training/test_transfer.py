"""kerasdl.training.transfer: frozen layers, the shallow head, features saved once."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasdl.nn.recipes import fast_cnn
from kerasdl.training import transfer

RNG = np.random.default_rng(0)


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
