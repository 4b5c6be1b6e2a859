"""Atomic `.keras` saves and refusal of untrusted model files, after Keras' saving safe_mode tests."""

import configparser
import importlib
import importlib.util
import json
import os
import pkgutil
import re
import stat
import sys
import types
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from keras.src.saving import serialization_lib

import kerasdl
from kerasdl.evaluation.ensemble import Ensemble
from kerasdl.evaluation.multicrop import MultiCropClassifier
from kerasdl.nn import blocks, cells, initializers, losses, optimizers, regularizers, schedules
from kerasdl.nn.layers import BatchNorm, InvertedDropout, Softmax
from kerasdl.nn.layers import Dense as LessonDense
from kerasdl.training import saving
from kerasdl.training.loop import CustomStepModel
from kerasdl.training.saving import UntrustedModelError, load_model, save_model

REPOSITORY = Path(__file__).resolve().parents[3]


@keras.saving.register_keras_serializable(package="kerasdl_tests_saving")
class StrangerInitializer(keras.initializers.Initializer):
    """Another package's registered object: it counts how often a model file makes Keras build it."""

    built = 0

    def __init__(self):
        StrangerInitializer.built += 1

    def __call__(self, shape, dtype=None):
        return keras.ops.zeros(shape, dtype)


def small_model(name="small"):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    outputs = LessonDense(2, name="lesson_dense")(keras.layers.Dense(4, name="dense")(inputs))
    return keras.Model(inputs, outputs, name=name)


def rewrite_config(source, target, edit, extra_members=()):
    """Copies a .keras file with its config.json edited: how a stranger's file is crafted."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in [*members.items(), *extra_members]:
            archive.writestr(name, data)
    return target


def layer_config(config, name):
    return next(layer for layer in config["config"]["layers"] if layer["config"]["name"] == name)


class TestSaveLoad:
    def test_round_trip_with_kerasdl_objects_needs_no_custom_objects(self, tmp_path):
        model = small_model()
        x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
        path = save_model(model, tmp_path / "model.keras")
        loaded = load_model(path)
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
        assert isinstance(loaded.get_layer("lesson_dense"), LessonDense)

    @pytest.mark.parametrize("name", ["model.h5", "model.weights.h5", "model", "model.keras.zip"])
    def test_only_the_keras_format(self, tmp_path, name):
        with pytest.raises(ValueError, match="Only the .keras format.*Received: path="):
            save_model(small_model(), tmp_path / name)
        with pytest.raises(ValueError, match="Only the .keras format.*Received: path="):
            load_model(tmp_path / name)

    def test_crash_mid_save_keeps_the_previous_file(self, tmp_path, monkeypatch):
        path = save_model(small_model("first"), tmp_path / "model.keras")
        before = path.read_bytes()

        def dies_halfway(self, filepath, **kwargs):
            with open(filepath, "wb") as file:
                file.write(before[: len(before) // 2])
            raise OSError("killed mid-save")

        monkeypatch.setattr(keras.Model, "save", dies_halfway)
        with pytest.raises(OSError, match="killed mid-save"):
            save_model(small_model("second"), path)
        monkeypatch.undo()
        assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["model.keras"]
        assert load_model(path).name == "first"

    def test_no_way_to_turn_safe_mode_off(self, tmp_path):
        path = save_model(small_model(), tmp_path / "model.keras")
        with pytest.raises(TypeError):
            load_model(path, safe_mode=False)

    def test_not_a_zip(self, tmp_path):
        (tmp_path / "junk.keras").write_bytes(b"not a zip")
        with pytest.raises(ValueError, match="not a readable .keras file"):
            load_model(tmp_path / "junk.keras")


class TestUntrustedFiles:
    def test_lambda_layer_is_refused(self, tmp_path):
        model = keras.Sequential(
            [keras.Input((2,)), keras.layers.Lambda(lambda x: x * 2, name="doubler")], name="net"
        )
        model.save(tmp_path / "lambda.keras")
        with pytest.raises(UntrustedModelError, match=r"Lambda layer \(/net/doubler\)"):
            load_model(tmp_path / "lambda.keras")

    def test_lambda_with_a_named_function_is_refused_too(self, tmp_path):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Lambda(keras.ops.abs, name="absolute")])
        model.save(tmp_path / "lambda.keras")
        with pytest.raises(UntrustedModelError, match="Lambda layer"):
            load_model(tmp_path / "lambda.keras")

    def test_a_config_naming_another_module_is_refused_before_anything_is_imported(
        self, tmp_path, monkeypatch
    ):
        # A module whose import has a visible side effect, importable from sys.path.
        (tmp_path / "stranger_module.py").write_text(
            "import pathlib\npathlib.Path(__file__).with_name('IMPORTED').write_text('ran')\n"
        )
        monkeypatch.syspath_prepend(str(tmp_path))
        save_model(small_model(), tmp_path / "model.keras")

        def point_at_stranger(config):
            layer = layer_config(config, "dense")
            layer.update(module="stranger_module", class_name="Dense", registered_name=None)

        crafted = rewrite_config(tmp_path / "model.keras", tmp_path / "crafted.keras", point_at_stranger)
        with pytest.raises(
            UntrustedModelError, match=r"module 'stranger_module' \(class 'Dense', at /small/dense\)"
        ):
            load_model(crafted)
        assert not (tmp_path / "IMPORTED").exists() and "stranger_module" not in sys.modules

    def test_a_custom_object_of_another_package_is_refused(self, tmp_path):
        save_model(small_model(), tmp_path / "model.keras")

        def foreign_registration(config):
            layer_config(config, "lesson_dense")["registered_name"] = "Stranger>Dense"

        crafted = rewrite_config(tmp_path / "model.keras", tmp_path / "crafted.keras", foreign_registration)
        with pytest.raises(UntrustedModelError, match="custom object 'Stranger>Dense'"):
            load_model(crafted)

    def test_check_model_config_lists_the_kerasdl_modules_to_import(self, tmp_path):
        save_model(small_model(), tmp_path / "model.keras")
        modules = saving.check_model_config(saving.read_model_config(tmp_path / "model.keras"))
        assert modules == [LessonDense.__module__]


def stranger_initializer(config):
    """Names another package's registered object by its registered name alone."""
    layer_config(config, "dense")["config"]["kernel_initializer"] = keras.saving.get_registered_name(
        StrangerInitializer
    )


