"""Test helper: a `.keras` save/load round trip (shared by the layer, optimizer and schedule tests)."""

from __future__ import annotations

from pathlib import Path

import keras


def reload(model: keras.Model, directory: Path, name: str = "model.keras") -> keras.Model:
    """Saves `model` to `directory/name` and loads it back (safe mode, no custom_objects)."""
    path = Path(directory) / name
    model.save(path)
    return keras.models.load_model(path)
