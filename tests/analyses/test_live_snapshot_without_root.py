"""Analyses of a snapshot after its data root is gone: everything works, hashing falls back to sizes."""

from __future__ import annotations

import shutil
import warnings

import pytest

import layerlab as ll
from layerlab import analyses
from harness.daemon import Daemon, dockerd_missing
from harness.images import BASE, busybox_rootfs
from harness.tiers import require

pytestmark = pytest.mark.live


def test_snapshot_after_root_is_removed(tmp_path):
    require(dockerd_missing())
    work = tmp_path / "d"
    with Daemon(work) as daemon:
        daemon.docker("import", str(busybox_rootfs(tmp_path / "rootfs")), BASE)
        ctx = tmp_path / "ctx"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(f"FROM {BASE}\nRUN head -c 50000 /bin/busybox > /a && cp /a /b\nRUN chmod 600 "
                                        "/a\nRUN rm /b\n")
        daemon.docker("build", "-q", "-t", "snap:1", str(ctx))
        live = ll.open_root(str(daemon.data_root), progress=False)
        live_waste = analyses.waste(live, "snap:1", progress=False)
        live_eff = analyses.efficiency(live)
        snap_path = live.save(tmp_path / "host.layerlab")
    shutil.rmtree(daemon.data_root)
    snap = ll.load(snap_path)
    eff = analyses.efficiency(snap)
    cols = ["image_id", "dive_efficiency", "dive_wasted_bytes", "reclaimable_bytes", "base_image", "base_size"]
    assert eff[cols].equals(live_eff[cols])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        w = analyses.waste(snap, "snap:1", progress=False)
        dedup = analyses.content_dedup(snap)
    assert any("size" in str(c.message) for c in caught)
    # same bytes and rows; the chmod-only copy is only a same-size candidate without the root
    assert w["bytes"].sum() == live_waste["bytes"].sum()
    a = w[w["path"] == "/a"].iloc[0]
    assert live_waste.loc[live_waste["path"] == "/a", "reason"].iloc[0] == "metadata_only"
    assert a["reason"] == "overwritten" and a["evidence"] == "size"
    assert (dedup["evidence"] == "size").all() and dedup["sha256"].isna().all()
    with pytest.raises(ll.LayerlabError, match="cannot hash"):
        analyses.content_dedup(snap, hash=True)
    assert len(analyses.merged_view(snap, "snap:1")) > 0