def crafted(tmp_path, edit, extra_members=()):
    """A stranger's file: the small model saved for real, then its config.json edited."""
    save_model(small_model(), tmp_path / "model.keras")
    return rewrite_config(tmp_path / "model.keras", tmp_path / "crafted.keras", edit, extra_members)


@pytest.fixture
def keras_never_loads(monkeypatch):
    """Makes reaching Keras' loader a failure: a refused file must be refused before it."""

    def reached(*args, **kwargs):
        raise AssertionError("keras.saving.load_model was reached")

    monkeypatch.setattr(keras.saving, "load_model", reached)


@pytest.mark.usefixtures("keras_never_loads")
class TestRefusals:
    @pytest.mark.parametrize(
        ("module", "name", "registered", "refused"),
        [
            ("keras.src.utils.file_utils", "get_file", "get_file", "keras.src.utils.file_utils.get_file"),
            ("keras.utils", "get_file", "get_file", "keras.utils.get_file"),
            ("os", "system", None, "os.system"),
            ("builtins", "deserialize", "function", "keras.activations.deserialize"),
            ("builtins", "eval", "function", "builtins.eval"),
            ("keras.activations", "relu", "kerasdl_tests>relu", "keras.activations.relu"),
        ],
    )
    def test_a_function_record_naming_a_callable_is_refused(
        self, tmp_path, module, name, registered, refused
    ):
        def point_at_function(config):
            layer_config(config, "dense")["config"]["activation"] = {
                "module": module,
                "class_name": "function",
                "config": name,
                "registered_name": registered,
            }

        with pytest.raises(
            UntrustedModelError, match=rf"function {re.escape(repr(refused))} .*at /small/dense\)"
        ):
            load_model(crafted(tmp_path, point_at_function))

    def test_a_tfsm_layer_is_refused(self, tmp_path):
        def to_tfsm_layer(config):
            layer_config(config, "dense").update(
                class_name="TFSMLayer",
                config={"name": "dense", "filepath": str(tmp_path / "saved_model"), "call_endpoint": "serve"},
            )

        with pytest.raises(UntrustedModelError, match=r"class 'keras.layers.TFSMLayer' \(at /small/dense\)"):
            load_model(crafted(tmp_path, to_tfsm_layer))

    @pytest.mark.parametrize("where", ["layer", "initializer"])
    def test_a_record_without_a_module_is_refused(self, tmp_path, where):
        def drop_module(config):
            layer = layer_config(config, "dense")
            del (layer if where == "layer" else layer["config"]["kernel_initializer"])["module"]

        class_name = "Dense" if where == "layer" else "GlorotUniform"
        with pytest.raises(
            UntrustedModelError, match=rf"without a 'module' \(class '{class_name}', at /small/dense\)"
        ):
            load_model(crafted(tmp_path, drop_module))

    def test_a_lambda_nested_in_a_sequential_is_refused(self, tmp_path):
        inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, name="inner_dense")], name="inner")
        inputs = keras.Input((3,))
        outer = keras.Model(inputs, LessonDense(2, name="lesson_dense")(inner(inputs)), name="outer")
        save_model(outer, tmp_path / "model.keras")

        def to_lambda(config):
            (layer,) = [
                layer
                for layer in layer_config(config, "inner")["config"]["layers"]
                if layer["config"]["name"] == "inner_dense"
            ]
            layer.update(
                class_name="Lambda",
                config={
                    "name": "inner_dense",
                    "function": {"class_name": "__lambda__", "config": {"value": "YQ==", "defaults": None}},
                    "arguments": {},
                },
            )

        crafted_file = rewrite_config(tmp_path / "model.keras", tmp_path / "crafted.keras", to_lambda)
        with pytest.raises(UntrustedModelError, match=r"Lambda layer \(/outer/inner/inner_dense\)"):
            load_model(crafted_file)

    def test_a_python_lambda_anywhere_is_refused(self, tmp_path):
        def lambda_activation(config):
            layer_config(config, "dense")["config"]["activation"] = {
                "class_name": "__lambda__",
                "config": {"value": "YQ==", "defaults": None, "closure": None},
            }

        with pytest.raises(UntrustedModelError, match=r"Python lambda \(/small/dense\)"):
            load_model(crafted(tmp_path, lambda_activation))

    def test_a_keras_class_registered_under_another_name_is_refused(self, tmp_path):
        def foreign_name(config):
            layer_config(config, "dense")["registered_name"] = "kerasdl_tests>Dense"

        with pytest.raises(
            UntrustedModelError, match=r"custom object 'kerasdl_tests>Dense' \(class 'keras.layers"
        ):
            load_model(crafted(tmp_path, foreign_name))

    def test_another_packages_object_named_by_a_bare_string_is_refused(self, tmp_path):
        def stranger_initializer(config):
            layer_config(config, "dense")["config"]["kernel_initializer"] = (
                "kerasdl_tests_saving>StrangerInitializer"
            )

        refusal = r"custom object 'kerasdl_tests_saving>StrangerInitializer' \(at /small/dense\)"
        with pytest.raises(UntrustedModelError, match=refusal):
            load_model(crafted(tmp_path, stranger_initializer))

    def test_a_kerasdl_module_alone_is_not_enough(self, tmp_path):
        def kerasdl_but_not_allowed(config):
            layer_config(config, "lesson_dense").update(
                module="kerasdl.training.saving", class_name="Path", registered_name="kerasdl>Path"
            )

        with pytest.raises(
            UntrustedModelError, match=r"class 'kerasdl.training.saving.Path' \(at /small/lesson_dense\)"
        ):
            load_model(crafted(tmp_path, kerasdl_but_not_allowed))

    @pytest.mark.parametrize("member", ["../x", "assets/../../x", "/etc/x", "C:/x", "..\\x"])
    def test_a_member_name_leaving_the_archive_is_refused(self, tmp_path, member):
        path = crafted(tmp_path, lambda config: None, extra_members=[(member, b"x")])
        with pytest.raises(
            UntrustedModelError, match=rf"member {re.escape(repr(member))}, whose name leaves"
        ):
            load_model(path)

    def test_a_duplicate_member_is_refused(self, tmp_path):
        source = save_model(small_model(), tmp_path / "model.keras")
        second_config = [("config.json", b"{}")]
        with pytest.warns(UserWarning, match="Duplicate name"):
            path = rewrite_config(source, tmp_path / "crafted.keras", lambda config: None, second_config)
        with pytest.raises(UntrustedModelError, match="member 'config.json' twice"):
            load_model(path)

    @pytest.mark.parametrize(
        ("member", "argument"),
        [("model.weights.h5", "max_member_bytes"), ("config.json", "max_config_bytes")],
    )
    def test_an_oversized_member_is_refused_before_it_is_read(self, tmp_path, monkeypatch, member, argument):
        path = save_model(small_model(), tmp_path / "model.keras")
        with zipfile.ZipFile(path) as archive:
            size = archive.getinfo(member).file_size
        assert size > 500

        def no_reading(*args, **kwargs):
            raise AssertionError("an archive member was read")

        monkeypatch.setattr(zipfile.ZipFile, "open", no_reading)
        with pytest.raises(
            UntrustedModelError,
            match=rf"member '{re.escape(member)}' declares {size} bytes, over the limit of 500 bytes; "
            rf"pass a larger {argument}",
        ):
            load_model(path, **{argument: 500})

    @pytest.mark.parametrize("version", ["3.10.0", "3.9.2", "2.15.0", "3.10.1.dev2025"])
    def test_an_older_keras_is_refused(self, tmp_path, monkeypatch, version):
        path = save_model(small_model(), tmp_path / "model.keras")
        monkeypatch.setattr(keras, "__version__", version)
        with pytest.raises(
            RuntimeError,
            match=rf"needs Keras >= 3\.11.*Received: keras.__version__={re.escape(repr(version))}",
        ):
            load_model(path)


