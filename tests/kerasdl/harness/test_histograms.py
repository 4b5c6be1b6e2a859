"""Weight histograms: one per trainable weight, after every epoch, holding that weight's values."""

import keras
import numpy as np
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from kerasdl.harness.histograms import WeightHistograms, weight_tags


def model():
    inner = keras.Sequential([keras.layers.Dense(3, name="dense")], name="inner")
    inputs = keras.Input((4,))
    x = keras.layers.BatchNormalization(name="norm")(keras.layers.Dense(5, name="first")(inputs))
    return keras.Model(inputs, inner(x))


def test_every_trainable_weight_of_every_epoch_is_a_histogram_of_its_values(tmp_path):
    network = model()
    network.compile("sgd", "mse")
    writer = tf.summary.create_file_writer(str(tmp_path))
    x, y = np.random.default_rng(0).normal(size=(16, 4)), np.zeros((16, 3))
    network.fit(x, y, epochs=2, verbose=0, callbacks=[WeightHistograms(writer)])
    expected = [
        "first/kernel",
        "first/bias",
        "norm/gamma",
        "norm/beta",
        "inner/dense/kernel",
        "inner/dense/bias",
    ]
    assert sorted(weight_tags(network)) == sorted(expected)  # moving statistics are not trained: left out
    events = EventAccumulator(str(tmp_path)).Reload()
    assert sorted(events.Tags()["tensors"]) == sorted(expected)
    for tag in expected:
        steps = events.Tensors(tag)
        assert [event.step for event in steps] == [1, 2]
        buckets = tf.make_ndarray(steps[-1].tensor_proto)  # rows of (left edge, right edge, count)
        values = keras.ops.convert_to_numpy(weight_tags(network)[tag]).ravel()
        assert buckets[:, 2].sum() == values.size
        assert buckets[0, 0] == np.float32(values.min()) and buckets[-1, 1] == np.float32(values.max())
