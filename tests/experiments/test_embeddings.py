"""experiments.embeddings: a tiny run writes its curves, tables and Projector runs; a killed run resumes.

The runs are real subprocesses on a few hundred fortunes with 8-dimensional
vectors. The resumed run is killed mid-epoch (SIGKILL: no backup of the
interrupted epoch) and again as the skip-gram vectors are debiased; resumed
twice, it ends with the curves and results of an uninterrupted run.
"""

import json
import signal

import pytest

from experiments import embeddings
from kerasdl.harness.run import FINISHED
from kerasdl.nn.word_vectors import WordVectors
from tests.runs import run_experiment, run_results, tensor_tags

EPOCHS = 2
TINY = ["--corpus", "fortunes", "--limit", "600", "--min-count", "2", "--dim", "8", "--epochs", str(EPOCHS)]
TINY += ["--glove-epochs", str(EPOCHS), "--batch-size", "2048", "--glove-batch-size", "4096"]
TINY += ["--projector-words", "100", "--debias-words-per-side", "20"]
# The embeddings' updates add many rows at once (scatter-add); without op determinism their float sums can
# differ in the last bits between two runs.
TINY += ["--deterministic"]
TIMING = {"pairs_per_second"}  # wall-clock curves: they differ between any two runs


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, fortunes_all):
    logdir = tmp_path_factory.mktemp("straight")
    result = run_experiment("embeddings", logdir, *TINY, "--run-name", "straight")
    assert result.returncode == 0, result.stderr[-3000:]
    return logdir / "embeddings" / "straight"


def without_timing(curves: dict) -> dict:
    return {run: {tag: p for tag, p in tags.items() if tag not in TIMING} for run, tags in curves.items()}


def test_a_tiny_run_writes_curves_tables_and_projector_runs(uninterrupted):
    results = run_results(uninterrupted)
    metrics, curves = results["metrics"], results["curves"]
    for method in ("sgns", "glove"):
        assert [step for step, _ in curves[f"{method}/train"]["loss"]] == [1, 2]
        assert {"learning_rate", "pairs_per_second"} <= set(curves[f"{method}/train"])
        assert [step for step, _ in curves[f"{method}/analogies"]["accuracy"]] == [1, 2]
        assert metrics[f"{method}_analogy_covered"] > 0 and 0 <= metrics[f"{method}_analogy_accuracy"] <= 1
        assert metrics[f"{method}_final_loss"] == curves[f"{method}/train"]["loss"][-1][1]
        assert "loss" in tensor_tags(uninterrupted / method / "train")
        # The Projector: one run per embedding, the most frequent words first, with their counts.
        for name in (method, f"{method}_debiased"):
            rows = (uninterrupted / "projector" / name / "metadata.tsv").read_text().splitlines()
            assert rows[0] == "word\tcount" and len(rows) == 101 and rows[1].split("\t")[0] == "the"
    vectors = WordVectors.load_word2vec_text(uninterrupted / "skipgram.txt")
    assert len(vectors) == metrics["vocabulary_size"] - 2 and vectors.dimension == 8
    assert (uninterrupted / "glove.txt").exists()
    # SGD's learning rate falls linearly: the second epoch's is lower.
    rates = [rate for _, rate in curves["sgns/train"]["learning_rate"]]
    assert rates[1] < rates[0]
    debiasing = results["details"]["sgns"]["debiasing"]
    assert debiasing["largest_neutral_projection_after"] < 1e-6
    assert set(debiasing["clustering"]) == {"before", "after"}
    summary = (uninterrupted / "summary.md").read_text()
    assert "| gram8-plural |" in summary and "WordSim-353" in summary and "nearest neighbours" in summary
    assert summary.startswith("# Word embeddings, d = 8\n\ncorpus fortunes: 604 passages")


@pytest.mark.slow
def test_killed_mid_epoch_and_at_debiasing_then_resumed_is_an_uninterrupted_run(uninterrupted, tmp_path):
    run_dir = tmp_path / "embeddings" / "r"
    killed = run_experiment("embeddings", tmp_path, *TINY, "--run-name", "r", stop="batch:5:SIGKILL")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    killed = run_experiment(
        "embeddings", tmp_path, *TINY, "--run-name", "r", "--resume", stop="start:debias/sgns:SIGKILL"
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    evaluated = json.loads((run_dir / "phases" / "evaluate" / "sgns.json").read_text())
    assert evaluated["state"] == "done" and not (run_dir / FINISHED).exists()

    resumed = run_experiment("embeddings", tmp_path, *TINY, "--run-name", "r", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((run_dir / "phases" / "evaluate" / "sgns.json").read_text()) == evaluated
    results, reference = run_results(run_dir), run_results(uninterrupted)
    assert without_timing(results["curves"]) == without_timing(reference["curves"])
    for name, value in reference["metrics"].items():
        if not name.endswith("_train_seconds"):
            assert results["metrics"][name] == value, name


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--dim", "0"], "--dim must be at least 1; received 0"),
        (["--sample", "1"], "--sample must be in [0, 1); received 1.0"),
        (["--learning-rate", "0"], "--learning-rate must be a positive number; received 0.0"),
        (["--corpus", "bible"], "Unknown word corpus. Expected 'fortunes', 'wordnet'"),
        (
            ["--analogies", "/nonexistent/q.txt"],
            "the evaluation file /nonexistent/q.txt is missing: run `make data`",
        ),
    ],
)
def test_bad_flags_are_one_error_line(tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as exit_info:
        embeddings.main(["--logdir", str(tmp_path), *flags])
    assert exit_info.value.code == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: ") and message in errors[0], errors
    assert not (tmp_path / "embeddings").exists()  # refused before a run directory was made
