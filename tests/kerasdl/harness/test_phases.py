"""kerasdl.harness.phases: a finished phase is done once per configuration; an unfinished one runs again."""

import json

import pytest

from kerasdl.harness.phases import Phases


def test_once_computes_once_and_a_resumed_run_gets_the_saved_result(tmp_path):
    calls = []
    first = Phases(tmp_path, "config-a", reuse=False)
    assert first.once("stats", lambda x: calls.append(x) or {"mean": x / 2}, 3) == {"mean": 1.5}
    resumed = Phases(tmp_path, "config-a")
    assert resumed.once("stats", lambda x: calls.append(x) or {"mean": 0}, 3) == {"mean": 1.5}
    assert calls == [3]
    record = resumed.record("stats")
    assert record["state"] == "done" and record["seconds"] >= 0 and record["config"] == "config-a"
    assert resumed.seconds("stats") == record["seconds"]
    assert resumed.seconds("never_run") is None
    resumed.started("begun")  # started, not finished: no time yet
    assert resumed.seconds("begun") is None


def test_a_new_run_never_reuses_and_another_configuration_recomputes(tmp_path):
    Phases(tmp_path, "a", reuse=False).once("p", lambda: 1)
    assert Phases(tmp_path, "a", reuse=False).once("p", lambda: 2) == 2  # a new run in the same folder
    assert Phases(tmp_path, "b").once("p", lambda: 3) == 3  # settings changed: done again
    assert Phases(tmp_path, "b").once("p", lambda: 4) == 3


def test_a_phase_stopped_inside_runs_again_from_its_start(tmp_path):
    phases = Phases(tmp_path, "a", reuse=False)

    def crash():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        phases.once("label_issues", crash)
    assert phases.record("label_issues")["state"] == "started"
    assert Phases(tmp_path, "a").once("label_issues", lambda: "done") == "done"


def test_results_come_back_as_json_types_in_both_paths(tmp_path):
    import numpy as np

    new = Phases(tmp_path, "a", reuse=False).once(
        "t", lambda: {"values": (1, 2), "x": float(np.float32(0.5))}
    )
    assert new == {"values": [1, 2], "x": 0.5} == Phases(tmp_path, "a").once("t", lambda: None)


def test_once_each_saves_each_result_as_it_arrives_and_skips_finished(tmp_path):
    phases = Phases(tmp_path, "a", reuse=False)

    def interrupted(pending):
        yield pending[1][0], pending[1][1] * 10  # the second finishes first
        raise KeyboardInterrupt  # then the run stops

    with pytest.raises(KeyboardInterrupt):
        phases.once_each({"trial/a": 1, "trial/b": 2, "trial/c": 3}, interrupted)
    seen = []

    def compute_all(pending):
        seen.extend(name for name, _ in pending)
        return ((name, argument * 10) for name, argument in pending)

    results = Phases(tmp_path, "a").once_each({"trial/a": 1, "trial/b": 2, "trial/c": 3}, compute_all)
    assert results == {"trial/a": 10, "trial/b": 20, "trial/c": 30} and list(results) == [
        "trial/a",
        "trial/b",
        "trial/c",
    ]
    assert seen == ["trial/a", "trial/c"]
    assert json.loads((tmp_path / "phases" / "trial" / "b.json").read_text())["result"] == 20


def test_phase_records_a_phase_that_always_runs(tmp_path):
    phases = Phases(tmp_path, "a", reuse=False)
    with phases.phase("train"):
        pass
    assert [(r["name"], r["state"]) for r in phases.records()] == [("train", "done")]


@pytest.mark.parametrize("name", ["../x", "/abs", "a//b", "", ".hidden"])
def test_bad_phase_names(tmp_path, name):
    with pytest.raises(ValueError, match="Invalid phase name"):
        Phases(tmp_path, "a").once(name, lambda: 1)
