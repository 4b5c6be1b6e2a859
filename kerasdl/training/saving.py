"""Saving and loading whole models: atomic writes, `.keras` only, untrusted files checked first.

A `.keras` file is a zip holding `config.json` (the architecture, as nested
`{"module", "class_name", "config", "registered_name"}` records),
`metadata.json` and the weights. Loading it rebuilds every object the
config names, so a file from a stranger must name only code we trust.
Keras' `safe_mode=True` refuses pickled lambdas; `load_model` here goes
further and reads the config *before* Keras does:

- only `.keras` paths (legacy `.h5` and SavedModel are refused outright);
- no `Lambda` layer, whatever its function;
- every `module` must be Keras' or kerasdl's, and every registered name
  must be Keras' own or in the "kerasdl" package;
- then `keras.saving.load_model(path, safe_mode=True)`; there is no way to
  pass `safe_mode=False`.

kerasdl's own layers, optimizers, schedules and losses are registered with
`keras.saving.register_keras_serializable(package="kerasdl")`; their module
is imported before loading, so they load without `custom_objects`.

`save_model` writes to a temporary `.keras` file beside the target and
renames it into place, so a crash mid-save leaves the previous file intact.

Example:

    save_model(model, run.dir / "model.keras")
    model = load_model(run.dir / "model.keras")
"""

from __future__ import annotations

import importlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import keras

TRUSTED_PACKAGES = ("keras", "kerasdl")


class UntrustedModelError(ValueError):
    """A model file names code that kerasdl will not run."""


def _check_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(
            "Only the .keras format is supported (legacy .h5 and SavedModel files can run arbitrary code "
            f"on load). Received: path={str(path)!r}"
        )
    return path


def save_model(model: keras.Model, path: str | os.PathLike) -> Path:
    """Saves `model` to the `.keras` file `path` atomically (temporary file, fsync, rename).

    Returns:
        The path written.
    """
    path = _check_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp.keras", dir=path.parent)
    os.close(fd)
    try:
        model.save(temporary, overwrite=True)
        with open(temporary, "rb") as file:
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _trusted_module(module: str) -> bool:
    return any(module == package or module.startswith(package + ".") for package in TRUSTED_PACKAGES)


def _walk(node: Any, where: str, found: list[tuple[str, dict]]) -> None:
    if isinstance(node, dict):
        if "class_name" in node:
            config = node.get("config")
            name = config.get("name") if isinstance(config, dict) else None
            where = f"{where}/{name}" if isinstance(name, str) else where
            found.append((where, node))
        for value in node.values():
            _walk(value, where, found)
    elif isinstance(node, list):
        for value in node:
            _walk(value, where, found)


def check_model_config(config: dict) -> list[str]:
    """Raises `UntrustedModelError` if a model config names code outside Keras and kerasdl.

    Args:
        config: the parsed `config.json` of a `.keras` file.

    Returns:
        The kerasdl modules the config names (to import before loading).
    """
    records: list[tuple[str, dict]] = []
    _walk(config, "", records)
    modules = set()
    for where, record in records:
        class_name, module = record.get("class_name"), record.get("module")
        registered = record.get("registered_name")
        place = where or "the model"
        if class_name == "Lambda":
            raise UntrustedModelError(
                f"The model file contains a Lambda layer ({place}): Lambda layers run arbitrary Python code, "
                "so kerasdl refuses to load them. Rebuild the model in code, or replace the Lambda with a "
                "registered layer."
            )
        if isinstance(module, str) and not _trusted_module(module):
            raise UntrustedModelError(
                f"The model file names the module {module!r} (class {class_name!r}, at {place}); only "
                f"modules of {', '.join(TRUSTED_PACKAGES)} are loaded."
            )
        if isinstance(registered, str) and ">" in registered and registered.split(">", 1)[0] != "kerasdl":
            raise UntrustedModelError(
                f"The model file names the custom object {registered!r} (at {place}); only Keras' "
                "objects and kerasdl's registered ones are loaded."
            )
        if isinstance(module, str) and module.startswith("kerasdl"):
            modules.add(module)
    return sorted(modules)


def read_model_config(path: str | os.PathLike) -> dict:
    """The parsed `config.json` of a `.keras` file (no code is run)."""
    path = _check_path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as error:
        raise ValueError(f"{path} is not a readable .keras file: {error}") from error


def load_model(path: str | os.PathLike, compile: bool = True) -> keras.Model:
    """Loads a `.keras` model after checking its config (see the module docstring).

    Args:
        path: a `.keras` file.
        compile: also restore the optimizer, loss and metrics.

    Raises:
        ValueError: not a `.keras` path, or not a readable one.
        UntrustedModelError: a Lambda layer, or code outside Keras and kerasdl.
    """
    for module in check_model_config(read_model_config(path)):
        importlib.import_module(module)  # registers kerasdl's custom objects
    return keras.saving.load_model(path, compile=compile, safe_mode=True)
