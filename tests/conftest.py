"""Shared fixtures: the offline dataset, quiet TensorFlow, a temporary logdir."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from pipelines.sources import SourceMissingError, fashion_mnist  # noqa: E402


@pytest.fixture(scope="session")
def fashion_mnist_all():
    """All 70,000 Fashion-MNIST examples, or a skip when Debian's files are absent.

    CI sets KERASDL_REQUIRE_DATA=1, which turns the skip into a failure so a
    broken data install cannot pass unnoticed.
    """
    try:
        return fashion_mnist("all")
    except SourceMissingError as error:
        if os.environ.get("KERASDL_REQUIRE_DATA"):
            pytest.fail(f"KERASDL_REQUIRE_DATA is set but the dataset is missing: {error}")
        pytest.skip(str(error))


@pytest.fixture
def logdir(tmp_path):
    """A fresh TensorBoard logdir for one test."""
    return tmp_path / "logs"
