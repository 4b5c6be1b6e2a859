"""The run lifecycle: one directory per run, phases recorded in it, resume that survives a stop anywhere.

One run = one new directory `LOGDIR/<experiment>/<run>/` holding the resolved
config (`config.json`), TensorBoard event files, the phase records
(`phases/`), the persisted curves (`curves.json`), the training backups
(`backup/`) and, at the end, `results.json` and `summary.md`; nothing is
overwritten (DESIGN.md principle 4) and nothing is written outside
`LOGDIR/<experiment>/`.

An experiment script reads top to bottom and never asks whether it resumed:

    args = build_parser().parse_args(argv)
    run = start_run("mismatch", vars(args), safe_to_change={"epochs"})
    curves = EpochCurves(run.curves, evaluate_sets, human_error=args.human_error)
    with run.phase("train"):
        model.fit(train, epochs=args.epochs, callbacks=[curves, *run.resume_callbacks(train)])
    issues = run.once("label_issues", find_issues, model)      # skipped on resume once done
    run.finish(metrics={...}, details={...}, summary=text)

With `--resume`, `start_run` reopens the newest unfinished run (or
`--run-name`), refuses a changed configuration (except the flags the script
declares safe to change, or with `--force`, which is recorded), `fit`
continues from its backup at the same step, `once` returns the saved result
of every phase that had finished, and the curves read back every point
written before the stop.

On a cluster (TF_CONFIG naming several workers, `kerasdl.training.distribute`)
every worker runs the same script, and they share one run directory:

- its name is `--run-name`, or `multiworker-<hash>` of the cluster's
  addresses and the run's configuration, never the clock, so every worker
  arrives at the same folder without talking to the others;
- only the chief writes there (config, phase records, curves, events,
  results, `FINISHED`); the other workers read the phase records and the
  checkpoints, so on several machines the logdir must be shared storage;
- started again after a preemption with the same command, the workers
  continue that run (as `--resume` would; the changed-flag check applies),
  and a finished run of that name is refused as on one machine.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import random
import re
import shlex
import sys
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from kerasdl.harness.curves import CurveLog
from kerasdl.harness.faults import StopAt, stop_if_requested
from kerasdl.harness.layout import BACKUP_DIR, CONFIG, DEFAULT_LOGDIR, FINISHED
from kerasdl.harness.phases import Phases
from kerasdl.harness.results import write_results
from kerasdl.training.distribute import (
    LEGACY_NAMES,
    cluster_id,
    is_chief,
    is_multi_worker,
    set_mixed_precision,
)
from kerasdl.training.io import atomic_write_json

# Flags that never change what a run computes: where it is, whether it resumes.
NEVER_COMPARED = frozenset({"logdir", "run_name", "resume", "force", "run_dir"})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
T = TypeVar("T")


def check_name(kind: str, name: str) -> str:
    """`name` if it is a plain folder name (letters, digits, '.', '_', '-'); a ValueError otherwise.

    Run, experiment and backup names become folders under the logdir, so a
    name like `../other`, `/tmp/x` or `a/b` would write outside it.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"Invalid {kind} name: use letters, digits, '.', '_' and '-' (no '/', no leading '.'). "
            f"Received: {kind}_name={name!r}"
        )
    return name


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