def test_keras_alone_builds_another_packages_object_from_a_bare_string(tmp_path):
    """Why strings are checked too: safe_mode does not stop this."""

    def stranger_initializer(config):
        layer_config(config, "dense")["config"]["kernel_initializer"] = (
            "kerasdl_tests_saving>StrangerInitializer"
        )

    before = StrangerInitializer.built
    keras.saving.load_model(crafted(tmp_path, stranger_initializer), safe_mode=True)
    assert StrangerInitializer.built > before


class TestAllowlist:
    @pytest.mark.parametrize("version", ["3.11.0", "3.12.0rc1", "3.15.1", keras.__version__])
    def test_a_fixed_keras_passes_the_version_check(self, version):
        saving.check_keras_version(version)

    def test_setup_cfg_requires_the_minimum_the_loader_checks(self):
        parser = configparser.ConfigParser()
        parser.read(REPOSITORY / "setup.cfg")
        minimum = ".".join(map(str, saving.MIN_KERAS_VERSION))
        assert f"keras>={minimum},<4" in parser["options"]["install_requires"].split("\n")

    @pytest.mark.filterwarnings("ignore:kerasdl.* moved to:DeprecationWarning")  # the old import paths
    def test_kerasdl_objects_are_exactly_the_classes_registered_under_kerasdl(self):
        for module in pkgutil.walk_packages(kerasdl.__path__, "kerasdl."):
            if not module.name.endswith("__main__"):
                importlib.import_module(module.name)
        registered = {
            name: f"{obj.__module__}.{obj.__name__}"
            for name, obj in keras.saving.get_custom_objects().items()
            if name.startswith("kerasdl>")
        }
        assert sorted(registered.values()) == sorted(saving.KERASDL_OBJECTS)
        for name, qualified in registered.items():
            assert name == "kerasdl>" + qualified.rsplit(".", 1)[1]  # what the loader expects

    def test_keras_objects_are_spelled_as_keras_saves_them(self):
        misspelled = []
        for name in sorted(saving.KERAS_OBJECTS):
            module, class_name = name.rsplit(".", 1)
            if module.startswith("keras.src.backend.torch.") and importlib.util.find_spec("torch") is None:
                continue  # the PyTorch backend's optimizer classes import torch (checked in its backend run)
            cls = getattr(importlib.import_module(module), class_name)
            record = serialization_lib.serialize_with_public_class(cls)
            if f"{record['module']}.{record['class_name']}" != name:
                misspelled.append((name, record["module"], record["class_name"]))
        assert misspelled == []

    def test_keras_functions_exist(self):
        for name in saving.KERAS_FUNCTIONS:
            module, function = name.rsplit(".", 1)
            assert callable(getattr(importlib.import_module(module), function)), name


