"""Read-only: a full scan changes nothing under the data root and creates nothing in it."""

from __future__ import annotations

import subprocess

import pytest

from readonly_support import tree_state
import layerlab as ll


@pytest.mark.live
@pytest.mark.parametrize("fixture", ["overlay2_daemon", "vfs_daemon"])
def test_scan_changes_nothing(request, fixture, tmp_path):
    daemon, _ = request.getfixturevalue(fixture)
    # A copy taken from the idle daemon, so the daemon's own bookkeeping cannot move under the test.
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", str(daemon.data_root), str(root)], check=True)
    before = tree_state(root)
    inv = ll.open_root(str(root), progress=False)
    inv.save(tmp_path / "out.layerlab")
    assert len(inv.files) > 100
    after = tree_state(root)
    assert set(after) == set(before), f"new or missing entries: {set(after) ^ set(before)}"
    changed = [p for p in before if before[p] != after[p]]
    assert not changed, changed[:5]
