"""Every metadata file of a real data root, damaged every way: a clear error or a skipped row, never a
traceback or a hang.

One copy of the overlay2 capture per module; each case damages one file (truncated, the wrong JSON
type, not UTF-8, empty, a FIFO, a symlink to /dev/zero, a directory, a number beyond int64),
reads the whole root (metadata, files, container sizes), and puts the file back.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import warnings
from pathlib import Path

import pytest

import layerlab as ll
from harness.tiers import require_root


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    require_root("tar")
    from layerlab.sources.sample import data_dir

    root = tmp_path_factory.mktemp("mutated") / "root"
    root.mkdir()
    subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpJf",
                    str(data_dir() / "capture/overlay2.tar.xz"), "-C", str(root)], check=True)
    return root


def _first(pattern):
    return lambda root: sorted(root.glob(pattern))[0]


def _config_with_parent(root):
    meta = root / "image/overlay2/imagedb/metadata/sha256"
    return next(p / "parent" for p in sorted(meta.iterdir()) if (p / "parent").exists())


ROLES = {
    "layerdb diff": _first("image/overlay2/layerdb/sha256/*/diff"),
    "layerdb size": _first("image/overlay2/layerdb/sha256/*/size"),
    "layerdb cache-id": _first("image/overlay2/layerdb/sha256/*/cache-id"),
    "layerdb parent": _first("image/overlay2/layerdb/sha256/*/parent"),
    "layerdb tar-split": _first("image/overlay2/layerdb/sha256/*/tar-split.json.gz"),
    "image config": _first("image/overlay2/imagedb/content/sha256/*"),
    "image parent": _config_with_parent,
    "repositories.json": _first("image/overlay2/repositories.json"),
    "container config": _first("containers/*/config.v2.json"),
    "mount-id": _first("image/overlay2/layerdb/mounts/*/mount-id"),
    "init-id": _first("image/overlay2/layerdb/mounts/*/init-id"),
    "distribution metadata": _first("image/overlay2/distribution/v2metadata-by-diffid/sha256/*"),
}


def _write(content: bytes):
    def mutate(path: Path):
        path.write_bytes(content)
    return mutate


def _truncate(path: Path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _fifo(path: Path):
    path.unlink()
    os.mkfifo(path)


def _dev_zero(path: Path):
    path.unlink()
    path.symlink_to("/dev/zero")


def _directory(path: Path):
    path.unlink()
    path.mkdir()


MUTATIONS = {
    "truncated": _truncate,
    "empty": _write(b""),
    "json list": _write(b"[1, 2]"),
    "json string": _write(b'"text"'),
    "json number": _write(b"42"),
    "not utf-8": _write(b"\xff\xfe\x00bad"),
    "beyond int64": _write(b"99999999999999999999999"),
    "fifo": _fifo,
    "dev zero": _dev_zero,
    "directory": _directory,
}


class _Hang(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Hang()


@pytest.mark.parametrize("mutation", list(MUTATIONS))
@pytest.mark.parametrize("role", list(ROLES))
def test_damaged_metadata_is_a_clear_error_or_skipped(root, role, mutation):
    path = ROLES[role](root)
    saved, mode = path.read_bytes(), path.stat().st_mode
    MUTATIONS[mutation](path)
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(30)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inv = ll.open_root(str(root), progress=False)
            inv.files, inv.containers, inv.skipped
    except ll.LayerlabError as e:
        assert str(path) in str(e) or str(path.parent) in str(e), f"the error does not name the file: {e}"
    except _Hang:
        pytest.fail(f"{role} as {mutation}: still reading after 30 s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        path.write_bytes(saved)
        os.chmod(path, stat.S_IMODE(mode))


CONFIGS = {
    "a list": b"[1, 2]",
    "a string": b'"config"',
    "history of strings": b'{"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}, "history": ["a", "b"]}',
    "history a dict": b'{"rootfs": {"type": "layers", "diff_ids": []}, "history": {"a": 1}}',
    "rootfs a string": b'{"rootfs": "layers"}',
    "diff_ids of numbers": b'{"rootfs": {"type": "layers", "diff_ids": [1, 2]}}',
    "created a number": b'{"created": 12, "rootfs": {"type": "layers", "diff_ids": []}}',
    "architecture a list": b'{"architecture": ["amd64"], "os": 7, "rootfs": {"type": "layers", "diff_ids": []}}',
}


@pytest.mark.parametrize("body", list(CONFIGS))
def test_a_config_of_the_wrong_shape_under_its_own_digest(root, body):
    """A config the digest check cannot catch (it is named by its own hash): clear error or skipped."""
    import hashlib

    raw = CONFIGS[body]
    path = root / "image/overlay2/imagedb/content/sha256" / hashlib.sha256(raw).hexdigest()
    path.write_bytes(raw)
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(30)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inv = ll.open_root(str(root), progress=False)
            inv.files, inv.history, inv.images
        assert ("sha256:" + path.name) in set(inv.skipped["id"]) or ("sha256:" + path.name) in set(inv.images["image_id"])
    except ll.LayerlabError as e:
        assert str(path) in str(e) or path.name in str(e), f"the error does not name the file: {e}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        path.unlink()
