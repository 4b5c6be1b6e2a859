"""Course 2's variant experiments and the hyperparameter search survive a stop anywhere.

Each stop is real, as in `test_mismatch_resume.py`: the experiment runs in a
subprocess that sends itself SIGTERM or SIGKILL at a named point
(`kerasdl.harness.faults`), and `--resume` continues the same run. The
variants (regularization, two variants, on a tiny subset) stop mid-epoch of
the first variant, after its last epoch's backup, as the second variant's
phase begins, and after `results.json` was written; every resume ends where
an uninterrupted run ends, to the bit. The search stops as a trial's phase
begins and just after one finished; a finished trial is not trained again.
A resume with other data is refused unless forced.
"""

import json

import pytest

from kerasdl.harness.run import FINISHED
from tests.events import scalar_points
from tests.runs import run_experiment, stopped_by_request, uninterrupted_run

EPOCHS = 2
# m = 258 examples in batches of 64: 5 batches per epoch, so batch 7 is in the middle of epoch 2.
VARIANTS = ["--train-size", "256", "--dev-size", "128", "--epochs", str(EPOCHS), "--width", "16"]
VARIANTS += ["--batch-size", "64", "--variants", "dropout,l2"]
POINTS = ["batch:7", f"epoch:{EPOCHS}", "start:variant/l2", "end:results"]
# Every point is hit by both signals: one chain alternates starting with SIGTERM, the other with SIGKILL.
CHAINS = {
    first: [(point, ("SIGTERM", "SIGKILL")[(i + offset) % 2]) for i, point in enumerate(POINTS)]
    for offset, first in enumerate(("sigterm-first", "sigkill-first"))
}
SEARCH = ["--train-size", "300", "--dev-size", "200", "--epochs", "1", "--coarse-trials", "2"]
SEARCH += ["--fine-trials", "1", "--workers", "1", "--units-range", "8,32"]


def results(run_dir):
    return json.loads((run_dir / "results.json").read_text())


def trained(stdout: str) -> list[str]:
    """The trials a search trained, from its "  <trial>: lr ... -> dev error ..." lines."""
    return [
        line.split(":")[0].strip() for line in stdout.splitlines() if line.startswith("  ") and " -> " in line
    ]


def phase(run_dir, name):
    return json.loads((run_dir / "phases" / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, fashion_mnist_all):
    return uninterrupted_run("regularization", tmp_path_factory.mktemp("straight"), *VARIANTS)


def assert_same_results(run_dir, reference):
    resumed, expected = results(run_dir), results(reference)
    for variant in ("dropout", "l2"):  # every epoch, also those trained before a stop
        assert resumed["curves"][f"{variant}/dev"]["error"][-1][0] == EPOCHS
    assert resumed["details"] == expected["details"]
    assert resumed["metrics"] == expected["metrics"]
    assert resumed["curves"] == expected["curves"]
    for subrun in ("dropout/train", "dropout/dev", "l2/dev"):  # TensorBoard: the last value of each step
        assert dict(scalar_points(run_dir / subrun, "error")) == dict(
            scalar_points(reference / subrun, "error")
        )


@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_variants_stopped_anywhere_resume_to_the_uninterrupted_results(chain, uninterrupted, tmp_path):
    run_dir = tmp_path / "regularization" / "r"
    for number, (point, signame) in enumerate(CHAINS[chain]):
        resume = ["--resume"] if number else []
        result = run_experiment("regularization", tmp_path, *VARIANTS, "--run-name", "r", *resume,
                                stop=f"{point}:{signame}")  # fmt: skip
        assert stopped_by_request(result, signame), (point, signame, result.returncode, result.stderr[-3000:])
        assert not (run_dir / FINISHED).exists(), point
    result = run_experiment("regularization", tmp_path, *VARIANTS, "--run-name", "r", "--resume")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run_dir / FINISHED).exists() and len(list(run_dir.glob("resume-*.json"))) == len(POINTS)
    assert [p.name for p in (tmp_path / "regularization").iterdir()] == ["r"]  # resumed, never a new run
    assert_same_results(run_dir, uninterrupted)


