"""Alternating, warmed-up, median timings: the one way kerasdl benchmarks compare two implementations.

On a shared machine the load changes from second to second. Timing A for a
minute and then B for a minute lets that drift decide the ratio; timing
short blocks of A and B in turn, many times, exposes both to the same load,
and the median of the blocks ignores the occasional stall. Each function is
run a few times first and not timed (tracing, XLA compilation, caches).

Example:

    medians = alternating_medians({"ours": step_a, "keras": step_b}, calls=20, repeats=9)
    print(f"ratio: {medians['ours'] / medians['keras']:.3f}")
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import numpy as np


def alternating_medians(
    functions: Mapping[str, Callable[[], object]], calls: int = 20, repeats: int = 9, warmup: int = 3
) -> dict[str, float]:
    """Median seconds per call of each function, timed in alternating blocks.

    Args:
        functions: name -> a function of no arguments (one training step, one
            update). It should block until its work is done (e.g. return a
            NumPy value or call `.numpy()`), or the time is only dispatch.
        calls: calls per timed block (the block time is divided by it).
        repeats: blocks per function; the median block is reported.
        warmup: untimed calls of each function first.

    Returns:
        name -> median seconds per call.
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
    return {name: float(np.median(times)) for name, times in blocks.items()}
