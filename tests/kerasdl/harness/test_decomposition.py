"""kerasdl.harness.decomposition: the main job's callback in a user's own fit, writing to a plain folder."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from kerasdl.harness.curves import CURVES, decomposition_history
from kerasdl.harness.decomposition import DecompositionCallback

HUMAN = 0.05


def arrays(n, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32") + shift
    return x, (x[:, 0] + 0.5 * x[:, 1] > shift).astype("int64") + (x[:, 2] > 1 + shift).astype("int64")


def model(inputs=4, classes=3):
    keras.utils.set_random_seed(0)
    network = keras.Sequential(
        [
            keras.Input((inputs,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(classes, "softmax"),
        ]
    )
    network.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return network


def last_scalar(directory, tag):
    events = EventAccumulator(str(directory)).Reload().Tensors(tag)
    return events[-1].step, float(tf.make_ndarray(events[-1].tensor_proto))


def test_a_users_fit_gets_the_decomposition_in_its_own_log_dir(tmp_path):
    splits = {
        "train": arrays(96, 0),
        "train_dev": arrays(48, 1),
        "dev": arrays(48, 2, 0.7),
        "test": arrays(48, 3, 0.7),
    }
    network = model()
    callback = DecompositionCallback(
        tmp_path / "mine",
        train=splits["train"],  # arrays
        train_dev=tf.data.Dataset.from_tensor_slices(splits["train_dev"]).batch(16),  # a dataset
        dev=splits["dev"],
        test=splits["test"],
        human_error=HUMAN,
    )
    network.fit(*splits["train"], epochs=2, batch_size=32, callbacks=[callback], verbose=0)
    # The oracle: error rates of the model's argmax predictions, computed with NumPy.
    outputs = network.predict(np.concatenate([x for x, _ in splits.values()]), verbose=0)  # one trace
    predicted = dict(zip(splits, np.split(outputs.argmax(axis=1), [96, 144, 192]), strict=True))
    error = {name: float(np.mean(predicted[name] != y)) for name, (_, y) in splits.items()}
    folder = tmp_path / "mine"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [CURVES, "gaps", "human_level", "train", "train_dev", "dev", "test"]
    )
    expected = {
        "avoidable_bias": error["train"] - HUMAN,
        "variance": error["train_dev"] - error["train"],
        "data_mismatch": error["dev"] - error["train_dev"],
        "dev_overfitting": error["test"] - error["dev"],
    }
    for gap, value in expected.items():
        step, logged = last_scalar(folder / "gaps" / gap, "decomposition")  # one run (one colour) per gap
        assert step == 2 and logged == pytest.approx(value, abs=1e-6), gap
    assert last_scalar(folder / "dev", "error") == (2, pytest.approx(error["dev"], abs=1e-6))
    assert (
        "custom_scalars__config__" in EventAccumulator(str(folder / "human_level")).Reload().Tags()["tensors"]
    )
    history = decomposition_history(callback.curves, HUMAN)
    assert len(history) == 2 and history[-1].data_mismatch == pytest.approx(
        expected["data_mismatch"], abs=1e-6
    )
    assert json.loads((folder / CURVES).read_text())["human_level"]["error"] == {
        "1": HUMAN,
        "2": HUMAN,
    }


def test_measure_once_for_a_model_trained_elsewhere(tmp_path):
    network = model()
    x, y = arrays(40, 0)
    callback = DecompositionCallback(tmp_path, train=(x, y), dev=arrays(40, 1), human_error=HUMAN)
    callback.set_model(network)
    errors = callback.measure(0, learning_rate=False)
    assert errors["train"] == pytest.approx(float(np.mean(network.predict(x, verbose=0).argmax(1) != y)))
    assert callback.curves.points("gaps/variance", "decomposition") == [
        (0, pytest.approx(errors["dev"] - errors["train"]))
    ]
    assert callback.curves.points("train", "learning_rate") == []


x4, y4 = arrays(10, 0)


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"dev": tf.data.Dataset.from_tensor_slices(x4).batch(4)},
            "dev has no labels: it must yield \\(inputs, labels\\)",
        ),
        ({"dev": tf.data.Dataset.from_tensor_slices({"image": x4, "label": y4})}, "dev yields dictionaries"),
        ({"train": (x4, y4[:9])}, "train must hold one label per input. Received: 10 inputs and 9 labels"),
        ({"train": x4}, "train has no labels"),
        ({"test": (x4, None)}, "test has no labels"),
        ({"dev": "data.csv"}, "dev must be a tf.data.Dataset .* Received: str"),
        ({"human_error": 1.0}, "fraction in \\[0, 1\\).* Received: human_error=1.0"),
        ({"human_error": 5}, "Received: human_error=5$"),
        ({"human_error": "0.1"}, "Received: human_error='0.1'"),
        ({"human_error": -0.01}, "Received: human_error=-0.01"),
    ],
)
def test_bad_data_arguments_are_named(tmp_path, changes, message):
    arguments = {"train": (x4, y4), "dev": (x4, y4), "human_error": HUMAN, **changes}
    with pytest.raises(ValueError, match=message):
        DecompositionCallback(tmp_path, **arguments)


@pytest.mark.parametrize(
    "split, data, classes, message",
    [
        ("dev", (x4, np.arange(10) % 5), 3,
         r"dev does not fit the model: its labels go from 0 to 4 \(5 classes\) but the model outputs 3"),
        ("dev", tf.data.Dataset.from_tensor_slices((x4, np.arange(10) % 5)).batch(4), 3,
         r"its labels go from 0 to 4 \(5 classes\) but the model outputs 3 classes"),  # found by a pass
        ("train", (x4, np.full(10, -1)), 3, "train does not fit the model: its labels go from -1 to -1 but"),
        ("dev", (x4, np.eye(4, dtype="float32")[np.arange(10) % 4]), 3,
         "its one-hot labels have 4 classes but the model outputs 3 classes"),
        ("dev", (np.zeros((10, 5), "float32"), y4), 3,
         r"dev does not fit the model: its inputs have shape \(None, 5\) but the model takes \(None, 4\)"),
        ("dev", tf.data.Dataset.from_tensor_slices((x4, y4)), 3,
         r"its inputs have shape \(4,\) \(is it batched\?\)"),
        ("dev", (x4, np.arange(10) % 3), 1,
         r"its labels go from 0 to 2 \(3 classes\) but the model outputs one output"),
    ],
)  # fmt: skip
def test_data_that_does_not_fit_the_model_stops_fit_before_training(tmp_path, split, data, classes, message):
    arguments = {"train": (x4, y4), "dev": (x4, y4), split: data}
    callback = DecompositionCallback(tmp_path, **arguments, human_error=HUMAN)
    network = model(classes=classes)
    before = [w.copy() for w in network.get_weights()]
    with pytest.raises(ValueError, match=message):
        network.fit(x4, np.minimum(y4, classes - 1), epochs=1, callbacks=[callback], verbose=0)
    assert all(
        np.array_equal(a, b) for a, b in zip(before, network.get_weights(), strict=True)
    )  # no step taken
