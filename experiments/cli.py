"""The `kerasdl` command: list the experiments, run one, open TensorBoard, print a finished run's report.

    kerasdl list                       # each experiment's lesson, default runtime and title
    kerasdl run mismatch --epochs 2    # = python -m experiments.mismatch --epochs 2
    kerasdl run mismatch --help        # the experiment's own flags
    kerasdl diagnose --model my.keras  # = kerasdl run diagnose ...: the Course 3 report for your model
    kerasdl tensorboard                # TensorBoard on logs/ (or the folder given)
    kerasdl report logs/mismatch/20261130-101500   # a finished run's summary.md
    kerasdl report mismatch            # the newest finished run of an experiment
    kerasdl screenshots                # quick runs, then one PNG per dashboard (docs/screenshots/)

Installed as a console script by `pip install` (setup.cfg); `python -m
experiments` is the same command without installing. The module scripts
(`python -m experiments.<name>`) keep working: `run` imports the module and
calls its `main(argv)`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from experiments.catalog import EXPERIMENTS, find, table
from kerasdl.harness.layout import DEFAULT_LOGDIR, FINISHED, finished_runs, is_run_dir
from kerasdl.harness.results import SUMMARY, read_results

DESCRIPTION = """\
kerasdl: the Deep Learning Specialization's lessons as Keras 3 experiments.
Each experiment trains on offline data by default and writes a run directory
under logs/<experiment>/ with TensorBoard logs, results.json and summary.md.
"""
SCREENSHOT_EXPERIMENTS = ("mismatch", "initialization", "char_lm")
EPILOG = "Start with `kerasdl list`, then `kerasdl run <experiment> --help`."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerasdl",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    listing = commands.add_parser("list", help="the experiments: lesson, default runtime, title")
    listing.add_argument("--markdown", action="store_true", help="print the README's Markdown table instead")
    run = commands.add_parser(
        "run",
        help="run an experiment; the flags after its name are its own (kerasdl run NAME --help)",
        add_help=False,
    )
    run.add_argument("experiment", help="an experiment name from `kerasdl list`")
    run.add_argument("flags", nargs=argparse.REMAINDER, help="the experiment's own flags")
    diagnose = commands.add_parser(
        "diagnose",
        help="the Course 3 report for your own model (kerasdl diagnose --help)",
        add_help=False,
    )
    diagnose.add_argument("flags", nargs=argparse.REMAINDER, help="the flags of experiments.diagnose")
    board = commands.add_parser("tensorboard", help="open TensorBoard on a log folder (default: logs/)")
    board.add_argument("logdir", nargs="?", default=DEFAULT_LOGDIR, help="a logdir, experiment folder or run")
    board.add_argument("--port", type=int, default=6006, help="the port on 127.0.0.1 (default 6006)")
    report = commands.add_parser("report", help="print a finished run's summary")
    report.add_argument("run", help="a run directory, or an experiment name for its newest finished run")
    report.add_argument("--logdir", default=DEFAULT_LOGDIR, help="where experiment names are looked up")
    shots = commands.add_parser(
        "screenshots",
        help="PNGs of the TensorBoard dashboards, in headless Chromium",
        description="Runs the quick profile of each experiment named (or shows an existing log folder), "
        "serves it with TensorBoard on 127.0.0.1 and saves one full-page PNG per dashboard as "
        "OUT/<experiment>/<dashboard>.png. Needs Chromium (apt-get install chromium) and Playwright.",
    )
    shots.add_argument(
        "--experiments",
        default=",".join(SCREENSHOT_EXPERIMENTS),
        help="comma-separated experiments whose quick profiles to run and show",
    )
    shots.add_argument(
        "--logdir", default=None, help="show this existing log folder instead of running anything"
    )
    shots.add_argument("--out", default="docs/screenshots", help="the folder the PNGs go to")
    return parser


def run_experiment(name: str, flags: list[str]) -> int:
    """Imports `experiments.<name>` and calls its `main(flags)`; its exit status."""
    try:
        experiment = find(name)
    except KeyError as error:
        print(f"kerasdl run: error: {error.args[0]}", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up notices, before it is imported
    import kerasdl.harness.cli

    kerasdl.harness.cli.PROG_TEMPLATE = "kerasdl run {experiment}"  # what --help and errors name
    module = importlib.import_module(experiment.module)
    return int(module.main(flags) or 0)


def resolve_run(spec: str, logdir: str) -> Path:
    """A run directory from a path or an experiment name (its newest finished run).

    Raises:
        ValueError: neither a run directory nor an experiment with a finished run.
    """
    path = Path(spec)
    if is_run_dir(path):
        return path
    experiment_dir = Path(logdir) / spec
    finished = finished_runs(experiment_dir)
    if finished:
        return finished[-1]
    if path.exists() or experiment_dir.exists():
        where = path if path.exists() else experiment_dir
        raise ValueError(f"{where} holds no finished run (a run directory has config.json)")
    raise ValueError(f"{spec!r} is neither a run directory nor an experiment with runs under {logdir}/")


def print_report(spec: str, logdir: str) -> int:
    try:
        run_dir = resolve_run(spec, logdir)
    except ValueError as error:
        print(f"kerasdl report: error: {error}", file=sys.stderr)
        return 2
    if not (run_dir / FINISHED).exists():
        print(
            f"kerasdl report: error: {run_dir} has not finished; continue it with "
            f"`kerasdl run {run_dir.parent.name} --resume --run-name {run_dir.name}`",
            file=sys.stderr,
        )
        return 2
    summary = run_dir / SUMMARY
    results = read_results(run_dir)
    print(f"# {results['experiment']} / {results['run']}, finished {results['finished_utc']}\n")
    print(summary.read_text() if summary.exists() else "(this run wrote no summary)")
    return 0


def open_tensorboard(logdir: str, port: int) -> int:
    """Runs TensorBoard in the foreground on 127.0.0.1 until Ctrl-C."""
    if not Path(logdir).exists():
        print(
            f"kerasdl tensorboard: error: {logdir} does not exist; run an experiment first", file=sys.stderr
        )
        return 2
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host", "127.0.0.1"]
    print(f"TensorBoard on http://127.0.0.1:{port}/ (Ctrl-C stops it)", flush=True)
    try:
        return subprocess.call([*command, "--port", str(port)])
    except KeyboardInterrupt:
        return 0


def quick_run(name: str, logdir: str | os.PathLike) -> Path:
    """Runs `name`'s quick profile (`Experiment.quick`) into `logdir` as run "quick"; its directory."""
    experiment = find(name)
    if experiment.quick is None:
        raise ValueError(f"experiment {name!r} has no quick profile in experiments/catalog.py")
    flags = [*experiment.quick, "--logdir", str(logdir), "--run-name", "quick"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("KERASDL_STOP_AT", None)
    result = subprocess.run(
        [sys.executable, "-m", experiment.module, *flags], env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"the quick run of {name} failed:\n{result.stderr[-3000:]}")
    return Path(logdir) / name / "quick"


def take_screenshots(experiments: str, logdir: str | None, out: str) -> int:
    from kerasdl.harness.dashboards import BrowserMissingError, screenshots

    try:
        if logdir is not None:
            for path in screenshots(logdir, out):
                print(path)
            return 0
        with tempfile.TemporaryDirectory() as scratch:
            for name in filter(None, experiments.split(",")):
                print(f"{name}: quick run ...", flush=True)
                run_dir = quick_run(name, scratch)
                for path in screenshots(run_dir, Path(out) / name):
                    print(path)
    except (BrowserMissingError, KeyError, ValueError, RuntimeError) as error:
        print(f"kerasdl screenshots: error: {error.args[0]}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["diagnose"]:  # argparse's REMAINDER drops a first flag such as --help; pass all on as is
        return run_experiment("diagnose", argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "list":
        print(table(markdown=args.markdown))
        if not args.markdown:
            print(f"\n{len(EXPERIMENTS)} experiments. {EPILOG}")
        return 0
    if args.command == "run":
        return run_experiment(args.experiment, args.flags)
    if args.command == "tensorboard":
        return open_tensorboard(args.logdir, args.port)
    if args.command == "screenshots":
        return take_screenshots(args.experiments, args.logdir, args.out)
    return print_report(args.run, args.logdir)


if __name__ == "__main__":
    sys.exit(main())
