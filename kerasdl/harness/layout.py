"""Where a run's files live: the names every reader and writer of run directories shares.

A run is `<logdir>/<experiment>/<run>/`: `config.json` (written once, when the
run starts), TensorBoard event files, `phases/`, `backup/`, and at the end
`results.json`, `summary.md` and the `FINISHED` marker. This module imports
nothing heavy, so commands that only read runs (`kerasdl report`) start fast.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_LOGDIR = "logs"
CONFIG = "config.json"
FINISHED = "FINISHED"  # marker file of a run that ended normally
BACKUP_DIR = "backup"


def is_run_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / CONFIG).is_file()


def finished_runs(experiment_dir: str | os.PathLike) -> list[Path]:
    """The finished runs under `<logdir>/<experiment>/`, oldest first (by when they finished)."""
    base = Path(experiment_dir)
    runs = [path for path in (base.iterdir() if base.is_dir() else []) if (path / FINISHED).is_file()]
    return sorted(runs, key=lambda path: (path / FINISHED).stat().st_mtime_ns)
