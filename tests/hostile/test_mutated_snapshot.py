"""Every file of a snapshot damaged every way: a SnapshotError naming the file, never a traceback or a hang."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

import layerlab as ll
from layerlab.frames.inventory import FRAME_NAMES


@pytest.fixture(scope="module")
def snap(tmp_path_factory):
    return Path(ll.sample().save(tmp_path_factory.mktemp("snap") / "s.layerlab"))


def _write(content: bytes):
    return lambda p: p.write_bytes(content)


def _truncate(p: Path):
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _fifo(p: Path):
    p.unlink()
    os.mkfifo(p)


def _dev_zero(p: Path):
    p.unlink()
    p.symlink_to("/dev/zero")


def _directory(p: Path):
    p.unlink()
    p.mkdir()


MUTATIONS = {"truncated": _truncate, "empty": _write(b""), "not parquet": _write(b"PAR1 but not really"),
             "json list": _write(b"[1]"), "not utf-8": _write(b"\xff\xfe"), "fifo": _fifo, "dev zero": _dev_zero,
             "directory": _directory}


class _Hang(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Hang()


@pytest.mark.parametrize("mutation", list(MUTATIONS))
@pytest.mark.parametrize("file", ["meta.json"] + [f"{n}.parquet" for n in FRAME_NAMES])
def test_a_damaged_snapshot_file_is_a_snapshot_error_naming_it(snap, file, mutation):
    path = snap / file
    saved = path.read_bytes()
    MUTATIONS[mutation](path)
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(20)
    try:
        with pytest.raises(ll.SnapshotError) as e:
            ll.load(snap).frames()
        assert file in str(e.value)
    except _Hang:
        pytest.fail(f"{file} as {mutation}: still loading after 20 s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        path.write_bytes(saved)
