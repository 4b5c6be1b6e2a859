"""The command line every experiment shares: its parser, one-line errors, comma-separated subsets."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from kerasdl.harness.run import DEFAULT_LOGDIR
from kerasdl.training.distribute import STRATEGIES


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows each flag's default and keeps the script's header formatting."""


def experiment_parser(experiment: str, description: str | None) -> argparse.ArgumentParser:
    """An argument parser with the flags every experiment shares.

    Shared flags: --logdir, --run-name, --seed, --deterministic, --strategy,
    --resume.
    Each script adds its own flags with help text; `--help` shows all of
    them with their defaults.
    """
    parser = argparse.ArgumentParser(
        prog=f"python -m experiments.{experiment}",
        description=description,
        formatter_class=_HelpFormatter,
    )
    shared = parser.add_argument_group("shared experiment options")
    shared.add_argument(
        "--logdir",
        default=DEFAULT_LOGDIR,
        help=f"TensorBoard logdir; the run goes to LOGDIR/{experiment}/RUN/",
    )
    shared.add_argument(
        "--run-name",
        default=None,
        help="name of the run directory (default: the UTC time); a taken name gets a suffix; "
        "with --resume, the run to continue",
    )
    shared.add_argument(
        "--seed", type=int, default=0, help="seed for weights, shuffling, splits and synthesis"
    )
    shared.add_argument(
        "--deterministic",
        action="store_true",
        help="turn on TensorFlow op determinism (bit-identical reruns)",
    )
    shared.add_argument("--strategy", default="auto", choices=STRATEGIES, help="tf.distribute strategy")
    shared.add_argument(
        "--resume",
        action="store_true",
        help="continue the newest unfinished run (or --run-name) where it stopped, with the same settings",
    )
    shared.add_argument(
        "--force",
        action="store_true",
        help="with --resume: continue even though settings changed (recorded in the run's resume-N.json)",
    )
    return parser


def fail(message: str, code: int = 2) -> None:
    """Prints one clear error line (no traceback) and exits."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def parse_subset(flag: str, text: str, choices: Sequence[str]) -> list[str]:
    """The names in the comma-separated `text`, in its order; `fail`s unless all are in `choices`.

    Example: `parse_subset("--variants", "adam,momentum", VARIANTS)` is `["adam", "momentum"]`.
    """
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names or not set(names) <= set(choices):
        fail(f"{flag} must be a comma-separated subset of {tuple(choices)}; received {text!r}")
    return names