def lesson_model():
    """kerasdl's layers, blocks, initializer, regularizer, optimizer, schedule and loss in one model."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = blocks.ConvolutionalBlock([2, 2, 4], strides=2, name="conv_block")(inputs)
    x = blocks.IdentityBlock([2, 2, 4], name="identity_block")(x)
    x = blocks.InceptionModule(1, 1, 2, 1, 2, 1, name="inception")(x)
    x = keras.layers.Flatten()(x)
    x = LessonDense(
        6,
        kernel_initializer=initializers.He(seed=1),
        kernel_regularizer=regularizers.L2(0.01, m=8),
        name="hidden",
    )(x)
    x = BatchNorm(name="batch_norm")(x)
    x = InvertedDropout(0.9, seed=2, name="dropout")(x)
    outputs = Softmax(name="softmax")(LessonDense(3, name="logits")(x))
    model = keras.Model(inputs, outputs, name="lesson")
    schedule = schedules.InverseTimeDecay(0.01, decay_rate=1.0, steps_per_epoch=2)
    model.compile(optimizers.Adam(schedule), losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
    return model


def keras_model():
    """Ordinary Keras layers, a nested Sequential, a Keras loss function and schedule."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.ZeroPadding2D(1)(keras.layers.Rescaling(1 / 255)(inputs))
    x = keras.layers.Conv2D(
        4, 3, kernel_initializer="he_normal", kernel_regularizer=keras.regularizers.L2(1e-4),
        kernel_constraint=keras.constraints.MaxNorm(3),
    )(x)  # fmt: skip
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    x = keras.layers.Add()([keras.layers.Conv2D(4, 1, activation="relu")(x), x])
    x = keras.layers.Concatenate()([keras.layers.MaxPooling2D()(x), keras.layers.AveragePooling2D(2)(x)])
    head = keras.Sequential(
        [
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(3),
            keras.layers.Activation("softmax"),
        ],
        name="head",
    )
    model = keras.Model(inputs, head(x), name="keras_cnn")
    schedule = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=10)
    model.compile(
        keras.optimizers.SGD(schedule, momentum=0.9),
        keras.losses.sparse_categorical_crossentropy,
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    return model


def classifier(input_shape=(8, 8, 3), seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.Input(input_shape), keras.layers.Conv2D(2, 3), keras.layers.Flatten(), keras.layers.Dense(3)]
    )


