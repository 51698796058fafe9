"""Live tier: content-level dedup finds the same duplicate groups as jdupes on the layer directories."""

from __future__ import annotations

import os
import subprocess

import pytest

from layerlab.analyses import content_dedup
from layerlab.analyses.hashing import content_dirs
from harness.tiers import missing, require

pytestmark = pytest.mark.live


def jdupes_groups(dirs: list[bytes]) -> set[frozenset[bytes]]:
    require(missing(programs=("jdupes",)))
    out = subprocess.run(["jdupes", "-r", "-q", *dirs], capture_output=True, check=True).stdout
    return {frozenset(block.split(b"\n")) for block in out.strip(b"\n").split(b"\n\n") if block}


def our_groups(inv, dedup) -> set[frozenset[bytes]]:
    dirs = content_dirs(inv)
    groups: dict[int, set[bytes]] = {}
    raw = dedup["path_raw"] if "path_raw" in dedup.columns else [None] * len(dedup)
    for g, lid, p, r in zip(dedup["group"], dedup["layer_id"], dedup["path"], raw):
        groups.setdefault(g, set()).add(dirs[lid] + (r if isinstance(r, bytes) else os.fsencode(p)))
    return {frozenset(v) for v in groups.values()}


def test_same_groups_as_jdupes(overlay2_daemon):
    import layerlab as ll

    daemon, built = overlay2_daemon
    inv = ll.open_root(str(daemon.data_root), progress=False)
    dedup = content_dedup(inv, progress=False)
    assert (dedup["evidence"] == "sha256").all() and len(dedup)
    image_layers = inv.layers[inv.layers["kind"] == "image"]["layer_id"]
    dirs = [content_dirs(inv)[lid] for lid in image_layers if lid in content_dirs(inv)]
    # Compare by inode: layerlab lists each hard-linked inode once (size on its first link).
    inodes = lambda groups: {frozenset(os.stat(p).st_ino for p in g) for g in groups}  # noqa: E731
    theirs = {g for g in inodes(jdupes_groups(dirs)) if len(g) > 1}
    assert inodes(our_groups(inv, dedup)) == theirs
    # the big file is stored twice (overwrite, then chmod-only copy): content dedup saves one copy
    big = dedup[dedup["path"] == built["paths"]["chmod_only"]]
    assert big["copies"].iloc[0] == 2 and big["reclaimable"].sum() == 1 << 20
    saved = dedup.groupby("group").apply(lambda g: (g["copies"].iloc[0] - 1) * g["size"].iloc[0]).sum()
    assert dedup["reclaimable"].sum() == saved


def test_c_first_pass_equals_python_first_pass(overlay2_daemon, monkeypatch):
    """The C reader (layerlab/analyses/_firstblocks.c) and the Python reads find the same twins."""
    import layerlab as ll
    from layerlab.analyses import hashing

    require(None if hashing._firstblocks is not None else "the C reader was not built (no compiler at install time?)")
    daemon, _ = overlay2_daemon
    with_c = content_dedup(ll.open_root(str(daemon.data_root), progress=False), progress=False)
    monkeypatch.setattr(hashing, "_firstblocks", None)
    without = content_dedup(ll.open_root(str(daemon.data_root), progress=False), progress=False)
    assert len(with_c) > 0
    assert with_c.equals(without)