def test_more_epochs_on_resume_continue_every_variant_from_its_backup(uninterrupted, tmp_path):
    """`--epochs` is safe to change: each finished variant's phase is redone, and its fit goes on."""
    shorter = [*VARIANTS[:4], "--epochs", "1", *VARIANTS[6:]]
    result = run_experiment(
        "regularization", tmp_path, *shorter, "--run-name", "r", stop="end:results:SIGKILL"
    )
    assert stopped_by_request(result, "SIGKILL"), result.stderr[-3000:]
    run_dir = tmp_path / "regularization" / "r"
    assert results(run_dir)["details"]["variants"]["l2"]["max_gap"] is not None  # a 1-epoch result
    result = run_experiment("regularization", tmp_path, *VARIANTS, "--run-name", "r", "--resume")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Resumed from" in result.stdout and "epoch 2, batch 0" in result.stdout  # not from scratch
    assert json.loads((run_dir / "resume-1.json").read_text())["forced_changes"] == []
    assert results(run_dir)["config"]["epochs"] == EPOCHS
    assert_same_results(run_dir, uninterrupted)


def test_resume_with_other_data_is_refused_unless_forced(fashion_mnist_all, tmp_path):
    run_dir = tmp_path / "regularization" / "r"
    flags = [*VARIANTS, "--run-name", "r"]
    result = run_experiment("regularization", tmp_path, *flags, stop="start:variant/dropout:SIGKILL")
    assert stopped_by_request(result, "SIGKILL"), result.stderr[-3000:]
    other = [*flags[:1], "300", *flags[2:], "--resume"]  # --train-size 300 instead of 256

    result = run_experiment("regularization", tmp_path, *other)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--train-size: 256 -> 300" in errors[0], result.stderr[-3000:]
    assert "Traceback" not in result.stderr and not list(run_dir.glob("resume-*.json"))

    result = run_experiment("regularization", tmp_path, *other, "--force")
    assert result.returncode == 0, result.stderr[-3000:]
    forced = json.loads((run_dir / "resume-1.json").read_text())["forced_changes"]
    assert forced == ["--train-size: 256 -> 300"]
    assert (run_dir / FINISHED).exists() and results(run_dir)["config"]["train_size"] == 300


SEARCH_STOPS = ["end:trial/coarse-00", "start:trial/fine-00", "end:results"]
SEARCH_CHAINS = {
    first: [(point, ("SIGTERM", "SIGKILL")[(i + offset) % 2]) for i, point in enumerate(SEARCH_STOPS)]
    for offset, first in enumerate(("sigterm-first", "sigkill-first"))
}


@pytest.mark.slow
@pytest.mark.parametrize("chain", sorted(SEARCH_CHAINS))
def test_search_stopped_at_trials_keeps_the_finished_ones(chain, fashion_mnist_all, tmp_path):
    result = run_experiment("hparam_search", tmp_path / "straight", *SEARCH, "--run-name", "s")
    assert result.returncode == 0, result.stderr[-3000:]
    reference = results(tmp_path / "straight" / "hparam_search" / "s")
    (first_stop, first_signal), (second_stop, second_signal), (last_stop, last_signal) = SEARCH_CHAINS[chain]

    run_dir = tmp_path / "hparam_search" / "r"
    result = run_experiment(
        "hparam_search", tmp_path, *SEARCH, "--run-name", "r", stop=f"{first_stop}:{first_signal}"
    )
    assert stopped_by_request(result, first_signal), result.stderr[-3000:]
    first = phase(run_dir, "trial/coarse-00")
    assert first["state"] == "done" and phase(run_dir, "trial/coarse-01")["state"] == "started"

    resume = [*SEARCH, "--run-name", "r", "--resume"]
    result = run_experiment("hparam_search", tmp_path, *resume, stop=f"{second_stop}:{second_signal}")
    assert stopped_by_request(result, second_signal), result.stderr[-3000:]
    second = phase(run_dir, "trial/coarse-01")
    assert second["state"] == "done" and trained(result.stdout) == ["coarse-01"]  # not coarse-00 again

    result = run_experiment("hparam_search", tmp_path, *resume, stop=f"{last_stop}:{last_signal}")
    assert stopped_by_request(result, last_signal), result.stderr[-3000:]
    assert trained(result.stdout) == ["fine-00"] and not (run_dir / FINISHED).exists()
    result = run_experiment("hparam_search", tmp_path, *resume)  # after results.json: nothing to train
    assert result.returncode == 0, result.stderr[-3000:]
    assert trained(result.stdout) == [] and (run_dir / FINISHED).exists()
    assert phase(run_dir, "trial/coarse-00") == first and phase(run_dir, "trial/coarse-01") == second
    resumed = results(run_dir)
    assert [t["name"] for t in resumed["details"]["trials"]] == [
        t["name"] for t in reference["details"]["trials"]
    ]
    assert resumed["details"] == reference["details"] and resumed["metrics"] == reference["metrics"]
