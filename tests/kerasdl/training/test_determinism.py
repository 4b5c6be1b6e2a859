"""Same seed with op determinism on: bit-identical weights and metrics in fresh processes.

Another seed differs. Op determinism is process-wide, hence the subprocesses.
"""

import json
import os
import subprocess
import sys
from pathlib import Path


def run_job(*seeds: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    command = [sys.executable, "-m", "tests.kerasdl.training.determinism_job", *map(str, seeds)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def results(job: subprocess.Popen) -> dict[int, dict]:
    stdout, stderr = job.communicate(timeout=300)
    assert job.returncode == 0, stderr
    return {line["seed"]: line for line in map(json.loads, stdout.splitlines())}


def test_same_seed_is_bit_identical_across_processes_and_another_seed_differs():
    first, second = run_job(0, 1), run_job(0)
    first, second = results(first), results(second)
    assert first[0] == second[0]  # weights, optimizer slots and every metric value, bit for bit
    assert first[1]["weights_sha256"] != first[0]["weights_sha256"]
    assert first[1]["history"] != first[0]["history"]
