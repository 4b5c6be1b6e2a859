"""Atomic `.keras` saves and refusal of untrusted model files, after Keras' saving safe_mode tests."""

import json
import sys
import zipfile

import keras
import numpy as np
import pytest

from kerasdl.nn.layers import Dense as LessonDense
from kerasdl.training import saving
from kerasdl.training.saving import UntrustedModelError, load_model, save_model


def small_model(name="small"):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    outputs = LessonDense(2, name="lesson_dense")(keras.layers.Dense(4, name="dense")(inputs))
    return keras.Model(inputs, outputs, name=name)


def rewrite_config(source, target, edit):
    """Copies a .keras file with its config.json edited: how a stranger's file is crafted."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
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
