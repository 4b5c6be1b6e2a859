"""Alternating, warmed-up, median timings: the one way kerasdl benchmarks compare two implementations.

On a shared machine the load changes from second to second. Timing A for a
minute and then B for a minute lets that drift decide the ratio; timing
short blocks of A and B in turn, many times, exposes both to the same load,
and the median of the blocks ignores the occasional stall. The ratio of two
implementations is the median of the ratios of neighbouring blocks, which
also cancels slow drifts of the load. Each function is run a few times first
and not timed (tracing, XLA compilation, caches).

A benchmark script is built from the same parts: `benchmark_parser` (its
docstring as `--help`), `add_block_flags` (`--calls`, `--repeats`), and
output in one `name: value` line per figure (`print_figures`, or
`print_comparison` for two implementations timed side by side).

Example:

    blocks = alternating_blocks({"kerasdl": step_a, "keras": step_b}, calls=10, repeats=31)
    print_comparison("dense_train_step", blocks, unit="ms")
    # dense_train_step_ms_kerasdl: 1.234 / dense_train_step_ms_keras: 1.200 / dense_train_step_ratio: 1.028
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Mapping

import numpy as np

UNITS = {"ms": (1e3, 3), "us": (1e6, 1)}  # unit: (per second, decimals printed)


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


def benchmark_parser(description: str | None) -> argparse.ArgumentParser:
    """The parser of a benchmark script; `description` (its docstring) is shown as written."""
    return argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def add_block_flags(
    parser: argparse.ArgumentParser, calls: int, repeats: int, call: str, subject: str
) -> None:
    """Adds `--calls` (`call`s per timed block) and `--repeats` (timed blocks per `subject`).

    Example: `add_block_flags(parser, 10, 41, "updates", "optimizer")`; then
    `alternating_blocks(functions, calls=args.calls, repeats=args.repeats)`.
    """
    parser.add_argument("--calls", type=int, default=calls, help=f"{call} per timed block")
    parser.add_argument("--repeats", type=int, default=repeats, help=f"timed blocks per {subject}")


def print_figures(figures: Mapping[str, object]) -> None:
    """Prints one `name: value` line per figure, the output of every benchmark (format the values first)."""
    for name, value in figures.items():
        print(f"{name}: {value}", flush=True)


def print_comparison(
    name: str, blocks: Mapping[str, list[float]], unit: str = "ms", suffix: str = ""
) -> float:
    """Prints the median time of each side and their paired ratio, the first side over the second.

    The lines are `<name>_<unit>_<side><suffix>: <median>` for each side of
    `blocks` (from `alternating_blocks`, two sides) and
    `<name>_ratio<suffix>: <ratio>`.

    Returns:
        The ratio (`paired_ratio` of the first side over the second).
    """
    if unit not in UNITS or len(blocks) != 2:
        raise ValueError(
            f"Expected a unit in {sorted(UNITS)} and two sides. Received: unit={unit!r}, sides={list(blocks)}"
        )
    scale, decimals = UNITS[unit]
    (_, first_blocks), (_, second_blocks) = blocks.items()
    ratio = paired_ratio(first_blocks, second_blocks)
    figures = {
        f"{name}_{unit}_{side}{suffix}": f"{scale * np.median(times):.{decimals}f}"
        for side, times in blocks.items()
    }
    print_figures({**figures, f"{name}_ratio{suffix}": f"{ratio:.3f}"})
    return ratio
