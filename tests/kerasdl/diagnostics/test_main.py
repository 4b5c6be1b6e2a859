import shutil
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from kerasdl.diagnostics.__main__ import MANUAL_TAG, main
from kerasdl.harness.results import write_results

FIXTURE = Path(__file__).parent / "data" / "error_sheet.csv"


def run_with_sheet(tmp_path, dev_error=0.10):
    """A run directory as the main job leaves it, with the hand-filled fixture as its sheet."""
    run = tmp_path / "run"
    (run / "error_analysis").mkdir(parents=True)
    write_results(
        run,
        experiment="mismatch",
        config={},
        metrics={"dev_error": dev_error},
        finished_utc="2026-11-30T00:00:00",
    )
    return Path(shutil.copy(FIXTURE, run / "error_analysis" / "dev_errors.csv"))


def test_filled_sheet_comes_back_as_a_table_in_tensorboard(tmp_path, capsys):
    sheet = run_with_sheet(tmp_path)
    assert main([str(sheet)]) == 0
    # Hand counts of the fixture (see test_error_analysis): great cat 3 of 8 errors at 10% dev error.
    assert "| great cat | 3 | 37.5% | 3.75 | 6.25% |" in capsys.readouterr().out
    events = EventAccumulator(str(sheet.parent)).Reload()
    assert (
        "| blurry | 4 | 50.0% | 5.00 | 5.00% |"
        in events.Tensors(MANUAL_TAG)[0].tensor_proto.string_val[0].decode()
    )


def test_dev_error_flag_overrides_and_no_log(tmp_path, capsys):
    sheet = run_with_sheet(tmp_path)
    assert main([str(sheet), "--dev-error", "0.2", "--no-log"]) == 0
    assert "| dog | 2 | 25.0% | 5.00 | 15.00% |" in capsys.readouterr().out
    assert not list(sheet.parent.glob("events.*"))


def test_needs_a_dev_error(tmp_path, capsys):
    sheet = tmp_path / "sheet.csv"
    shutil.copy(FIXTURE, sheet)
    with pytest.raises(SystemExit):
        main([str(sheet)])
    assert "pass --dev-error" in capsys.readouterr().err
