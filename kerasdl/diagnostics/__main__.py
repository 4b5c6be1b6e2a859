"""Read back an error sheet filled in by hand and show its "% of errors" table.

Course 3, Week 2 ("Carrying out error analysis"), the manual half: the main
job exports `<run>/error_analysis/dev_errors.csv` and a contact sheet; add a
column per idea (any names), tick the rows that apply, then run

    python -m kerasdl.diagnostics logs/mismatch/<run>/error_analysis/dev_errors.csv

It prints the tag table with each tag's ceiling and logs it to the run's
TensorBoard as Text "error_analysis/dev/manual_tags". The dev error comes from
the run's results.json (or --dev-error).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kerasdl.diagnostics.error_analysis import import_sheet, tag_table_markdown

MANUAL_TAG = "error_analysis/dev/manual_tags"


def dev_error_of_run(sheet_path: Path) -> float | None:
    """The metric "dev_error" of the run a sheet at `<run>/error_analysis/<name>.csv` belongs to.

    Read through `kerasdl.harness.results`, the one reader of the results
    schema; None when the run has no results or measured no dev error.
    """
    from kerasdl.harness.results import read_results

    try:
        return read_results(sheet_path.resolve().parent.parent)["metrics"].get("dev_error")
    except FileNotFoundError:
        return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kerasdl.diagnostics",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("sheet", type=Path, help="the CSV exported by the main job and filled in by hand")
    parser.add_argument(
        "--dev-error",
        type=float,
        default=None,
        help="the dev error rate (default: from the run's results.json)",
    )
    parser.add_argument("--no-log", action="store_true", help="print only; do not write to TensorBoard")
    args = parser.parse_args(argv)
    if not args.sheet.is_file():
        parser.error(f"no such sheet: {args.sheet}")
    dev_error = args.dev_error if args.dev_error is not None else dev_error_of_run(args.sheet)
    if dev_error is None:
        parser.error(f"no results.json two folders above {args.sheet}: pass --dev-error")
    if not 0 <= dev_error <= 1:
        parser.error(f"--dev-error is a fraction in [0, 1]; received {dev_error}")
    try:
        table = tag_table_markdown(import_sheet(args.sheet), dev_error)
    except ValueError as error:
        parser.error(str(error))
    print(table)
    if not args.no_log:
        import tensorflow as tf

        writer = tf.summary.create_file_writer(str(args.sheet.parent))
        with writer.as_default():
            tf.summary.text(MANUAL_TAG, table, step=0)
        writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