def custom_step_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    model = CustomStepModel(
        inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)), clip_global_norm=0.5
    )
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


ROUND_TRIPS = {
    "kerasdl objects": lesson_model,
    "keras objects": keras_model,
    "CustomStepModel": custom_step_model,
    "Ensemble": lambda: Ensemble([classifier(seed=0), classifier(seed=1)], from_logits=True),
    "MultiCropClassifier": lambda: MultiCropClassifier(classifier((6, 6, 3)), (8, 8), (6, 6), "5"),
}


class TestLegitimateModels:
    @pytest.mark.parametrize("build", ROUND_TRIPS)
    def test_loads_through_the_allowlist_and_predicts_the_same(self, tmp_path, build):
        model = ROUND_TRIPS[build]()
        x = np.random.default_rng(0).uniform(0, 255, size=(4, 8, 8, 3)).astype("float32")
        if model.compiled:
            model.fit(x, np.array([0, 1, 2, 0]), epochs=1, verbose=0)
        expected = model.predict(x, verbose=0)
        loaded = load_model(save_model(model, tmp_path / "model.keras"))
        assert type(loaded) is type(model)
        np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-6)
        if model.compiled:
            assert type(loaded.optimizer) is type(model.optimizer)
            assert int(loaded.optimizer.iterations.numpy()) == 1

    @pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
    def test_the_saved_file_is_readable_like_an_ordinary_file(self, tmp_path):
        previous = os.umask(0o022)
        try:
            path = save_model(small_model(), tmp_path / "model.keras")
        finally:
            os.umask(previous)
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


# -- models that mask their input ----------------------------------------------------------------------

VOCABULARY = 12


