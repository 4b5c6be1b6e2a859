"""Experiment plumbing shared by every script in experiments/.

One run = one new directory `logs/<experiment>/<run>/` holding the resolved
config (`config.json`) and TensorBoard event files; nothing is overwritten
(DESIGN.md principle 4). Scripts build their command line with
`experiment_parser`, then call `start_run`, which seeds everything, creates
the directory and saves the config.

Nothing is lost (principle 7): `run.resume_callbacks(train)` backs the
training up into `<run>/backup/` and stops on a NaN loss, and `run.finish()`
marks the run finished. A finished run is never touched again; with
`--resume`, `start_run` reopens the newest unfinished run of the experiment
(or the one named by `--run-name`), and `fit` continues from its backup at
the same step, with TensorBoard curves continuing in the same directory.

Example:

    parser = experiment_parser("mismatch", __doc__)
    parser.add_argument("--epochs", type=int, default=5, help="...")
    args = parser.parse_args()
    run = start_run("mismatch", vars(args))
    model.fit(train, epochs=args.epochs, callbacks=[..., *run.resume_callbacks(train)])
    run.finish()
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import random
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kerasdl.training.distribute import STRATEGIES, is_chief
from kerasdl.training.io import atomic_write_json

DEFAULT_LOGDIR = "logs"
FINISHED = "FINISHED"  # marker file of a run that ended normally
BACKUP_DIR = "backup"
_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def set_seeds(seed: int, deterministic: bool = False) -> None:
    """Seeds Python, NumPy, TensorFlow and Keras from one integer.

    Args:
        seed: the seed; the same seed gives the same initial weights, shuffles
            and augmentations.
        deterministic: also turn on TensorFlow's op determinism, so that two
            runs with the same seed are bit-identical (slower on some ops).
    """
    import keras
    import tensorflow as tf

    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer. Received: seed={seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    keras.utils.set_random_seed(seed)
    tf.random.set_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


@dataclass
class Run:
    """A run directory and the writers that log into it.

    Attributes:
        experiment: the experiment's name (`logs/<experiment>/`).
        name: the run's name, unique within the experiment.
        dir: `logs/<experiment>/<name>/`.
        config: the resolved configuration, as saved in `config.json`.
        resumed: True when `--resume` reopened an interrupted run.
    """

    experiment: str
    name: str
    dir: Path
    config: dict[str, Any]
    resumed: bool = False
    _writers: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def backup_dir(self) -> Path:
        """`<run>/backup/`, where `resume_callbacks` keeps the training backups."""
        return self.dir / BACKUP_DIR

    @property
    def finished(self) -> bool:
        return (self.dir / FINISHED).exists()

    def resume_callbacks(
        self, dataset=None, save_freq: str | int = "epoch", keep: int = 2, name: str | None = None
    ) -> list:
        """Callbacks that make `fit` resumable: `[NanGuard(), BackupAndRestore(...)]`.

        Put them last in `callbacks`, after the callbacks that write
        TensorBoard points at the end of an epoch: a backup then always
        follows the points of its epoch, so a stop on SIGTERM or Ctrl-C
        leaves neither a gap nor a point written twice. On a resumed run
        they restore the backup, so `fit` continues at the epoch (and batch)
        it stopped at; a `fit` that had finished trains no more epochs.

        Args:
            dataset: the training `tf.data.Dataset`, if it reshuffles each
                epoch (keeps the data order of the resumed epochs).
            save_freq: "epoch" or back up every N batches as well.
            keep: backups kept.
            name: one backup folder per `fit` when a run calls `fit` more
                than once (`<run>/backup/<name>/`).
        """
        from kerasdl.training.backup import BackupAndRestore
        from kerasdl.training.nan_guard import NanGuard

        if name is not None and not _RUN_NAME.match(name):
            raise ValueError(
                f"Invalid backup name. Use letters, digits, '.', '_' and '-'. Received: name={name!r}"
            )
        directory = self.backup_dir if name is None else self.backup_dir / name
        return [NanGuard(), BackupAndRestore(directory, save_freq=save_freq, keep=keep, dataset=dataset)]

    def writer(self, subdir: str = ""):
        """The `tf.summary` writer for `<run>/<subdir>` (created once, cached).

        TensorBoard shows each subdirectory as its own run, so curves of the
        same tag from "train" and "dev" land on one chart.
        """
        import tensorflow as tf

        if subdir not in self._writers:
            if is_chief():
                self._writers[subdir] = tf.summary.create_file_writer(str(self.dir / subdir))
            else:
                self._writers[subdir] = tf.summary.create_noop_writer()
        return self._writers[subdir]

    def save_json(self, filename: str, obj: Any) -> Path:
        """Writes `obj` as JSON into the run directory, atomically."""
        return atomic_write_json(self.dir / filename, obj)

    def saved_json(self, filename: str) -> dict:
        """What an earlier session of this run saved with `save_json` ({} for a new run or no such file).

        A resumed run reads back what it had saved before the interruption;
        a new run starts from nothing even if the file is there.
        """
        path = self.dir / filename
        return json.loads(path.read_text()) if self.resumed and path.exists() else {}

    def close(self) -> None:
        """Flushes and closes every writer."""
        for writer in self._writers.values():
            writer.flush()
            writer.close()
        self._writers.clear()

    def finish(self) -> None:
        """Closes the writers and marks the run finished: `--resume` will never reopen it."""
        self.close()
        atomic_write_json(self.dir / FINISHED, {"finished_utc": _utc_now()})


def _utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def resumable_run_dir(
    experiment: str, logdir: str | os.PathLike = DEFAULT_LOGDIR, name: str | None = None
) -> Path | None:
    """The run `--resume` continues: the newest unfinished run, or the one called `name`.

    Returns:
        The run directory, or None when the experiment has no unfinished run.

    Raises:
        ValueError: `name` is given but no such run exists, or it is finished.
    """
    base = Path(logdir) / experiment
    if name is not None:
        run_dir = base / name
        if not (run_dir / "config.json").exists():
            raise ValueError(f"There is no run {name!r} to resume under {base}. Received: run_name={name!r}")
        if (run_dir / FINISHED).exists():
            raise ValueError(
                f"Run {run_dir} finished; it is never reopened. Pick a new --run-name for a new run, "
                f"or delete {run_dir} to reuse the name. Received: run_name={name!r}"
            )
        return run_dir
    candidates = [
        path
        for path in (base.iterdir() if base.is_dir() else [])
        if (path / "config.json").exists() and not (path / FINISHED).exists()
    ]
    # config.json is written once, when the run starts: its mtime orders the runs.
    return max(candidates, key=lambda path: (path / "config.json").stat().st_mtime_ns, default=None)


def new_run_dir(experiment: str, logdir: str | os.PathLike = DEFAULT_LOGDIR, name: str | None = None) -> Path:
    """Creates and returns a new, empty `logdir/experiment/<run>/`.

    The default name is the UTC time to the second; a name already taken gets
    a `-2`, `-3`, ... suffix. `mkdir` without `exist_ok` makes the claim
    atomic, so two processes starting at once get two directories.
    """
    if not _RUN_NAME.match(experiment):
        raise ValueError(
            "Invalid experiment name. Use letters, digits, '.', '_' and '-'. "
            f"Received: experiment={experiment!r}"
        )
    if name is not None and not _RUN_NAME.match(name):
        raise ValueError(f"Invalid run name. Use letters, digits, '.', '_' and '-'. Received: name={name!r}")
    base = Path(logdir) / experiment
    base.mkdir(parents=True, exist_ok=True)
    stem = name or _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S")
    for attempt in range(1, 10_000):
        candidate = base / (stem if attempt == 1 else f"{stem}-{attempt}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise RuntimeError(f"Could not create a new run directory under {base}")


def start_run(experiment: str, config: dict[str, Any]) -> Run:
    """Seeds, creates the run directory (or reopens one with `resume`) and saves the resolved config.

    `config` is usually `vars(args)` from `experiment_parser`; its keys
    `logdir`, `run_name`, `seed`, `deterministic` and `resume` are used here,
    and the whole dictionary (plus the command line and library versions) is
    saved to `config.json`. A resumed run keeps its `config.json` and gets a
    `resume-<n>.json` with the new command line; options that changed are
    printed.

    A `--resume` that names a finished or missing run is the user's error:
    it prints one `error:` line (see `fail`) and exits with status 2,
    before anything is written.
    """
    import keras
    import tensorflow as tf

    config = dict(config)
    set_seeds(int(config.get("seed", 0)), bool(config.get("deterministic", False)))
    logdir = config.get("logdir", DEFAULT_LOGDIR)
    run_dir = None
    if config.get("resume"):
        try:
            run_dir = resumable_run_dir(experiment, logdir, config.get("run_name"))
        except ValueError as error:
            fail(str(error))
        if run_dir is None:
            print(f"--resume: no unfinished run under {Path(logdir) / experiment}; starting a new run.")
    resumed = run_dir is not None
    if run_dir is None:
        run_dir = new_run_dir(experiment, logdir, config.get("run_name"))
    config["run_dir"] = str(run_dir)
    resolved = {
        "experiment": experiment,
        "config": config,
        "argv": sys.argv,
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__},
        "started_utc": _utc_now(),
    }
    if resumed:
        _report_changes(json.loads((run_dir / "config.json").read_text()).get("config", {}), config)
        count = len(list(run_dir.glob("resume-*.json")))
        atomic_write_json(run_dir / f"resume-{count + 1}.json", resolved)
        print(f"Resuming run {run_dir}.")
    else:
        atomic_write_json(run_dir / "config.json", resolved)
    return Run(experiment=experiment, name=run_dir.name, dir=run_dir, config=config, resumed=resumed)


def _report_changes(saved: dict[str, Any], config: dict[str, Any]) -> None:
    ignored = {"resume", "run_name", "run_dir"}
    for key in sorted((set(saved) | set(config)) - ignored):
        if saved.get(key) != config.get(key):
            print(f"--resume: {key} was {saved.get(key)!r}, now {config.get(key)!r}.")


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
        help="continue the newest unfinished run (or --run-name) from its last backup instead of a new run",
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
