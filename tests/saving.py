"""Test helper: a `.keras` save/load round trip (shared by the layer, optimizer and schedule tests)."""

from __future__ import annotations

from pathlib import Path

import keras

from kerasdl.training.saving import load_model, save_model


def reload(model: keras.Model, directory: Path, name: str = "model.keras") -> keras.Model:
    """Saves `model` to `directory/name` and loads it back through kerasdl's safe loader.

    The loader accepts only allowlisted classes, so every round trip also
    proves the allowlist covers the objects under test.
    """
    return load_model(save_model(model, Path(directory) / name))
