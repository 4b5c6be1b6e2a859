import numpy as np
import pytest
import tensorflow as tf

from pipelines.datasets import to_dataset
from pipelines.normalize import Standardizer
from pipelines.sources import ImageSource
from pipelines.splits import small_data_split


def test_statistics_match_numpy_per_channel():
    images = np.random.default_rng(0).integers(0, 256, (1000, 5, 5, 3), dtype=np.uint8)
    standardizer = Standardizer.fit(images, chunk_values=77 * 75)  # 77 images a chunk, the last partial
    np.testing.assert_allclose(standardizer.mean, images.reshape(-1, 3).mean(0), rtol=1e-6)
    np.testing.assert_allclose(standardizer.std, images.reshape(-1, 3).std(0), rtol=1e-5)
    out = standardizer(images)
    np.testing.assert_allclose(out.reshape(-1, 3).mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(out.reshape(-1, 3).std(0), 1, atol=1e-4)
    np.testing.assert_allclose(standardizer(tf.constant(images)).numpy(), out, atol=1e-5)


def test_every_split_uses_the_training_statistics_only():
    rng = np.random.default_rng(0)
    n = 3000
    ids = np.array([f"e{i}" for i in range(n)])
    # brightness depends on the split an example will land in, so statistics differ per split
    source = ImageSource("s", np.zeros((n, 2, 2, 1), np.uint8), np.zeros(n, np.int64), ids, ("c",))
    parts = small_data_split(source)
    offsets = {"train": 50, "dev": 150, "test": 250}
    images = {
        k: (rng.normal(offsets[k], 10, (len(p), 2, 2, 1))).clip(0, 255).astype(np.uint8)
        for k, p in parts.items()
    }
    train_only = Standardizer.fit(images["train"])
    dev_ds = to_dataset(parts["dev"].replace(images=images["dev"]), 4096, standardizer=train_only)
    dev_batch = next(iter(dev_ds))[0].numpy()
    expected = (images["dev"].astype(np.float32) - train_only.mean) / train_only.std
    np.testing.assert_allclose(dev_batch, expected, rtol=1e-5)
    assert dev_batch.mean() > 5  # dev stays far from zero: it was not standardized with its own statistics
    round_trip = Standardizer.from_config(train_only.to_config())
    np.testing.assert_array_equal(round_trip.mean, train_only.mean)


def test_rejects_empty_input():
    with pytest.raises(ValueError, match="Received: shape=\\(0, 2, 2, 1\\)"):
        Standardizer.fit(np.zeros((0, 2, 2, 1)))
