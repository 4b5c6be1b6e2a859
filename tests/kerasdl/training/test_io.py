"""Atomic, durable writes and the cleanup of stale temporary files (kerasdl/training/io.py)."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kerasdl.training import io as kerasdl_io
from kerasdl.training.io import (
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    fsync_directory,
    remove_stale_temporaries,
    stale_temporary_files,
    temporary_file_pid,
)


def write_with_atomic_path(path, data: bytes):
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return path


WRITERS = {
    "bytes": lambda path: atomic_write_bytes(path, b"new"),
    "text": lambda path: atomic_write_text(path, "new"),
    "json": lambda path: atomic_write_json(path, {"new": 1}),
    "atomic_path": lambda path: write_with_atomic_path(path, b"new"),
}


@contextlib.contextmanager
def umask(mask: int):
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


@contextlib.contextmanager
def live_process():
    """The pid of another process that runs until the block ends."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield process.pid
    finally:
        process.kill()
        process.wait()


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def temporary_name(target: str, pid: int) -> str:
    return f".{target}.{pid}.0123abcd.tmp"


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
class TestPermissions:
    @pytest.mark.parametrize("writer", WRITERS)
    @pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
    def test_the_file_gets_the_mode_of_an_ordinary_file_under_the_umask(self, tmp_path, writer, mask, mode):
        with umask(mask):
            path = WRITERS[writer](tmp_path / "artifact")
        assert stat.S_IMODE(path.stat().st_mode) == mode

    def test_replacing_a_file_gives_the_umask_mode_too(self, tmp_path):
        path = tmp_path / "artifact"
        path.write_bytes(b"old")
        path.chmod(0o600)
        with umask(0o022):
            atomic_write_bytes(path, b"new")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644 and path.read_bytes() == b"new"


class TestAtomicity:
    @pytest.mark.parametrize("writer", WRITERS)
    def test_no_temporary_file_is_left_after_a_write(self, tmp_path, writer):
        path = WRITERS[writer](tmp_path / "sub" / "artifact.json")
        assert [p.name for p in path.parent.iterdir()] == ["artifact.json"]

    @pytest.mark.parametrize("writer", WRITERS)
    def test_a_failed_rename_keeps_the_previous_file_and_leaves_no_temporary(
        self, tmp_path, monkeypatch, writer
    ):
        path = tmp_path / "artifact"
        path.write_bytes(b"old")

        def broken_replace(source, target):
            assert Path(source).exists()  # there was a temporary file to leave behind
            raise OSError("disk full")

        monkeypatch.setattr(kerasdl_io.os, "replace", broken_replace)
        with pytest.raises(OSError, match="disk full"):
            WRITERS[writer](path)
        assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["artifact"]

    def test_an_error_inside_atomic_path_keeps_the_previous_file_and_leaves_no_temporary(self, tmp_path):
        path = tmp_path / "model.keras"
        path.write_bytes(b"old")
        with pytest.raises(RuntimeError, match="killed"), atomic_path(path, extension=".keras") as temporary:
            assert temporary.exists() and temporary.name.endswith(".tmp.keras")
            temporary.write_bytes(b"half")
            raise RuntimeError("killed")
        assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["model.keras"]

    @pytest.mark.parametrize("writer", WRITERS)
    def test_the_temporary_name_carries_this_process_id(self, tmp_path, monkeypatch, writer):
        sources = []
        real_replace = os.replace

        def recording_replace(source, target):
            sources.append(Path(source))
            real_replace(source, target)

        monkeypatch.setattr(kerasdl_io.os, "replace", recording_replace)
        WRITERS[writer](tmp_path / "artifact.json")
        (source,) = sources
        assert source.parent == tmp_path
        assert source.name.startswith(f".artifact.json.{os.getpid()}.")
        assert temporary_file_pid(source.name) == os.getpid()


class TestDurability:
    @pytest.mark.skipif(os.name == "nt", reason="Windows cannot open a folder")
    @pytest.mark.parametrize("writer", WRITERS)
    def test_the_file_then_the_rename_then_the_folder_are_flushed(self, tmp_path, monkeypatch, writer):
        path = tmp_path / "artifact"
        path.write_bytes(b"old")
        events = []
        real_fsync, real_replace = os.fsync, os.replace

        def recording_fsync(fd):
            status = os.fstat(fd)
            if stat.S_ISDIR(status.st_mode):
                events.append(("fsync folder", status.st_ino, path.read_bytes()))
            else:
                events.append(("fsync file", status.st_size))
            real_fsync(fd)

        def recording_replace(source, target):
            events.append(("replace",))
            real_replace(source, target)

        monkeypatch.setattr(kerasdl_io.os, "fsync", recording_fsync)
        monkeypatch.setattr(kerasdl_io.os, "replace", recording_replace)
        WRITERS[writer](path)
        written = path.read_bytes()
        assert written != b"old"
        assert events == [
            ("fsync file", len(written)),
            ("replace",),
            ("fsync folder", tmp_path.stat().st_ino, written),
        ]

    @pytest.mark.skipif(os.name == "nt", reason="Windows cannot open a folder")
    def test_a_file_system_that_cannot_fsync_a_folder_is_tolerated(self, tmp_path, monkeypatch):
        def refusing_fsync(fd):
            raise OSError(errno.EINVAL, "Invalid argument")

        monkeypatch.setattr(kerasdl_io.os, "fsync", refusing_fsync)
        fsync_directory(tmp_path)  # no error

    @pytest.mark.skipif(os.name == "nt", reason="Windows cannot open a folder")
    def test_a_real_error_flushing_the_folder_is_raised(self, tmp_path, monkeypatch):
        def failing_fsync(fd):
            raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr(kerasdl_io.os, "fsync", failing_fsync)
        with pytest.raises(OSError, match="Input/output error"):
            fsync_directory(tmp_path)


class TestStaleTemporaries:
    def test_temporary_file_pid(self):
        assert temporary_file_pid(".manifest.json.4242.0a1b2c3d.tmp") == 4242
        assert temporary_file_pid(".model.keras.17.0a1b2c3d.tmp.keras") == 17
        for other in ["manifest.json", ".manifest.json.tmp", ".x.abc.0a1b2c3d.tmp", "a.4242.0a1b2c3d.tmp"]:
            assert temporary_file_pid(other) is None, other

    @pytest.mark.skipif(os.name == "nt", reason="liveness is checked with os.kill(pid, 0) on POSIX only")
    def test_keeps_a_live_writers_file_and_removes_dead_and_own_leftovers(self, tmp_path):
        own = tmp_path / temporary_name("own.json", os.getpid())
        dead = tmp_path / temporary_name("dead.json", dead_pid())
        unrelated = [tmp_path / "data.npz", tmp_path / ".hidden.tmp", tmp_path / ".x.12.nothex.tmp"]
        with live_process() as pid:
            live = tmp_path / temporary_name("live.json", pid)
            for path in [own, dead, live, *unrelated]:
                path.write_bytes(b"partial")
            assert stale_temporary_files(tmp_path) == sorted([dead, own])
            assert sorted(remove_stale_temporaries(tmp_path)) == sorted([dead, own])
            assert sorted(tmp_path.iterdir()) == sorted([live, *unrelated])

    def test_a_file_removed_meanwhile_is_not_an_error(self, tmp_path, monkeypatch):
        own = tmp_path / temporary_name("own.json", os.getpid())
        own.write_bytes(b"partial")
        monkeypatch.setattr(kerasdl_io, "stale_temporary_files", lambda directory: [own, own])
        assert remove_stale_temporaries(tmp_path) == [own]
