"""The command line every experiment shares: its parser, shared flags and their checks, one-line errors.

- `experiment_parser`: the parser with the flags of every experiment
  (--logdir, --run-name, --seed, --deterministic, --strategy,
  --mixed-precision, --resume, --force).
- `add_data_dir_flag`, `add_batch_size_flag`, `add_learning_rate_flag`,
  `add_train_eval_size_flag`, `add_fraction_flag`, `add_subset_flag`: flags
  several experiments share, with one meaning and one help text each.
- `fail`, `check_at_least`, `check_fractions`, `parse_subset`: a bad value
  ends the script with one `error:` line naming the flag, before a run starts.
- `load_or_fail`, `first`: data that is missing or corrupt ends the script
  the same way; `--limit`-style flags keep the first N examples.
- `add_train_test_flags`, `fashion_mnist_train_test`: `--limit` training
  and `--test-limit` test images of Fashion-MNIST.

Example:

    parser = experiment_parser("architectures", __doc__)
    add_subset_flag(parser, "--models", MODELS)
    add_batch_size_flag(parser, 128)
    add_data_dir_flag(parser)
    args = parser.parse_args(argv)
    check_at_least(args, 1, "epochs", "batch_size")
    train = first(load_or_fail(fashion_mnist, "train", args.data_dir), args.limit)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

from kerasdl.harness.layout import DEFAULT_LOGDIR
from kerasdl.training.distribute import LEGACY_NAMES, STRATEGIES
from pipelines.sources import ImageSource, SourceCorruptError, SourceMissingError, fashion_mnist

T = TypeVar("T")
FASHION_MNIST_DIR_HELP = "folder with the Fashion-MNIST IDX files"


# How usage lines and errors name an experiment; the `kerasdl` command sets "kerasdl run {experiment}".
PROG_TEMPLATE = "python -m experiments.{experiment}"


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows each flag's default and keeps the script's header formatting."""


def _strategy_name(name: str) -> str:
    """--strategy's value; the names of earlier versions ("default", "multi_worker") map to today's."""
    return LEGACY_NAMES.get(name, name) if name != "one_device" else name


def experiment_parser(experiment: str, description: str | None) -> argparse.ArgumentParser:
    """An argument parser with the flags every experiment shares.

    Shared flags: --logdir, --run-name, --seed, --deterministic, --strategy,
    --mixed-precision (applied by `start_run`), --resume, --force.
    Each script adds its own flags with help text; `--help` shows all of
    them with their defaults.
    """
    parser = argparse.ArgumentParser(
        prog=PROG_TEMPLATE.format(experiment=experiment),
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
        "with --resume, the run to continue; on a cluster (TF_CONFIG), the run every worker shares "
        "(default: derived from the cluster and the settings), continued when restarted",
    )
    shared.add_argument(
        "--seed", type=int, default=0, help="seed for weights, shuffling, splits and synthesis"
    )
    shared.add_argument(
        "--deterministic",
        action="store_true",
        help="turn on TensorFlow op determinism (bit-identical reruns)",
    )
    shared.add_argument(
        "--strategy",
        default="auto",
        type=_strategy_name,
        choices=STRATEGIES,
        help="tf.distribute strategy: auto picks multiworker when TF_CONFIG names a cluster, else a TPU, "
        "else every GPU, else the CPU; --batch-size is the global batch, split between the replicas",
    )
    shared.add_argument(
        "--mixed-precision",
        action="store_true",
        help="compute in 16 bits with float32 weights: mixed_float16 (with loss scaling) on GPUs, "
        "mixed_bfloat16 on TPUs and CPUs",
    )
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


# -- flags several experiments share -------------------------------------------------------------


def add_data_dir_flag(parser: argparse.ArgumentParser, help: str = FASHION_MNIST_DIR_HELP) -> None:
    """Adds `--data-dir` (default None: the dataset's usual place)."""
    parser.add_argument("--data-dir", default=None, help=help)


def add_batch_size_flag(
    parser: argparse.ArgumentParser, default: int = 128, help: str = "mini-batch size"
) -> None:
    """Adds `--batch-size`."""
    parser.add_argument("--batch-size", type=int, default=default, help=help)


def add_train_eval_size_flag(
    parser: argparse.ArgumentParser,
    default: int = 2_000,
    help: str = "training error is measured after every epoch on the first N training images",
) -> None:
    """Adds `--train-eval-size`: the fixed subset of the training set its curves are measured on."""
    parser.add_argument("--train-eval-size", type=int, default=default, help=help)