def config_fingerprint(config: dict[str, Any]) -> str:
    """A short hash of the configuration values that define what a run computes."""
    compared = {key: value for key, value in config.items() if key not in NEVER_COMPARED}
    text = json.dumps(compared, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Run:
    """A run directory: its config, writers, curves, phases and results.

    Attributes:
        experiment: the experiment's name (`LOGDIR/<experiment>/`).
        name: the run's name, unique within the experiment.
        dir: `LOGDIR/<experiment>/<name>/`.
        config: the resolved configuration, as saved in `config.json`.
        resumed: True when `--resume` reopened an interrupted run. Scripts
            need not read it: `once`, `curves` and `resume_callbacks` act on it.
    """

    experiment: str
    name: str
    dir: Path
    config: dict[str, Any]
    resumed: bool = False
    _writers: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        chief = is_chief()
        phases, curves = (Phases, CurveLog) if chief else (_ReadOnlyPhases, _UnsavedCurveLog)
        self.phases = phases(self.dir, config_fingerprint(self.config), reuse=self.resumed)
        self.curves = curves(self.dir, self.writer, resume=self.resumed)

    @property
    def backup_dir(self) -> Path:
        """`<run>/backup/`, where `resume_callbacks` keeps the training backups."""
        return self.dir / BACKUP_DIR

    @property
    def finished(self) -> bool:
        return (self.dir / FINISHED).exists()

    # -- phases -------------------------------------------------------------------------------

    def phase(self, name: str):
        """A context manager that records a phase whose work always runs (training resumes by itself)."""
        return self.phases.phase(name)

    def once(self, name: str, compute: Callable[..., T], *args, **kwargs) -> T:
        """`compute(*args, **kwargs)` once per run; a resumed run gets the saved (JSON) result back.

        See `kerasdl.harness.phases.Phases.once`.
        """
        return self.phases.once(name, compute, *args, **kwargs)

    def once_each(self, items, compute_all) -> dict[str, Any]:
        """`once` for many phases at a time; see `kerasdl.harness.phases.Phases.once_each`."""
        return self.phases.once_each(items, compute_all)

    # -- training -----------------------------------------------------------------------------

    def resume_callbacks(
        self,
        dataset=None,
        save_freq: str | int = "epoch",
        keep: int = 2,
        name: str | None = None,
        on_nan: str = "raise",
    ) -> list:
        """Callbacks that make `fit` resumable; put them last in `callbacks`.

        Last, after the callbacks that write an epoch's points (`EpochCurves`):
        a backup then always follows the points of its epoch, so a stop
        leaves neither a gap nor a point written twice. On a resumed run they
        restore the backup, so `fit` continues at the epoch (and batch) it
        stopped at; a `fit` that had finished trains no more epochs and
        leaves the model as it ended.

        Args:
            dataset: the training `tf.data.Dataset`, if it reshuffles each
                epoch (keeps the data order of the resumed epochs).
            save_freq: "epoch" or back up every N batches as well.
            keep: backups kept.
            name: one backup folder per model when a run trains several
                (`<run>/backup/<name>/`).
            on_nan: "raise" stops the run with `NonFiniteLossError`;
                "stop" ends this `fit` quietly (a diverged variant is a result).
        """
        import keras

        from kerasdl.training.backup import BackupAndRestore
        from kerasdl.training.nan_guard import NanGuard

        if on_nan not in ("raise", "stop"):
            raise ValueError(f"on_nan must be 'raise' or 'stop'. Received: on_nan={on_nan!r}")
        directory = self.backup_dir if name is None else self.backup_dir_for(name)
        guard = NanGuard() if on_nan == "raise" else keras.callbacks.TerminateOnNaN()
        backup = BackupAndRestore(directory, save_freq=save_freq, keep=keep, dataset=dataset)
        return [guard, backup, StopAt()]

    def backup_dir_for(self, name: str) -> Path:
        """`<run>/backup/<name>/`, for a custom loop's `backup_dir`."""
        return self.backup_dir / check_name("backup", name)

    # -- writing ------------------------------------------------------------------------------

    def writer(self, subdir: str = ""):
        """The `tf.summary` writer for `<run>/<subdir>` (created once, cached; a no-op off the chief).

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
        """Writes `obj` as JSON into the run directory, atomically (on the chief only)."""
        path = self.dir / filename
        if is_chief():
            atomic_write_json(path, obj)
        return path

    def close(self) -> None:
        """Flushes and closes every writer."""
        for writer in self._writers.values():
            writer.flush()
            writer.close()
        self._writers.clear()

    def finish(
        self,
        metrics: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
        summary: str | None = None,
        step: int = 0,
        echo: bool = False,
        hparams: bool = False,
    ) -> None:
        """Writes the results, marks the run finished (`--resume` never reopens it) and closes it.

        Args:
            metrics: flat name -> number (what runs are compared by).
            details: the experiment's own tables (JSON).
            summary: Markdown shown as the Text "summary" in TensorBoard and
                saved as `summary.md`.
            step: the step the text summary is written at.
            echo: also print the summary, after a blank line, once the run
                is finished (what a script shows at its end).
            hparams: also make the run one row of TensorBoard's HParams
                dashboard (`write_hparams`): runs of the experiment opened
                together compare in one table.
        """
        import tensorflow as tf

        self.phases.started("finish")
        if summary is not None:
            with self.writer("summary").as_default():
                tf.summary.text("summary", summary, step=step)
        if hparams:
            self.write_hparams(metrics or {}, step)
        if is_chief():
            write_results(
                self.dir,
                experiment=self.experiment,
                config=self.config,
                metrics=metrics or {},
                details=details,
                curves=self.curves.as_dict(),
                summary=summary,
                finished_utc=_utc_now(),
            )
        stop_if_requested("end:results")
        self.close()
        if is_chief():
            atomic_write_json(self.dir / FINISHED, {"finished_utc": _utc_now()})
        self.phases.finished("finish")
        if echo and summary is not None:
            print("\n" + summary)
        if is_chief():
            print(
                f"\nRun finished: {self.dir}\nOpen it in TensorBoard: {tensorboard_command(self.dir)}",
                flush=True,
            )

    def write_hparams(self, metrics: dict[str, Any], step: int = 0) -> None:
        """The run as one HParams session: its flags as hyperparameters, its final metrics as scalars.

        Written to the TensorBoard run `hparams` of this run: the flags with a
        plain value (number, string, bool; not where the run is or whether it
        resumed) and each finite metric as the scalar `final/<name>`, which the
        HParams dashboard shows as a metric column. Open the experiment's
        folder (`tensorboard --logdir logs/<experiment>`) to see every run as
        a row.
        """
        import tensorflow as tf
        from tensorboard.plugins.hparams import api as hp

        values = {
            key: value
            for key, value in sorted(self.config.items())
            if isinstance(value, bool | int | float | str) and key not in NEVER_COMPARED
        }
        with self.writer("hparams").as_default():
            hp.hparams(values, trial_id=f"{self.experiment}/{self.dir.name}")
            for name, value in sorted(metrics.items()):
                if isinstance(value, int | float) and math.isfinite(value):
                    tf.summary.scalar(f"final/{name}", value, step=step)


class _ReadOnlyPhases(Phases):
    """A worker's view of the chief's phase records: it reads them (to skip what is done), writes none.

    A phase that needs every worker (training, a distributed evaluation)
    cannot be recorded as done by the chief before the others reach it, so
    a worker never skips work the chief still does.
    """

    def started(self, name: str) -> None:
        stop_if_requested(f"start:{name}")

    def finished(self, name: str, result: Any = None, seconds: float | None = None) -> None:
        stop_if_requested(f"end:{name}")


class _UnsavedCurveLog(CurveLog):
    """A worker's curves: kept in memory (its TensorBoard writers are no-ops), never saved."""

    def save(self) -> None:
        pass


def tensorboard_command(log_dir: str | os.PathLike) -> str:
    """The shell command that opens `log_dir` in TensorBoard (what a finished run prints last)."""
    return f"tensorboard --logdir {shlex.quote(str(log_dir))}"


def _utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def resumable_run_dir(
    experiment: str, logdir: str | os.PathLike = DEFAULT_LOGDIR, name: str | None = None
) -> Path | None:
    """The run `--resume` continues: the newest unfinished run, or the one called `name`.

    Returns:
        The run directory, or None when the experiment has no unfinished run.

    Raises:
        ValueError: `name` is not a plain folder name, no such run exists, or
            it is finished.
    """
    base = Path(logdir) / check_name("experiment", experiment)
    if name is not None:
        run_dir = base / check_name("run", name)
        if not (run_dir / CONFIG).exists():
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
        if (path / CONFIG).exists() and not (path / FINISHED).exists()
    ]
    # config.json is written once, when the run starts: its mtime orders the runs.
    return max(candidates, key=lambda path: (path / CONFIG).stat().st_mtime_ns, default=None)


