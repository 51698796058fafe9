"""Offline tier (the bundled sample): the bundled snapshots against the peers' figures recorded at capture time, and
(as root) a fresh scan of the raw captures against the committed snapshots."""

from __future__ import annotations

import json
import lzma

import pandas as pd
import pytest
from harness.captures import unpack_capture
from harness.tiers import require_root

import layerlab as ll
from layerlab.frames.inventory import FRAME_NAMES
from layerlab.sources.sample import DRIVERS, data_dir


def peers(driver: str) -> dict:
    with lzma.open(data_dir() / "capture" / f"{driver}.peers.json.xz") as f:
        return json.load(f)


@pytest.mark.parametrize("driver", [d for d in DRIVERS if d != "containerd"])  # containerd's peer is ctr: tests/drivers
def test_sample_sizes_equal_what_docker_reported_at_capture(driver):
    inv = ll.sample(driver)
    recorded = peers(driver)
    images = inv.images.set_index("image_id")
    for image in recorded["system_df"]["Images"]:
        row = images.loc[image["Id"]]
        assert (row["size"], row["shared_size"], row["container_count"]) == (image["Size"], image["SharedSize"],
                                                                             image["Containers"])
    rw = dict(zip(inv.containers["container_id"], inv.containers["rw_size"]))
    for c in recorded["containers"]:
        assert rw[c["Id"]] == c.get("SizeRw", 0)
    assert len(inv.files) > 100 and inv.skipped.empty


def test_sample_shows_what_users_hit():
    inv = ll.sample()
    kinds = set(inv.files["kind"])
    assert {"file", "dir", "symlink", "hardlink", "whiteout", "opaque"} <= kinds
    assert inv.files["path_raw"].notna().any(), "a non-UTF-8 name keeps its bytes"
    assert inv.history["empty_layer"].any()
    assert set(inv.layers["kind"]) == {"image", "init", "container"}
    assert inv.layers["compressed"].map(len).gt(0).any()
    assert inv.files["sha256"].notna().any(), "the sample keeps content hashes of files with twins"


@pytest.mark.parametrize("driver", DRIVERS)
def test_scan_of_the_raw_capture_equals_the_committed_snapshot(driver, tmp_path):
    require_root("tar")
    root = unpack_capture(driver, tmp_path / "root")
    # as scripts/capture_sample.py scans them: with content hashes of files that have a twin
    fresh = ll.load(ll.scan(str(root), str(tmp_path / "fresh.layerlab"), None if driver == "containerd" else driver,
                            hash=True, progress=False))
    committed = ll.sample(driver)
    for name in FRAME_NAMES:
        want = getattr(committed, name)
        if name == "files":  # snapshot format 3 stores the files rows in path order; the sample is format 1
            want = want.sort_values("path", kind="stable", ignore_index=True)
        pd.testing.assert_frame_equal(getattr(fresh, name), want, obj=f"{driver} {name}")