def add_learning_rate_flag(
    parser: argparse.ArgumentParser, default: float, optimizer: str = "Adam", note: str = ""
) -> None:
    """Adds `--learning-rate`, the learning rate alpha of `optimizer`, with an optional `note` on its use."""
    help = f"learning rate alpha of {optimizer}" + (f"; {note}" if note else "")
    parser.add_argument("--learning-rate", type=float, default=default, help=help)


def add_fraction_flag(parser: argparse.ArgumentParser, flag: str, default: float, help: str) -> None:
    """Adds `flag`, a share in [0, 1]; `check_fractions` fails with one line on a value outside."""
    parser.add_argument(flag, type=float, default=default, help=help)


def add_subset_flag(
    parser: argparse.ArgumentParser,
    flag: str,
    choices: Sequence[str],
    default: Sequence[str] | None = None,
    help: str | None = None,
) -> None:
    """Adds `flag`, a comma-separated subset of `choices` (default: all of them), read by `parse_subset`."""
    parser.add_argument(
        flag,
        default=",".join(choices if default is None else default),
        help=help or f"comma-separated subset of {tuple(choices)}",
    )


# -- one-line errors ------------------------------------------------------------------------------


def fail(message: str, code: int = 2) -> None:
    """Prints one clear error line (no traceback) and exits."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_at_least(args: argparse.Namespace, minimum: int, *names: str) -> None:
    """`fail`s on the first `args.<name>` below `minimum`, naming its flag and value; None (unset) passes.

    Example: `check_at_least(args, 1, "epochs", "batch_size")` fails with
    "--epochs must be at least 1; received 0" for `--epochs 0`.
    """
    for name in names:
        value = getattr(args, name)
        if value is not None and value < minimum:
            fail(f"{_flag(name)} must be at least {minimum}; received {value}")


def check_fractions(args: argparse.Namespace, *names: str) -> None:
    """`fail`s on the first `args.<name>` outside [0, 1], naming its flag and value."""
    for name in names:
        value = getattr(args, name)
        if not 0 <= value <= 1:
            fail(f"{_flag(name)} must be in [0, 1]; received {value}")


def parse_subset(flag: str, text: str, choices: Sequence[str]) -> list[str]:
    """The names in the comma-separated `text`, in its order; `fail`s unless all are in `choices`.

    Example: `parse_subset("--variants", "adam,momentum", VARIANTS)` is `["adam", "momentum"]`.
    """
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names or not set(names) <= set(choices):
        fail(f"{flag} must be a comma-separated subset of {tuple(choices)}; received {text!r}")
    return names


# -- data -----------------------------------------------------------------------------------------


def load_or_fail(load: Callable[..., T], *args, **kwargs) -> T:
    """`load(*args, **kwargs)`, or `fail` with its one-line message when the data cannot be had.

    A loader of `pipelines` raises `SourceMissingError` (not on this machine;
    the message says how to get it), `SourceCorruptError` (there, but fails
    verification) or `ValueError` (sizes or names it cannot serve): each is a
    problem with the command line or the machine, not a bug to trace back.
    """
    try:
        return load(*args, **kwargs)
    except (SourceMissingError, SourceCorruptError, ValueError) as error:
        fail(str(error))


def first(source: ImageSource, count: int | None) -> ImageSource:
    """The first `count` examples of `source` (all of them if it has fewer, or `count` is None)."""
    return source if count is None else source.take(np.arange(min(count, len(source))))


def add_train_test_flags(parser: argparse.ArgumentParser, limit: int | None, limit_help: str) -> None:
    """Adds `--limit` (default `limit`), `--test-limit`, `--train-eval-size` and `--data-dir`.

    What they name: `fashion_mnist_train_test(args.data_dir, args.limit, args.test_limit)`,
    and the first `args.train_eval_size` training images for the curves.
    """
    parser.add_argument("--limit", type=int, default=limit, help=limit_help)
    parser.add_argument("--test-limit", type=int, default=10_000, help="test images to evaluate on")
    add_train_eval_size_flag(parser)
    add_data_dir_flag(parser)


def fashion_mnist_train_test(
    data_dir: str | None, limit: int | None = None, test_limit: int | None = None
) -> tuple[ImageSource, ImageSource]:
    """The first `limit` Fashion-MNIST training images and the first `test_limit` test images (None: all).

    `fail`s with the loader's one line when the dataset is not in `data_dir`.
    """
    train = load_or_fail(fashion_mnist, "train", data_dir)
    test = load_or_fail(fashion_mnist, "test", data_dir)
    return first(train, limit), first(test, test_limit)