def new_run_dir(experiment: str, logdir: str | os.PathLike = DEFAULT_LOGDIR, name: str | None = None) -> Path:
    """Creates and returns a new, empty `logdir/experiment/<run>/`.

    The default name is the UTC time to the second; a name already taken gets
    a `-2`, `-3`, ... suffix. `mkdir` without `exist_ok` makes the claim
    atomic, so two processes starting at once get two directories.
    """
    check_name("experiment", experiment)
    if name is not None:
        check_name("run", name)
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


def cluster_run_name(experiment: str, config: dict[str, Any]) -> str:
    """The run name every worker of a cluster derives alike: `--run-name`, or one from the cluster and config.

    `multiworker-<hash>`, the hash of the cluster's addresses (TF_CONFIG)
    and of the configuration's fingerprint: the same on every worker and on
    every restart of the same command, another one for another cluster or
    other flags. Never the clock: workers start at different moments.
    """
    if config.get("run_name") is not None:
        return check_name("run", config["run_name"])
    text = f"{experiment}/{cluster_id()}/{config_fingerprint(config)}"
    return f"multiworker-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


def _cluster_run_dir(experiment: str, config: dict[str, Any], logdir) -> tuple[Path, bool]:
    """(run directory, whether it continues an earlier start) for a worker of a cluster.

    The chief creates the directory; the others only compute its path. A
    run directory with a config.json is continued (a restart after
    preemption); a finished one is refused on every worker alike.
    """
    run_dir = Path(logdir) / check_name("experiment", experiment) / cluster_run_name(experiment, config)
    if (run_dir / FINISHED).exists():
        raise ValueError(
            f"Run {run_dir} finished; it is never reopened. Pick a new --run-name for a new run on this "
            f"cluster, or delete {run_dir} to reuse the name. Received: run_name={run_dir.name!r}"
        )
    continued = (run_dir / CONFIG).exists()
    if is_chief():
        run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir, continued