def masked_keras_lstm():
    """Embedding(mask_zero=True) -> keras.layers.LSTM: the mask is a recorded not_equal(ids, 0) node."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(VOCABULARY, 4, mask_zero=True)(inputs)
    return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.LSTM(3)(x)), name="masked_lstm")


def masked_kerasdl_cells():
    """kerasdl's three cells under keras.layers.RNN, stacked, on a masked embedding."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(VOCABULARY, 4, mask_zero=True)(inputs)
    x = keras.layers.RNN(cells.SimpleRNNCell(3), return_sequences=True)(x)
    x = keras.layers.RNN(cells.GRUCell(3, relevance_gate=False), return_sequences=True)(x)
    x = keras.layers.RNN(cells.GRUCell(3), return_sequences=True)(x)
    x = keras.layers.RNN(cells.LSTMCell(3))(x)
    return keras.Model(inputs, keras.layers.Dense(2)(x), name="kerasdl_cells")


def masked_bidirectional():
    """A deep bidirectional RNN: kerasdl's LSTM cell, then Keras' GRU, both ways over a masked input."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(VOCABULARY, 4, mask_zero=True)(inputs)
    x = keras.layers.Bidirectional(keras.layers.RNN(cells.LSTMCell(3), return_sequences=True))(x)
    x = keras.layers.Bidirectional(keras.layers.GRU(3))(x)
    return keras.Model(inputs, keras.layers.Dense(2)(x), name="bidirectional")


def merged_masks():
    """Masks merged by Add, then joined in time to an unmasked prefix (logical_or, concatenate, ...)."""
    keras.utils.set_random_seed(0)
    words = keras.Input((None,), dtype="int32", name="words")
    tags = keras.Input((None,), dtype="int32", name="tags")
    prefix = keras.Input((None,), dtype="int32", name="prefix")
    added = keras.layers.Add()(
        [keras.layers.Embedding(VOCABULARY, 4, mask_zero=True)(words),
         keras.layers.Embedding(VOCABULARY, 4, mask_zero=True)(tags)]
    )  # fmt: skip
    x = keras.layers.Concatenate(axis=1)([keras.layers.Embedding(VOCABULARY, 4)(prefix), added])
    return keras.Model([words, tags, prefix], keras.layers.Dense(2)(keras.layers.LSTM(3)(x)), name="merged")


def masking_layer():
    """keras.layers.Masking on float features (here: ids as floats) -> GRU: any(not_equal(x, 0), axis=-1)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None,), dtype="int32")
    features = keras.layers.Reshape((-1, 1))(inputs)
    x = keras.layers.GRU(3)(keras.layers.Masking(0.0)(features))
    return keras.Model(inputs, keras.layers.Dense(2)(x), name="masking")


def sentiment_model(name):
    """experiments.sentiment's own build_model (average or LSTM), with small sizes and vocabulary."""
    from experiments import sentiment

    keras.utils.set_random_seed(0)
    args = sentiment.build_parser().parse_args(["--units", "4", "--embedding-size", "4"])
    data = types.SimpleNamespace(
        class_names=("negative", "positive"),
        pretrained=None,
        vocabulary=types.SimpleNamespace(size=VOCABULARY),
    )
    return sentiment.build_model(name, args, data)


def date_translator(encoder_cell):
    """The date translator: masked embedding -> Bi-LSTM encoder -> kerasdl's attention decoder."""
    from experiments import date_translation

    keras.utils.set_random_seed(0)
    flags = "--encoder-units 4 --decoder-units 4 --attention-units 3 --embedding-size 4 --encoder-cell"
    args = date_translation.build_parser().parse_args([*flags.split(), encoder_cell])
    return date_translation.build_model(args, VOCABULARY, VOCABULARY)


MASKED_MODELS = {
    "Embedding(mask_zero) -> LSTM": masked_keras_lstm,
    "kerasdl cells": masked_kerasdl_cells,
    "Bidirectional": masked_bidirectional,
    "merged masks": merged_masks,
    "Masking": masking_layer,
    "sentiment average": lambda: sentiment_model("average"),
    "sentiment lstm": lambda: sentiment_model("lstm"),
    "date translator": lambda: date_translator("kerasdl"),
}


