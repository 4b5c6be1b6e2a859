"""Atomic, durable file writes: a crash mid-write never leaves a half-written artifact.

Every artifact kerasdl writes (backups, manifests, run configs, saved
models, reports) goes through this module. A write:

1. creates a temporary file beside the target, named
   `.<target name>.<writer pid>.<random>.tmp`, with `os.open(...,
   O_CREAT | O_EXCL, 0o666)`, so it gets the permissions of any file the
   process creates under its umask (0o644 under umask 022);
2. writes the data and fsyncs the file;
3. renames it over the target with `os.replace` (atomic within one file
   system, hence the temporary file in the same folder);
4. fsyncs the folder, so the rename itself survives a power cut.

A reader sees either the previous file or the complete new one. A writer
that is killed leaves its temporary file behind; `remove_stale_temporaries`
deletes such leftovers, but only those whose writer is gone (the pid in
the name no longer runs) or is this very process (a previous run that
had the same pid, as a container's pid 1 does), never the temporary file
of another live writer.

Example:

    atomic_write_json(run_dir / "config.json", {"epochs": 10})
    with atomic_path(run_dir / "model.keras", extension=".keras") as temporary:
        model.save(temporary)  # renamed into place when the block ends
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# `.<target>.<pid>.<8 hex digits>.tmp`, plus an extension for writers that insist on one (".keras").
_TEMPORARY = re.compile(r"^\.(?P<target>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp(?:\.[A-Za-z0-9]+)?$")
# Errors of fsync on a folder from file systems that cannot do it; the data is written either way.
_NO_DIRECTORY_FSYNC = {errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF}


def _create_temporary(path: Path, extension: str) -> tuple[int, Path]:
    """Creates an empty temporary file beside `path`; returns its open fd and its path."""
    while True:
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp{extension}")
        try:
            # 0o666 & ~umask, like open(path, "w"); tempfile.mkstemp would give 0o600.
            return os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temporary
        except FileExistsError:
            continue


def fsync_directory(directory: str | os.PathLike) -> None:
    """Flushes `directory`'s entries (a rename into it) to disk, where the platform allows it.

    Windows cannot open a folder, and some file systems refuse fsync on one;
    there the call does nothing.
    """
    if os.name == "nt":
        return
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except PermissionError:
        return  # a folder we may write but not list
    try:
        os.fsync(fd)
    except OSError as error:
        if error.errno not in _NO_DIRECTORY_FSYNC:
            raise
    finally:
        os.close(fd)


def _commit(temporary: Path, path: Path) -> None:
    os.replace(temporary, path)
    fsync_directory(path.parent)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, extension: str = "") -> Iterator[Path]:
    """Yields a temporary path beside `path`; renames it over `path` when the block ends.

    For writers that need a file name rather than bytes (`keras.Model.save`).
    The temporary file exists, empty, with ordinary permissions; write it in
    place (opening it with "wb" keeps its permissions). When the block
    raises, the temporary file is deleted and `path` is left as it was.

    Args:
        path: the destination file.
        extension: appended to the temporary name, for writers that check
            the extension (".keras").

    Yields:
        The temporary path to write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = _create_temporary(path, extension)
    os.close(fd)
    try:
        yield temporary
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        _commit(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Writes `data` to `path` atomically and durably (see the module docstring).

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = _create_temporary(path, "")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        _commit(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Writes UTF-8 `text` atomically; see `atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Writes `obj` as indented, key-sorted JSON atomically; see `atomic_write_bytes`."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def temporary_file_pid(name: str) -> int | None:
    """The writer's pid in a temporary file name of this module, or None for any other name.

    Example:

        temporary_file_pid(".manifest.json.4242.0a1b2c3d.tmp")  # 4242
    """
    match = _TEMPORARY.match(name)
    return int(match["pid"]) if match else None


def _process_is_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # a leftover of ours, or of an earlier process with our pid
    if os.name == "nt":
        return True  # os.kill(pid, 0) would terminate the process on Windows: assume it is alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by another user
    return True


def stale_temporary_files(directory: str | os.PathLike) -> list[Path]:
    """The temporary files in `directory` whose writer has died or is this process.

    A temporary file carrying the pid of another live process belongs to a
    write in progress and is not listed. A file of this process's own pid
    is a leftover of an earlier process that had the same pid, or of a
    write this process abandoned, so call this only where no other thread
    of this process is writing into `directory`.

    Args:
        directory: the folder to look in (not its subfolders).

    Returns:
        The stale temporary files, sorted by name.
    """
    stale = []
    for path in Path(directory).iterdir():
        pid = temporary_file_pid(path.name)
        if pid is not None and path.is_file() and not _process_is_alive(pid):
            stale.append(path)
    return sorted(stale)


def remove_stale_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Deletes `stale_temporary_files(directory)`; returns the paths deleted."""
    removed = []
    for path in stale_temporary_files(directory):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed
