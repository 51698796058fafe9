"""Damaging a copy's file in one way, and putting it back; a bound on how long reading may take.

Shared by the mutation suites (data root, containerd store, snapshots)."""

from __future__ import annotations

import os
import shutil
import signal
import stat
from contextlib import contextmanager
from pathlib import Path

import pytest


def write(content: bytes):
    def mutate(path: Path):
        path.write_bytes(content)
    return mutate


def truncate(path: Path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def fifo(path: Path):
    path.unlink()
    os.mkfifo(path)


def dev_zero(path: Path):
    path.unlink()
    path.symlink_to("/dev/zero")


def directory(path: Path):
    path.unlink()
    path.mkdir()


#: The ways every suite damages a file (each suite adds its own format-specific ones).
COMMON = {
    "truncated": truncate,
    "empty": write(b""),
    "fifo": fifo,
    "dev zero": dev_zero,
    "directory": directory,
}


@contextmanager
def damaged(path: Path, mutate):
    """``path`` damaged by ``mutate`` for the block, then restored with its bytes and mode."""
    saved, mode = path.read_bytes(), path.stat().st_mode
    mutate(path)
    try:
        yield path
    finally:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        path.write_bytes(saved)
        os.chmod(path, stat.S_IMODE(mode))


class _Hang(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Hang()


@contextmanager
def bounded(seconds: int, what: str):
    """Fail the test (not hang the suite) when the block is still running after ``seconds``."""
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(seconds)
    try:
        yield
    except _Hang:
        pytest.fail(f"{what}: still reading after {seconds} s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def read_damaged_root(root: Path, path: Path, mutate, what: str, *, names: tuple[str, ...] = ()) -> None:
    """Open the data root ``root`` with ``path`` damaged by ``mutate`` and read every frame: it must
    end, within 30 s, either read (what could not be, in ``skipped``) or in a LayerlabError naming
    the file (its path, its folder, or one of ``names``)."""
    import warnings

    import layerlab as ll

    with damaged(path, mutate), bounded(30, what):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                inv = ll.open_root(str(root), progress=False)
                inv.files, inv.containers, inv.skipped
        except ll.LayerlabError as e:
            assert str(path) in str(e) or str(path.parent) in str(e) or any(n in str(e) for n in names), \
                f"the error does not name the file: {e}"
