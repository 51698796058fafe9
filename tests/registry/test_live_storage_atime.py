"""The storage audit moves no access time: checked on a copy on a tmpfs mounted ``strictatime``."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from harness.tiers import require_root
from layerlab.sources.registry.storage import audit_storage

pytestmark = pytest.mark.live
OLD = 1_000_000_000 * 10**9


def test_the_audit_moves_no_access_time(live, tmp_path):
    require_root("mount")
    reg, _ = live
    mnt = tmp_path / "strict"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "strictatime", "tmpfs", str(mnt)], check=True)
    try:
        shutil.copytree(reg.storage, mnt / "storage", symlinks=True)
        paths = [str(mnt / "storage")]
        for dirpath, dirnames, filenames in os.walk(mnt / "storage"):
            paths += [os.path.join(dirpath, n) for n in dirnames + filenames]
        for p in paths:
            os.utime(p, ns=(OLD, os.lstat(p).st_mtime_ns), follow_symlinks=False)
        audit = audit_storage(mnt / "storage")
        assert len(audit.blobs) > 5
        moved = [p for p in paths if os.lstat(p).st_atime_ns != OLD and not os.path.islink(p)]
        assert not moved, f"{len(moved)} of {len(paths)} access times moved, e.g. {moved[:5]}"
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
