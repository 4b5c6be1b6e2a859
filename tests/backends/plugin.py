"""pytest plugin for the backend runs of `make test-backends` (loaded with `-p tests.backends.plugin`).

Those runs use `--noconftest`: tests/conftest.py serves the TensorFlow suite
and imports `pipelines`, which the TensorFlow-free venvs cannot. This plugin
is all a backend run needs instead:

- JAX computes in float64 only with JAX_ENABLE_X64 set before it starts, and
  the oracle tests compare in float64 (TensorFlow and PyTorch need nothing);
- the report header names the backend, so a log says what it tested.
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_ENABLE_X64", "1")


def pytest_report_header(config) -> str:
    import keras

    backend = keras.backend.backend()
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend)
    version = __import__(module).__version__ if module else ""
    return f"keras {keras.__version__}, backend {backend} {version}".rstrip()
