"""Alternating, warmed-up, median timings: the one way kerasdl benchmarks compare two implementations.

On a shared machine the load changes from second to second. Timing A for a
minute and then B for a minute lets that drift decide the ratio; timing
short blocks of A and B in turn, many times, exposes both to the same load,
and the median of the blocks ignores the occasional stall. The ratio of two
implementations is the median of the ratios of neighbouring blocks, which
also cancels slow drifts of the load. Each function is run a few times first
and not timed (tracing, XLA compilation, caches).

Example:

    blocks = alternating_blocks({"ours": step_a, "keras": step_b}, calls=10, repeats=31)
    print(f"ratio: {paired_ratio(blocks['ours'], blocks['keras']):.3f}")
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import numpy as np


def alternating_blocks(
    functions: Mapping[str, Callable[[], object]], calls: int = 10, repeats: int = 31, warmup: int = 3
) -> dict[str, list[float]]:
    """Seconds per call of each function in each of `repeats` alternating blocks.

    Args:
        functions: name -> a function of no arguments (one training step, one
            update). It should block until its work is done (e.g. return a
            NumPy value or call `.numpy()`), or the time is only dispatch.
        calls: calls per timed block (the block time is divided by it).
        repeats: blocks per function.
        warmup: untimed calls of each function first.

    Returns:
        name -> seconds per call in each block, in the order the blocks ran.
    """
    for name, value in (("calls", calls), ("repeats", repeats)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative integer. Received: warmup={warmup!r}")
    for function in functions.values():
        for _ in range(warmup):
            function()
    blocks: dict[str, list[float]] = {name: [] for name in functions}
    for repeat in range(repeats):
        # Alternate the order too, so neither always runs right after the other.
        order = list(functions) if repeat % 2 == 0 else list(reversed(list(functions)))
        for name in order:
            function = functions[name]
            start = time.perf_counter()
            for _ in range(calls):
                function()
            blocks[name].append((time.perf_counter() - start) / calls)
    return blocks


def paired_ratio(numerator: list[float], denominator: list[float]) -> float:
    """The median over blocks of numerator[i] / denominator[i] (blocks timed side by side)."""
    if len(numerator) != len(denominator) or not numerator:
        raise ValueError(
            "Expected two equally long, non-empty lists. "
            f"Received: {len(numerator)} and {len(denominator)} blocks"
        )
    return float(np.median(np.asarray(numerator) / np.asarray(denominator)))
