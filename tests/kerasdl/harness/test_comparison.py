"""kerasdl.harness.comparison: the Markdown table and the end of a comparison experiment."""

import pytest

from kerasdl.harness.comparison import finish_comparison, markdown_table
from kerasdl.harness.results import read_results
from kerasdl.harness.run import FINISHED, start_run

ROWS = [
    {"way": "softmax", "accuracy": 0.875, "parameters": 1290},
    {"way": "scratch", "accuracy": 0.5, "parameters": 12},
]


class TestComparison:
    def test_markdown_table_right_aligns_numbers(self):
        assert markdown_table(ROWS).splitlines() == [
            "| way | accuracy | parameters |",
            "|---|---:|---:|",
            "| softmax | 0.8750 | 1,290 |",
            "| scratch | 0.5000 | 12 |",
        ]
        with pytest.raises(ValueError, match="Received: rows=\\[\\]"):
            markdown_table([])

    def test_finish_comparison_logs_finishes_and_prints(self, logdir, capsys):
        run = start_run("exp", {"logdir": str(logdir), "run_name": "r"})
        table = finish_comparison(run, "way", ROWS, title="two ways", step=3)
        assert capsys.readouterr().out.endswith(f"two ways\n{table}\n")
        assert (run.dir / FINISHED).exists()
        document = read_results(run.dir)
        assert document["details"] == {"title": "two ways", "rows": ROWS}
        assert document["metrics"]["softmax/accuracy"] == ROWS[0]["accuracy"]
        assert (run.dir / "summary.md").read_text() == f"two ways\n\n{table}\n"
        assert (run.dir / "softmax").is_dir() and (run.dir / "scratch").is_dir()  # one HParams session each
