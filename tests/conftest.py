"""Shared fixtures: the offline dataset, quiet TensorFlow, a temporary logdir."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from pipelines.sources import SourceMissingError, fashion_mnist  # noqa: E402


def offline_dataset(load):
    """`load()`, or a skip when the offline dataset it reads is absent.

    CI sets KERASDL_REQUIRE_DATA=1, which turns the skip into a failure so a
    broken data install cannot pass unnoticed.
    """
    try:
        return load()
    except SourceMissingError as error:
        if os.environ.get("KERASDL_REQUIRE_DATA"):
            pytest.fail(f"KERASDL_REQUIRE_DATA is set but the dataset is missing: {error}")
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def fashion_mnist_all():
    """All 70,000 Fashion-MNIST examples (Debian's dataset-fashion-mnist), or a skip (`offline_dataset`)."""
    return offline_dataset(lambda: fashion_mnist("all"))


@pytest.fixture(scope="session")
def fortunes_all():
    """Every fortune of Debian's `fortunes` package, or a skip (`offline_dataset`)."""
    from pipelines.text import fortunes  # imports TensorFlow: only when a test asks for the corpus

    return offline_dataset(fortunes)


@pytest.fixture
def logdir(tmp_path):
    """A fresh TensorBoard logdir for one test."""
    return tmp_path / "logs"
