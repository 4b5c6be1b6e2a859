"""Stable hashing of example identities.

Split assignment and per-example synthesis parameters are functions of an
example's identity string, not of its position, so they are the same across
runs, machines and input orders.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def identity_hashes(ids: Iterable[str], salt: str = "") -> np.ndarray:
    """64-bit hashes (uint64) of `salt + ":" + id` for each identity, by SHA-256."""
    prefix = f"{salt}:".encode()
    return np.array(
        [int.from_bytes(hashlib.sha256(prefix + str(i).encode()).digest()[:8], "little") for i in ids],
        dtype=np.uint64,
    )


def unit_interval(hashes: np.ndarray) -> np.ndarray:
    """Maps uint64 hashes to floats uniform in [0, 1) (53 bits of each hash)."""
    return (np.asarray(hashes, dtype=np.uint64) >> np.uint64(11)).astype(np.float64) / float(2**53)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finalizer, vectorized: a counter-based random generator.

    `splitmix64(key + counter * golden)` gives independent-looking uint64
    streams per key, so a per-example stream of random numbers depends only
    on that example's hash.
    """
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=np.uint64) + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def per_example_uniform(hashes: np.ndarray, count: int, stream: int = 0) -> np.ndarray:
    """`count` uniform [0, 1) floats per example, shape [len(hashes), count].

    Row i depends only on `hashes[i]` and `stream`, never on the other rows.
    """
    hashes = np.asarray(hashes, dtype=np.uint64)
    with np.errstate(over="ignore"):
        keys = splitmix64(hashes ^ splitmix64(np.uint64(stream)))
        counters = np.arange(count, dtype=np.uint64) * _GOLDEN
        return unit_interval(splitmix64(keys[:, None] + counters[None, :]))
