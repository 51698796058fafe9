"""Live: measure the workloads on real drivers now (scripts/measure_drivers.py) and check the model against them."""

from __future__ import annotations

import pandas as pd
import pytest

from layerlab.analyses.drivers.cow_model import BLOCK, IMAGE, WORKLOADS, simulate_writes
from layerlab.analyses.drivers.measurements import write_costs
from harness.tiers import require, require_root

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    require_root("dockerd", "containerd", "ctr", "mkfs.btrfs", "losetup")
    from harness.btrfs import btrfs_missing

    require(btrfs_missing())
    import measure_drivers as md

    tmp = tmp_path_factory.mktemp("measure")
    archive = tmp / "app.tar"
    rows = md.measure_dockerd("overlay2", tmp, archive)
    rows += md.measure_dockerd("btrfs", tmp, None)
    rows += md.measure_containerd(tmp, archive)
    rows += md.measure_aufs(tmp, archive)
    return pd.DataFrame(rows, columns=md.COLUMNS)


def test_model_matches_a_fresh_measurement(measured):
    costs = write_costs(measured)
    assert set(costs["driver"]) == {"overlay2", "btrfs", "containerd", "aufs"}
    for r in costs.itertuples(index=False):
        pred = simulate_writes("sample", IMAGE, r.workload, driver=r.driver)
        pred = pred[pred["step"] > 0].sum(numeric_only=True)
        label = f"{r.driver}/{r.workload}"
        assert pred["apparent_bytes"] == r.apparent_bytes, label
        assert pred["entries"] == r.entries, label
        slack = BLOCK * len(WORKLOADS[r.workload])
        assert abs(pred["exclusive_bytes"] - r.exclusive_bytes) <= slack, label


def test_fresh_measurement_has_the_peers_numbers(measured):
    o = measured[measured["driver"] == "overlay2"]
    assert (o["apparent_bytes"] == o["peer_size"]).all()  # layerdb size and docker ps -s
    c = measured[(measured["driver"] == "containerd") & (measured["object"] == "container")]
    # ctr snapshots usage of an active snapshot is containerd's du of fs: blocks (to ctr's rounding)
    assert ((c["peer_size"] - c["disk_bytes"]).abs() <= c["disk_bytes"] * 0.05 + 512).all()
    b = measured[measured["driver"] == "btrfs"]
    assert b["exclusive_bytes"].notna().all() and b["qgroup_exclusive_bytes"].notna().all()
