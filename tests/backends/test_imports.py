"""Importing a reusable part under JAX or PyTorch never imports TensorFlow.

Each check runs in a fresh interpreter with KERAS_BACKEND set (the test
process has its own backend already). Keras is imported first; then a
finder on `sys.meta_path` records every attempt to import a `tensorflow`
module while the kerasdl modules are imported: an attempt counts even if it
failed or was caught, so the check is as strict in the TensorFlow-free
venvs of `make test-backends` as where TensorFlow is installed. In the
TensorFlow venv (`make test`) the backends are not installed and the checks
are skipped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import kerasdl.nn
import kerasdl.scratch

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ("jax", "torch")
# Every module of the reusable parts, the deprecated aliases, and the safe loader their round trips use.
REUSABLE = sorted(
    module.name
    for package in (kerasdl.nn, kerasdl.scratch)
    for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")
) + ["kerasdl.layers", "kerasdl.optimizers", "kerasdl.schedules", "kerasdl.training.saving"]

SCRIPT = """
import importlib, importlib.abc, json, sys, warnings
import keras
attempts = []
class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow":
            attempts.append(name)
        return None
sys.meta_path.insert(0, Watch())
warnings.simplefilter("ignore", DeprecationWarning)  # the aliases' own warning
for module in sys.argv[1:]:
    importlib.import_module(module)
loaded = sorted(name for name in sys.modules if name.split(".")[0] == "tensorflow")
print(json.dumps({"backend": keras.backend.backend(), "attempts": attempts, "loaded": loaded}))
"""


def _import_under(backend: str, modules: list[str]) -> dict:
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed in this venv; `make test-backends` runs this check")
    environment = {**os.environ, "KERAS_BACKEND": backend}
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, *modules],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_layers_and_their_deprecated_alias_import_no_tensorflow(backend):
    report = _import_under(backend, ["kerasdl.nn.layers", "kerasdl.layers"])
    assert report == {"backend": backend, "attempts": [], "loaded": []}


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_reusable_part_imports_no_tensorflow(backend):
    assert "kerasdl.nn.gradient_check" in REUSABLE and "kerasdl.nn.autodiff" in REUSABLE
    report = _import_under(backend, REUSABLE)
    assert report == {"backend": backend, "attempts": [], "loaded": []}
