"""kerasdl.harness.results: one schema, written atomically, read back for run selection."""

import json

import pytest

from kerasdl.diagnostics import satisficing_select
from kerasdl.harness.results import RESULTS, SCHEMA, SUMMARY, read_results, records_from_runs, write_results
from tests.runs import RESULT_KEYS


def write(run_dir, **metrics):
    run_dir.mkdir(parents=True)
    return write_results(run_dir, experiment="e", config={"seed": 0}, metrics=metrics, finished_utc="t")


def test_the_documented_schema_round_trips(tmp_path):
    path = write_results(
        tmp_path,
        experiment="mismatch",
        config={"seed": 1},
        metrics={"dev_error": 0.25, "epochs": 3, "diverged": None},
        details={"table": "| a |"},
        curves={"train": {"error": [[1, 0.5]]}},
        summary="# done",
        finished_utc="2026-11-30T00:00:00+00:00",
    )
    document = read_results(tmp_path)
    assert path == tmp_path / RESULTS and document["schema"] == SCHEMA
    assert set(document) == RESULT_KEYS
    assert document["metrics"] == {"dev_error": 0.25, "epochs": 3.0, "diverged": None}
    assert (tmp_path / SUMMARY).read_text() == "# done\n"


@pytest.mark.parametrize("value", ["0.5", [1], True])
def test_metrics_are_numbers(tmp_path, value):
    with pytest.raises(ValueError, match="metrics hold numbers"):
        write_results(tmp_path, experiment="e", config={}, metrics={"m": value}, finished_utc="t")


def test_a_file_of_another_shape_is_refused_by_name(tmp_path):
    (tmp_path / RESULTS).write_text(json.dumps({"decomposition": {}}))
    with pytest.raises(ValueError, match="not a kerasdl.results/1 results file. Received: schema=None"):
        read_results(tmp_path)


def test_lesson_selection_over_run_directories(tmp_path):
    # Course 3's table: maximize accuracy subject to running time <= 100 ms.
    write(tmp_path / "A", accuracy=0.90, ms_per_example=80)
    write(tmp_path / "B", accuracy=0.92, ms_per_example=95)
    write(tmp_path / "C", accuracy=0.95, ms_per_example=1500)
    (tmp_path / "still-running").mkdir()  # no results yet: skipped
    records = records_from_runs(tmp_path)
    assert [r["name"] for r in records] == ["A", "B", "C"]
    assert satisficing_select(records, "accuracy", {"ms_per_example": 100}).best["name"] == "B"
