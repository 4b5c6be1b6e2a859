"""The main job survives a stop at any point: `--resume` ends where an uninterrupted run ends.

Each stop is real: the job runs in a subprocess and sends itself SIGTERM (the
clean stop a scheduler asks for) or SIGKILL (a crash, an out-of-memory kill)
at a named point (`kerasdl.harness.faults`): mid-epoch, after the last
epoch's backup, inside label issues, inside error analysis, and after
`results.json` was written but before the run was marked finished. Each
resume continues the same run up to the next stop; the last one finishes it.
"""

import json
import subprocess

import pytest

from kerasdl.harness.run import FINISHED
from tests.events import scalar_points
from tests.runs import run_experiment, stopped_by_request, uninterrupted_run

EPOCHS = 2
QUICK = ["--limit", "800", "--epochs", str(EPOCHS), "--width", "4", "--batch-size", "64"]
QUICK += ["--train-eval-size", "300", "--label-issue-folds", "2", "--label-issue-epochs", "1"]
QUICK += ["--label-issue-train-size", "200", "--error-sample", "5"]
POINTS = ["batch:4", f"epoch:{EPOCHS}", "start:label_issues", "start:error_analysis", "end:results"]
# Every point is hit by both signals: one chain alternates starting with SIGTERM, the other with SIGKILL.
CHAINS = {
    first: [(point, ("SIGTERM", "SIGKILL")[(i + offset) % 2]) for i, point in enumerate(POINTS)]
    for offset, first in enumerate(("sigterm-first", "sigkill-first"))
}


def run_job(logdir, *flags, stop=None) -> subprocess.CompletedProcess:
    return run_experiment("mismatch", logdir, *QUICK, *flags, stop=stop)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, fashion_mnist_all):
    return uninterrupted_run("mismatch", tmp_path_factory.mktemp("straight"), *QUICK)


@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_stop_at_every_phase_then_resume_ends_like_an_uninterrupted_run(chain, uninterrupted, tmp_path):
    run_dir = tmp_path / "mismatch" / "r"
    for number, (point, signame) in enumerate(CHAINS[chain]):
        resume = ["--resume"] if number else []
        result = run_job(tmp_path, "--run-name", "r", *resume, stop=f"{point}:{signame}")
        assert stopped_by_request(result, signame), (point, signame, result.returncode, result.stderr[-3000:])
        assert not (run_dir / FINISHED).exists(), point
    result = run_job(tmp_path, "--run-name", "r", "--resume")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run_dir / FINISHED).exists() and len(list(run_dir.glob("resume-*.json"))) == len(POINTS)
    assert [p.name for p in (tmp_path / "mismatch").iterdir()] == ["r"]  # one run, resumed, never a new one

    resumed, reference = (json.loads((d / "results.json").read_text()) for d in (run_dir, uninterrupted))
    assert len(resumed["details"]["history"]) == EPOCHS
    assert resumed["details"]["history"] == reference["details"]["history"]
    assert resumed["details"]["decomposition"] == reference["details"]["decomposition"]
    assert resumed["curves"] == reference["curves"]
    for split in ("train", "train_dev", "dev", "test"):  # TensorBoard: every epoch, the last value as in
        points = dict(scalar_points(run_dir / split, "error"))  # the reference (a redone epoch rewrites it)
        assert points == dict(scalar_points(uninterrupted / split, "error"))
    assert not list(run_dir.rglob("*.tmp"))


def test_every_artifact_of_a_finished_run_is_readable_by_others_and_no_temporary_is_left(uninterrupted):
    files = [path for path in uninterrupted.rglob("*") if path.is_file()]
    assert {"config.json", "curves.json", "results.json", "summary.md", "FINISHED", "dev_errors.csv"} <= {
        path.name for path in files
    }
    unreadable = [f"{path.relative_to(uninterrupted)} {path.stat().st_mode & 0o777:o}" for path in files
                  if path.stat().st_mode & 0o044 != 0o044]  # fmt: skip
    assert unreadable == []  # written under umask 022: group and others may read every file
    assert not [path for path in files if ".tmp" in path.name]
