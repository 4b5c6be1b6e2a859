"""A comparison of variants as a TensorBoard table: HParams rows plus a Markdown text table.

Experiments that train several variants side by side (architectures,
transfer-learning ways, multi-task vs single-task) end with one row per
variant. `log_comparison` writes that table: to the HParams dashboard
(one session per variant, the variant as the hyperparameter, each figure as
a metric, so the Table and Parallel-coordinates views sort and plot them) and
as a Markdown table; `finish_comparison` does that at the end of an
experiment and finishes the run with the table as its summary and results.

Example:

    rows = [{"network": "lenet5", "test_accuracy": 0.87, "parameters": 61706}, ...]
    finish_comparison(run, "network", rows, title="12,000 images, 2 epochs", step=2)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

from kerasdl.harness.run import Run


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows (dicts with the same keys) as a Markdown table, numbers right-aligned."""
    if not rows:
        raise ValueError("rows must not be empty. Received: rows=[]")
    keys = list(rows[0])
    numeric = [isinstance(rows[0][k], (int, float)) and not isinstance(rows[0][k], bool) for k in keys]
    lines = ["| " + " | ".join(keys) + " |", "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(_format(row[k]) for k in keys) + " |" for row in rows]
    return "\n".join(lines)


def log_comparison(run: Run, key: str, rows: Sequence[dict[str, Any]], step: int = 0) -> str:
    """Logs the comparison to `run`'s HParams dashboard; returns the Markdown table.

    Args:
        run: the run (`kerasdl.harness.run.start_run`).
        key: the column naming the variant; each variant's session is
            written to `<run>/<variant>`.
        rows: one dict per variant: `key`, then numeric figures (metrics).
        step: the step the metric scalars are written at.
    """
    table = markdown_table(rows)
    variants = [str(row[key]) for row in rows]
    metrics = [k for k in rows[0] if k != key and isinstance(rows[0][k], (int, float))]
    with run.writer("").as_default():
        hp.hparams_config(
            hparams=[hp.HParam(key, hp.Discrete(variants))], metrics=[hp.Metric(m) for m in metrics]
        )
    for variant, row in zip(variants, rows, strict=True):
        with run.writer(variant).as_default():
            hp.hparams({key: variant}, trial_id=variant)
            for metric in metrics:
                tf.summary.scalar(metric, float(row[metric]), step=step)
    return table


def finish_comparison(run: Run, key: str, rows: Sequence[dict[str, Any]], title: str, step: int) -> str:
    """The end of a comparison experiment: `log_comparison`, `run.finish`, then prints the title and table.

    The results' metrics are `<variant>/<figure>` for each numeric figure,
    their details `{"title": title, "rows": rows}`; the summary is the title
    above the table.

    Returns:
        The Markdown table.
    """
    table = log_comparison(run, key, rows, step=step)
    metrics = {
        f"{row[key]}/{name}": value
        for row in rows
        for name, value in row.items()
        if name != key and isinstance(value, int | float) and not isinstance(value, bool)
    }
    summary = (title + "\n\n" if title else "") + table
    run.finish(metrics=metrics, details={"title": title, "rows": list(rows)}, summary=summary, step=step)
    print(title)
    print(table)
    return table
