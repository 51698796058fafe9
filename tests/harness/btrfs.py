"""A throw-away btrfs filesystem on a loop device, for running dockerd with ``--storage-driver=btrfs``.

    with BtrfsMount(tmp) as mnt:
        with Daemon(tmp / "d", driver="btrfs", data_root=mnt.path / "docker") as d: ...
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from layerlab.errors import LayerlabError
from .daemon import mount_points
from .tiers import missing

#: mkfs.btrfs refuses images smaller than about 114 MiB; the file is sparse, so this costs little.
DEFAULT_SIZE = 512 << 20


class BtrfsError(LayerlabError, RuntimeError):
    """The loop-mounted btrfs could not be created or removed."""


def _run(*cmd: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BtrfsError(f"`{' '.join(cmd)}` failed with exit {proc.returncode}: {proc.stderr.strip()}")
    return proc


class BtrfsMount:
    """Create a sparse image file in ``workdir``, mkfs.btrfs it and loop-mount it at ``.path``.

    Leaving the ``with`` block (or ``close()``) unmounts it, detaches the loop device and
    deletes the image. Anything still mounted below it (a dockerd left behind) is unmounted first.
    """

    def __init__(self, workdir, size: int = DEFAULT_SIZE):
        self.workdir = Path(workdir)
        self.size = size
        self.image = self.workdir / "btrfs.img"
        self.path = self.workdir / "mnt"
        self.loop: str | None = None

    def __enter__(self) -> "BtrfsMount":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> "BtrfsMount":
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.image, "wb") as f:
            f.truncate(self.size)
        try:
            _run("mkfs.btrfs", "-q", "-f", str(self.image))
            self.loop = _run("losetup", "--find", "--show", str(self.image)).stdout.strip()
            self.path.mkdir(exist_ok=True)
            _run("mount", "-t", "btrfs", self.loop, str(self.path))
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        if os.path.ismount(self.path):
            for point in sorted(_mounts_under(self.path), key=lambda p: p.count("/"), reverse=True):
                subprocess.run(["umount", "-l", point], capture_output=True)
            for attempt in range(20):
                if subprocess.run(["umount", str(self.path)], capture_output=True).returncode == 0:
                    break
                time.sleep(0.25)
            else:
                _run("umount", "-l", str(self.path))
        if self.loop:
            subprocess.run(["losetup", "-d", self.loop], capture_output=True)
            self.loop = None
        self.image.unlink(missing_ok=True)
        if self.path.is_dir() and not os.path.ismount(self.path):
            shutil.rmtree(self.path, ignore_errors=True)


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root.resolve()) + "/"
    return [p for p in mount_points() if p.startswith(prefix)]


@functools.lru_cache(maxsize=1)
def btrfs_missing() -> str | None:
    """Why a loop-mounted btrfs cannot be used here, or None. Really mounts one to find out."""
    reason = missing(root=True, programs=("mkfs.btrfs", "btrfs", "losetup", "mount", "umount"))
    if reason:
        return reason
    if not Path("/dev/loop-control").exists():
        return "needs loop devices (/dev/loop-control is missing; run with --privileged or load the loop module)"
    with tempfile.TemporaryDirectory(prefix="layerlab-btrfs-check-") as tmp:
        try:
            with BtrfsMount(tmp, size=DEFAULT_SIZE) as mnt:
                probe = mnt.path / "probe"
                probe.write_text("ok")
                if probe.read_text() != "ok":
                    return "a loop-mounted btrfs did not keep a written file"
        except (BtrfsError, OSError) as exc:
            return f"cannot loop-mount a btrfs image (is the btrfs module available?): {exc}"
    return None
