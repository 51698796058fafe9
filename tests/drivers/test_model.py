"""simulate_writes against the measured runs in data/drivers/ (real daemons, see scripts/measure_drivers.py)."""

from __future__ import annotations

import pytest

import layerlab as ll
from layerlab.analyses.drivers.cow_model import BLOCK, IMAGE, MODELS, WORKLOADS, Write
from layerlab.analyses.drivers.measurements import compare_model, load_measurements, measurements_meta, write_costs
from layerlab.errors import LayerlabError

MEASURED = load_measurements()
COMPARED = compare_model("sample", MEASURED)


def test_every_driver_and_workload_was_measured():
    assert set(MEASURED["driver"]) == {"overlay2", "vfs", "btrfs", "containerd", "aufs"}
    for driver, g in MEASURED[MEASURED["object"] == "container"].groupby("driver"):
        assert set(g["workload"]) == set(WORKLOADS), driver
    # aufs is rebuilt from layer tars, not measured, and the data says so.
    assert not MEASURED.loc[MEASURED["driver"] == "aufs", "measured"].any()
    assert MEASURED.loc[MEASURED["driver"] != "aufs", "measured"].all()
    assert "aufs" in measurements_meta()["reconstructed"]


@pytest.mark.parametrize("row", COMPARED.to_dict("records"), ids=lambda r: f"{r['driver']}-{r['workload']}")
def test_model_predicts_measured_write_cost(row):
    # Apparent bytes and entries are exact; blocks within one block per write (allocation details).
    assert row["apparent_bytes_model"] == row["apparent_bytes_measured"]
    assert row["entries_model"] == row["entries_measured"]
    slack = BLOCK * len(WORKLOADS[row["workload"]])
    assert abs(row["disk_bytes_model"] - row["disk_bytes_measured"]) <= slack
    assert abs(row["exclusive_bytes_model"] - row["exclusive_bytes_measured"]) <= slack


def test_driver_behaviours_show_in_the_measurements():
    costs = write_costs(MEASURED).set_index(["driver", "workload"])
    # copy-up: appending one byte or changing the mode copies the whole 1 MiB file on overlay and aufs
    for d in ("overlay2", "containerd", "aufs"):
        assert costs.loc[(d, "append"), "disk_bytes"] > 1 << 20
        assert costs.loc[(d, "chmod"), "disk_bytes"] >= 1 << 20
    # block-level copy-on-write: btrfs owns only the block written, a chmod costs no data
    assert costs.loc[("btrfs", "append"), "exclusive_bytes"] == BLOCK
    assert costs.loc[("btrfs", "chmod"), "exclusive_bytes"] == 0
    # vfs: a deletion frees blocks, but its container layer is a full copy of the image
    assert costs.loc[("vfs", "delete"), "disk_bytes"] < 0
    layers = MEASURED[(MEASURED["object"] == "container") & (MEASURED["workload"] == "noop")].set_index("driver")
    image_apparent = ll.sample().images.set_index("image_id").loc[ll.sample().image_id(IMAGE), "size"]
    assert layers.loc["vfs", "apparent_bytes"] >= image_apparent * 0.5
    assert layers.loc["overlay2", "apparent_bytes"] == 0


def test_dockerd_sizes_agree_with_layerdb():
    img = MEASURED[(MEASURED["object"] == "image_layer") & MEASURED["driver"].isin(["overlay2"])]
    assert (img["apparent_bytes"] == img["peer_size"]).all()
    cont = MEASURED[(MEASURED["object"] == "container") & (MEASURED["driver"] == "overlay2")]
    assert (cont["apparent_bytes"] == cont["peer_size"]).all()  # docker ps -s SizeRw


def test_btrfs_image_layers_share_their_parent():
    b = MEASURED[(MEASURED["driver"] == "btrfs") & (MEASURED["object"] == "image_layer")].sort_values("position")
    # every layer above the base is a snapshot: most of its data is shared, not exclusive
    above = b[b["position"] > 0]
    assert (above["shared_bytes"] >= b.iloc[0]["exclusive_bytes"] + b.iloc[0]["shared_bytes"] - BLOCK * 8).all()


def test_simulate_writes_rows_and_errors():
    df = ll.simulate_writes("sample", IMAGE,
                            [("append", "/data/big.bin", 10), Write("delete", "/opt/app/logs/old.log")],
                            driver=["overlay2", "vfs", "btrfs", "containerd"])
    assert list(df.groupby("driver").size()) == [3, 3, 3, 3]
    o = df[df["driver"] == "overlay2"].set_index("step")
    assert o.loc[1, "apparent_bytes"] == (1 << 20) + 10
    assert o.loc[2, "op"] == "delete" and o.loc[2, "apparent_bytes"] == 0
    assert set(MODELS) >= {"overlay2", "overlayfs", "aufs", "vfs", "btrfs", "zfs"}
    with pytest.raises(LayerlabError, match="no model for driver"):
        ll.simulate_writes("sample", IMAGE, "append", driver="devicemapper")
    with pytest.raises(LayerlabError, match="no such path"):
        ll.simulate_writes("sample", IMAGE, [("chmod", "/nope", 0o600)])
    with pytest.raises(LayerlabError, match="unknown workload"):
        ll.simulate_writes("sample", IMAGE, "nope")