def padded_ids(rows, width, seed=0):
    """Token ids 1..VOCABULARY-1 of varied lengths, padded with 0 on the right to `width`."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((rows, width), "int32")
    for row, length in enumerate(rng.integers(1, min(width, 5) + 1, size=rows)):
        ids[row, :length] = rng.integers(1, VOCABULARY, size=length)
    return ids


def model_inputs(model, width):
    """Inputs for every input of `model`: padded ids of width `width`, and width 4 for y<t-1> and prefixes."""
    by_name = {"previous_tokens": padded_ids(5, 4, seed=1), "prefix": padded_ids(5, 4, seed=2)}
    names = [tensor.name for tensor in model.inputs]
    inputs = [by_name.get(name, padded_ids(5, width, seed=index)) for index, name in enumerate(names)]
    return inputs if len(inputs) > 1 else inputs[0]


def more_padding(inputs, steps=3):
    """The padded id inputs (width 7) with `steps` more zeros on the right; y<t-1> and prefixes unchanged."""
    if isinstance(inputs, list):
        return [more_padding(x, steps) for x in inputs]
    return np.pad(inputs, [(0, 0), (0, steps)]) if inputs.shape[1] == 7 else inputs


def predict(model, inputs):
    """The model called eagerly (no tf.function to trace for each model and input width)."""
    return keras.ops.convert_to_numpy(model(inputs, training=False))


def recorded_operations(path):
    """The `keras.src.ops` classes a saved model's config names."""
    records = []
    saving._walk(saving.read_model_config(path), "", records, [])
    return {
        f"{record['module']}.{record['class_name']}"
        for _, record in records
        if str(record.get("module")).startswith("keras.src.ops")
    }


@pytest.fixture(scope="module")
def saved_masked_models(tmp_path_factory):
    """Each masked model, its predictions on padded inputs, and its `.keras` file."""
    folder = tmp_path_factory.mktemp("masked")
    saved = {}
    for index, (name, build) in enumerate(MASKED_MODELS.items()):
        model = build()
        if model.compiled:  # the optimizer's slots exist, so they are saved and restored too
            model.optimizer.build(model.trainable_variables)
        inputs = model_inputs(model, width=7)
        saved[name] = (model, inputs, save_model(model, folder / f"model_{index}.keras"))
    return saved


class TestMaskedModels:
    @pytest.mark.parametrize("name", MASKED_MODELS)
    def test_reloads_through_the_safe_loader_and_predicts_the_same(self, saved_masked_models, name):
        model, inputs, path = saved_masked_models[name]
        loaded = load_model(path)
        np.testing.assert_allclose(predict(loaded, inputs), predict(model, inputs), rtol=1e-6, atol=1e-7)
        # The reloaded mask still works: three more padding steps change nothing.
        np.testing.assert_allclose(predict(loaded, more_padding(inputs)), predict(loaded, inputs), atol=1e-6)

    def test_every_allowed_operation_is_one_these_models_record(self, saved_masked_models):
        recorded = set().union(*(recorded_operations(path) for _, _, path in saved_masked_models.values()))
        assert recorded == saving.KERAS_OPERATIONS

    def test_allowed_operations_are_plain_keras_operations(self):
        for name in saving.KERAS_OPERATIONS:
            module, class_name = name.rsplit(".", 1)
            operation = getattr(importlib.import_module(module), class_name)
            assert issubclass(operation, keras.Operation) and not issubclass(operation, keras.layers.Layer)
            assert operation.__module__ == module

    @pytest.mark.parametrize("operation", ["Map", "Cond", "Scan", "WhileLoop"])
    def test_an_operation_off_the_list_is_refused(
        self, saved_masked_models, tmp_path, operation, monkeypatch
    ):
        def to_operation(config):
            layers = config["config"]["layers"]
            (record,) = [layer for layer in layers if layer["class_name"] == "NotEqual"]
            record.update(module="keras.src.ops.core", class_name=operation, registered_name=operation)

        _, _, path = saved_masked_models["Embedding(mask_zero) -> LSTM"]
        crafted_file = rewrite_config(path, tmp_path / "crafted.keras", to_operation)
        monkeypatch.setattr(keras.saving, "load_model", pytest.fail)
        refusal = (
            rf"class 'keras.src.ops.core.{operation}' .*allowlist kerasdl.training.saving.KERAS_OPERATIONS"
        )
        with pytest.raises(UntrustedModelError, match=refusal):
            load_model(crafted_file)
