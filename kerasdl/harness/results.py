"""The one results file of a run: `results.json` (schema below) and `summary.md`.

Every experiment ends with `Run.finish(metrics, details, summary)`, which
writes both through `write_results`; every reader (`read_results`,
`records_from_runs`, `python -m kerasdl.diagnostics`) goes through this
module, so no reader depends on one script's layout.

`results.json`, schema "kerasdl.results/1":

    {
      "schema": "kerasdl.results/1",
      "experiment": "mismatch",          # logs/<experiment>/
      "run": "20261130-101500",          # logs/<experiment>/<run>/
      "finished_utc": "2026-11-30T10:17:42+00:00",
      "config": {...},                   # the resolved configuration (config.json's "config")
      "metrics": {"dev_error": 0.163, ...},   # flat name -> number: what runs are compared by
      "details": {...},                  # the experiment's own tables (JSON), documented in its header
      "curves": {"<tensorboard run>": {"<tag>": [[step, value], ...]}}   # every per-epoch curve
    }

`metrics` holds only numbers (or null for "not measured", e.g. a diverged
variant), so `satisficing_select(records_from_runs(...), ...)` can rank
runs of any experiment.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kerasdl.training.io import atomic_write_json, atomic_write_text

RESULTS = "results.json"
SUMMARY = "summary.md"
SCHEMA = "kerasdl.results/1"


def _check_metrics(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    checked = {}
    for name, value in metrics.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(
                f"metrics hold numbers (or None). Received: {name}={value!r} ({type(value).__name__})"
            )
        checked[str(name)] = None if value is None or math.isnan(value) else float(value)
    return checked


def write_results(
    run_dir: str | os.PathLike,
    *,
    experiment: str,
    config: Mapping[str, Any],
    metrics: Mapping[str, Any],
    details: Mapping[str, Any] | None = None,
    curves: Mapping[str, Any] | None = None,
    summary: str | None = None,
    finished_utc: str,
) -> Path:
    """Writes `results.json` (and `summary.md` when `summary` is given) atomically; returns its path."""
    run_dir = Path(run_dir)
    document = {
        "schema": SCHEMA,
        "experiment": experiment,
        "run": run_dir.name,
        "finished_utc": finished_utc,
        "config": dict(config),
        "metrics": _check_metrics(metrics),
        "details": dict(details or {}),
        "curves": dict(curves or {}),
    }
    if summary is not None:
        atomic_write_text(run_dir / SUMMARY, summary.rstrip("\n") + "\n")
    return atomic_write_json(run_dir / RESULTS, document)


def read_results(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The `results.json` of a finished run, checked against the schema.

    Raises:
        FileNotFoundError: the run has no results (it is running, failed, or
            is not a run directory).
        ValueError: the file is not a "kerasdl.results/1" document.
    """
    path = Path(run_dir) / RESULTS
    document = json.loads(path.read_text())
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        found = document.get("schema") if isinstance(document, dict) else type(document).__name__
        raise ValueError(f"{path} is not a {SCHEMA} results file. Received: schema={found!r}")
    return document


def records_from_runs(experiment_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """One record per finished run under `experiment_dir`, for `kerasdl.diagnostics.satisficing_select`.

    Each record is the run's `metrics` plus "name" (the run directory's
    name). Runs without results (still running, or failed) are skipped.

    Example:

        runs = records_from_runs("logs/mismatch")
        best = satisficing_select(runs, "dev_accuracy", {"ms_per_example": 100}).best
    """
    records = []
    for path in sorted(Path(experiment_dir).glob(f"*/{RESULTS}")):
        records.append({**read_results(path.parent)["metrics"], "name": path.parent.name})
    return records
