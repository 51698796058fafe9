"""Read-only: a full scan changes nothing under the data root and creates nothing in it."""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest

import layerlab as ll


def state(root) -> dict:
    """Everything a reader could change: type, mode, owner, size, mtime, xattrs, content."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            xattrs = {a: os.getxattr(p, a, follow_symlinks=False) for a in os.listxattr(p, follow_symlinks=False)}
            digest = None
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            out[p] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_rdev, st.st_nlink, xattrs, digest)
    return out


@pytest.mark.live
@pytest.mark.parametrize("fixture", ["overlay2_daemon", "vfs_daemon"])
def test_scan_changes_nothing(request, fixture, tmp_path):
    daemon, _ = request.getfixturevalue(fixture)
    # A copy taken from the idle daemon, so the daemon's own bookkeeping cannot move under the test.
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", str(daemon.data_root), str(root)], check=True)
    before = state(root)
    inv = ll.open_root(str(root), progress=False)
    inv.save(tmp_path / "out.layerlab")
    assert len(inv.files) > 100
    after = state(root)
    assert set(after) == set(before), f"new or missing entries: {set(after) ^ set(before)}"
    changed = [p for p in before if before[p] != after[p]]
    assert not changed, changed[:5]
