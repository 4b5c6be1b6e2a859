"""Trains a small CNN per seed with op determinism on and prints digests.

Run as `python -m tests.kerasdl.training.determinism_job 0 1`.

One JSON line per seed: {"seed", "weights_sha256", "history"}. Op determinism is process-wide,
so the test runs this in fresh processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasdl.harness.run import set_seeds  # noqa: E402


def train(seed: int) -> dict:
    set_seeds(seed, deterministic=True)
    rng = np.random.default_rng(0)  # the same data for every seed: only the seed may change the result
    x = rng.uniform(size=(256, 12, 12, 1)).astype("float32")
    y = (x[:, :6].mean(axis=(1, 2, 3)) > x[:, 6:].mean(axis=(1, 2, 3))).astype("int64")
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(256, seed=seed).batch(32)
    model = keras.Sequential(
        [
            keras.Input((12, 12, 1)),
            keras.layers.Conv2D(8, 3, use_bias=False),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(2),
        ]
    )
    model.compile(
        keras.optimizers.Adam(1e-2),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(dataset, epochs=2, verbose=0).history
    digest = hashlib.sha256()
    for variable in model.variables + model.optimizer.variables:
        digest.update(np.ascontiguousarray(variable.value.numpy()).tobytes())
    # float.hex: exact, so "equal" below means bit-identical.
    return {
        "seed": seed,
        "weights_sha256": digest.hexdigest(),
        "history": {k: [float(v).hex() for v in vs] for k, vs in history.items()},
    }


if __name__ == "__main__":
    for argument in sys.argv[1:]:
        print(json.dumps(train(int(argument))), flush=True)
