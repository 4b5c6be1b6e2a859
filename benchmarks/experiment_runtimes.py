"""Wall time of each experiment's default run: the figures `kerasdl list` and the README's table show.

Each experiment in `experiments.catalog` that has a default run (not
`diagnose`, which needs the user's model) runs once with no flags but a
temporary `--logdir` (`python -m experiments.<name>`, one after another, never
two at once), and its wall time is printed as `<name>_default_run_seconds:
value`, from start-up (importing TensorFlow) to exit. Copy the figures into
`experiments/catalog.py` by hand; a run that fails prints its last error lines
and the script exits 1 at the end.

Run:
    .venv/bin/python benchmarks/experiment_runtimes.py              # every experiment (about 40 minutes)
    .venv/bin/python benchmarks/experiment_runtimes.py edges mismatch
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from experiments.catalog import EXPERIMENTS, find  # noqa: E402


def default_run_seconds(name: str, logdir: str) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", f"experiments.{name}", "--logdir", logdir],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    return time.perf_counter() - start, result


def main(names: list[str]) -> int:
    experiments = [find(name) for name in names] if names else [e for e in EXPERIMENTS if not e.needs_input]
    failed = []
    for experiment in experiments:
        with tempfile.TemporaryDirectory() as logdir:
            seconds, result = default_run_seconds(experiment.name, logdir)
        if result.returncode != 0:
            failed.append(experiment.name)
            print(f"{experiment.name} failed:\n{result.stderr[-2000:]}", file=sys.stderr)
            continue
        print(f"{experiment.name}_default_run_seconds: {seconds:.1f}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
