"""Read-only means access times too: a scan on a ``strictatime`` mount moves no atime, file or folder."""

from __future__ import annotations

import os
import subprocess

import pytest
from harness.captures import unpack_capture
from harness.tiers import require_root

import layerlab as ll

OLD = 1_000_000_000 * 10**9  # 2001: any read under strictatime would move it to now


@pytest.fixture
def strict_root(public_tmp):
    require_root("mount", "tar")

    mnt = public_tmp / "strict"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "strictatime,mode=755", "tmpfs", str(mnt)], check=True)
    try:
        unpack_capture("overlay2", mnt)
        for path in _entries(mnt):
            st = os.lstat(path)
            os.utime(path, ns=(OLD, st.st_mtime_ns), follow_symlinks=False)
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _entries(root):
    yield str(root)
    for dirpath, dirnames, filenames in os.walk(root):  # os.walk reads folders: only before OLD is set
        for name in dirnames + filenames:
            yield os.path.join(dirpath, name)


def _atimes(paths):
    return {p: os.lstat(p).st_atime_ns for p in paths}


def test_a_full_scan_moves_no_access_time(strict_root, tmp_path):
    paths = list(_entries(strict_root))
    for p in paths:  # os.walk above listed the folders: put their atimes back
        os.utime(p, ns=(OLD, os.lstat(p).st_mtime_ns), follow_symlinks=False)
    assert set(_atimes(paths).values()) == {OLD}
    inv = ll.open_root(str(strict_root), progress=False)
    inv.save(tmp_path / "out.layerlab")
    assert len(inv.files) > 100
    # readlink moves a symlink's own atime and the kernel offers no O_NOATIME for it (touch_atime in
    # readlinkat looks at the mount and the inode, not at any open flag): symlinks are left out.
    moved = sorted(p for p, t in _atimes(paths).items() if t != OLD and not os.path.islink(p))
    assert not moved, f"{len(moved)} of {len(paths)} access times moved, e.g. {moved[:8]}"
