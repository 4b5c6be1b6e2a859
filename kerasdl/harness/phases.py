"""The phases of a run, recorded in its directory, so a resumed run does each finished one no more.

A run is a sequence of phases: training, one phase per variant or trial,
evaluation, diagnostics, and finally "finished". Each phase leaves
`<run>/phases/<name>.json`:

    {"name": "label_issues", "state": "started" | "done", "started_utc": ...,
     "seconds": 12.3, "config": "<fingerprint>", "result": <JSON>}

`once(name, compute)` is the one mechanism that skips finished work: on a
resumed run it returns the saved result of a phase that is "done" under the
same configuration instead of computing it again; a phase that was started
but not done (the run stopped inside it) runs again from its beginning. A
phase done under another configuration (a flag declared safe to change, such
as a longer `--epochs`, or a change forced with `--force`) runs again too.

Each phase writes its own file (atomically), so phases finished by several
processes at once (a parallel search) never tear one shared file.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from kerasdl.harness.faults import stop_if_requested
from kerasdl.training.io import atomic_write_json

PHASES_DIR = "phases"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")
T = TypeVar("T")


def _utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


class Phases:
    """The phase records of one run directory.

    Args:
        run_dir: the run directory.
        fingerprint: identifies the configuration; a result saved under
            another fingerprint is not reused.
        reuse: whether saved results may be reused (False for a new run,
            whose directory is empty anyway).
    """

    def __init__(self, run_dir: str | os.PathLike, fingerprint: str, reuse: bool = True):
        self.directory = Path(run_dir) / PHASES_DIR
        self.fingerprint = fingerprint
        self.reuse = reuse

    def _path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise ValueError(
                "Invalid phase name: use letters, digits, '.', '_', '-', and '/' between parts. "
                f"Received: name={name!r}"
            )
        return self.directory / f"{name}.json"

    def record(self, name: str) -> dict[str, Any] | None:
        """The saved record of phase `name`, or None."""
        path = self._path(name)
        return json.loads(path.read_text()) if path.exists() else None

    def seconds(self, name: str) -> float | None:
        """How long phase `name` took when it last finished (this session's run of it); None if it has not."""
        return (self.record(name) or {}).get("seconds")

    def done(self, name: str) -> bool:
        """True when `name` finished under this configuration and its result may be reused."""
        record = self.record(name) if self.reuse else None
        return bool(record) and record["state"] == "done" and record["config"] == self.fingerprint

    def result(self, name: str) -> Any:
        """The saved result of a phase for which `done(name)` is True."""
        if not self.done(name):
            raise KeyError(f"Phase {name!r} has no reusable result in {self.directory}")
        return self.record(name)["result"]

    def started(self, name: str) -> None:
        """Records that `name` began, then stops here if a test asked for it (`start:<name>`)."""
        atomic_write_json(
            self._path(name),
            {"name": name, "state": "started", "started_utc": _utc_now(), "config": self.fingerprint},
        )
        stop_if_requested(f"start:{name}")

    def finished(self, name: str, result: Any = None, seconds: float | None = None) -> None:
        """Saves `result` (JSON) as the outcome of `name`, then stops here if asked (`end:<name>`)."""
        record = self.record(name) or {}
        atomic_write_json(
            self._path(name),
            {
                "name": name,
                "state": "done",
                "started_utc": record.get("started_utc", _utc_now()),
                "finished_utc": _utc_now(),
                "seconds": seconds,
                "config": self.fingerprint,
                "result": result,
            },
        )
        stop_if_requested(f"end:{name}")

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Records the start and the end of a phase whose work is not skipped on resume (training).

        Training resumes from its own backups, so it always runs; recording
        it as a phase keeps the run's timeline complete.
        """
        self.started(name)
        start = time.perf_counter()
        yield
        self.finished(name, seconds=time.perf_counter() - start)

    def once(self, name: str, compute: Callable[..., T], *args, **kwargs) -> T:
        """`compute(*args, **kwargs)` the first time; its saved JSON result on a resumed run.

        The result must be JSON-serializable (convert arrays with
        `.tolist()`); what `once` returns is always what was saved, so a
        fresh run and a resumed one see the same types.
        """
        if self.done(name):
            return self.result(name)
        self.started(name)
        start = time.perf_counter()
        result = json.loads(json.dumps(compute(*args, **kwargs)))
        self.finished(name, result, seconds=time.perf_counter() - start)
        return result

    def once_each(
        self,
        items: Mapping[str, Any],
        compute_all: Callable[[list[tuple[str, Any]]], Iterable[tuple[str, Any]]],
    ) -> dict[str, Any]:
        """`once` for many phases that may run in parallel (trials of a search, in a process pool).

        Args:
            items: phase name -> the argument its computation needs.
            compute_all: given the (name, argument) pairs still to do, yields
                (name, result) pairs in any order as each completes (e.g.
                from `concurrent.futures.as_completed`); each result is
                saved as it arrives.

        Returns:
            Phase name -> result, for every item, in the order of `items`.
        """
        results = {name: self.result(name) for name in items if self.done(name)}
        pending = [(name, argument) for name, argument in items.items() if name not in results]
        for name, _ in pending:
            self.started(name)
        for name, result in compute_all(pending):
            result = json.loads(json.dumps(result))
            self.finished(name, result)
            results[name] = result
        return {name: results[name] for name in items}

    def records(self) -> list[dict[str, Any]]:
        """Every phase record of the run, in the order the phases started."""
        records = [json.loads(path.read_text()) for path in self.directory.rglob("*.json")]
        return sorted(records, key=lambda record: (record.get("started_utc", ""), record["name"]))