def changed_flags(saved: dict[str, Any], config: dict[str, Any], safe: Collection[str] = ()) -> list[str]:
    """The flags whose value differs between a run's saved config and a resumed one, as "--flag: old -> new".

    Flags in `NEVER_COMPARED` and in `safe` are left out, and so is a flag
    the run's config does not have (added to kerasdl after the run started)
    when it is off (False or None): it changes nothing the run computes.
    """
    changes = []
    for key in sorted((set(saved) | set(config)) - NEVER_COMPARED - set(safe)):
        if key not in saved and config.get(key) in (None, False):
            continue
        if saved.get(key) != config.get(key):
            changes.append(f"--{key.replace('_', '-')}: {saved.get(key)!r} -> {config.get(key)!r}")
    return changes


def start_run(
    experiment: str,
    config: dict[str, Any],
    safe_to_change: Collection[str] = (),
    multiworker_loop: bool = False,
) -> Run:
    """Seeds, creates the run directory (or reopens one with `resume`) and saves the resolved config.

    `config` is usually `vars(args)` from `experiment_parser`; its keys
    `logdir`, `run_name`, `seed`, `deterministic`, `mixed_precision` (Keras'
    global dtype policy, `kerasdl.training.distribute.set_mixed_precision`),
    `resume` and `force` are used here, and the whole dictionary (plus the command line and library
    versions) is saved to `config.json`.

    A resumed run keeps its `config.json` and gets a `resume-<n>.json` with
    the new command line. A resume whose flags differ from the run's, other
    than those in `safe_to_change` (e.g. `--epochs`, to extend a run), is
    refused with one `error:` line naming each changed flag, unless `force`
    is set; forced changes are recorded in `resume-<n>.json`. A `--resume`
    that names a finished, missing or invalid run is refused the same way.
    Both exit with status 2 before anything is written.

    On a cluster the run directory is `cluster_run_name`'s, created by the
    chief; a restart continues it (see the module docstring).

    `multiworker_loop`: the experiment trains with
    `kerasdl.training.multiworker.MultiWorkerLoop`. Without it, a
    `--strategy` that resolves to "multiworker" is refused with one error
    line: Keras' `fit` under MultiWorkerMirroredStrategy is broken upstream
    (keras#20585, tensorflow#72388), and every other experiment trains with
    `fit`.
    """
    import keras
    import tensorflow as tf

    from kerasdl.harness.cli import fail

    config = dict(config)
    strategy = config.get("strategy")
    if strategy and not multiworker_loop:
        # Not resolve_strategy_name: "auto" would list devices, and start TensorFlow's runtime, too early.
        if LEGACY_NAMES.get(strategy, strategy) == "multiworker" or (
            strategy == "auto" and is_multi_worker()
        ):
            fail(
                f"{experiment} trains with Keras' fit, which fails under MultiWorkerMirroredStrategy in this "
                f"stack (keras#20585, tensorflow#72388): run experiments.distributed, or build on "
                f"kerasdl.training.multiworker.MultiWorkerLoop. Received: strategy={strategy!r}"
                + (" with a TF_CONFIG cluster" if strategy == "auto" else "")
            )
    logdir = config.get("logdir", DEFAULT_LOGDIR)
    run_dir, resumed = None, False
    try:
        if is_multi_worker():
            run_dir, resumed = _cluster_run_dir(experiment, config, logdir)
        elif config.get("resume"):
            run_dir = resumable_run_dir(experiment, logdir, config.get("run_name"))
            resumed = run_dir is not None
            if run_dir is None:
                print(f"--resume: no unfinished run under {Path(logdir) / experiment}; starting a new run.")
        elif config.get("run_name") is not None:
            check_name("run", config["run_name"])
    except ValueError as error:
        fail(str(error))
    changes: list[str] = []
    if resumed:
        saved = json.loads((run_dir / CONFIG).read_text()).get("config", {})
        changes = changed_flags(saved, config, safe_to_change)
        if changes and not config.get("force"):
            fail(
                f"--resume of {run_dir} with other settings would continue on other data or another "
                f"model: {'; '.join(changes)}. Resume with the run's settings, start a new run, "
                "or add --force to continue anyway."
            )
    set_seeds(int(config.get("seed", 0)), bool(config.get("deterministic", False)))
    if "mixed_precision" in config:  # before the script builds its models
        policy = set_mixed_precision(bool(config["mixed_precision"]))
        if config["mixed_precision"]:
            print(f"Mixed precision: Keras dtype policy {policy}.")
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
        count = len(list(run_dir.glob("resume-*.json")))
        if is_chief():
            atomic_write_json(run_dir / f"resume-{count + 1}.json", {**resolved, "forced_changes": changes})
        print(f"Resuming run {run_dir}." + (f" Forced changes: {'; '.join(changes)}." if changes else ""))
    elif is_chief():
        atomic_write_json(run_dir / CONFIG, resolved)
    return Run(experiment=experiment, name=run_dir.name, dir=run_dir, config=config, resumed=resumed)
