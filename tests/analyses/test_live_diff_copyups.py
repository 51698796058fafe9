"""Live tier: image diff and container copy-ups on the sample's images and containers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from layerlab.analyses import copy_ups, diff_images, diff_layers, merged_view

pytestmark = pytest.mark.live


def test_diff_child_image(sample_live):
    daemon, built, inv = sample_live
    a, b = built["roles"]["overwrite"], built["roles"]["child_image"]
    d = diff_images(inv, a, b, progress=False)
    assert set(d["status"]) == {"added"}
    added = set(d["path"])
    assert {"/opt/app/run.sh", "/opt/app/conf/a.conf", "/opt/app/cache/x.dat"} <= added
    images = inv.images.set_index("image_id")
    assert d["size_delta"].sum() == images.loc[inv.image_id(b), "size"] - images.loc[inv.image_id(a), "size"]
    layers = diff_layers(inv, a, b)
    assert (layers["in"] == "both").sum() == images.loc[inv.image_id(a), "layer_count"]
    assert (layers["in"] == "b").sum() == 1 and (layers["in"] == "a").sum() == 0


def test_diff_unrelated_images_compares_contents(sample_live):
    daemon, built, inv = sample_live
    a, b = built["roles"]["overwrite"], built["roles"]["opaque_dir"]
    d = diff_images(inv, a, b, progress=False).set_index("path")
    assert d.loc["/data/big.bin", "status"] == "removed"
    assert d.loc["/data/big.bin", "size_delta"] == -(1 << 20)
    assert d.loc["/srv/sparse.img", "status"] == "added"
    # the base's files come from the same layer in both: not listed
    assert "/bin/busybox" not in d.index
    # b is a, reversed
    r = diff_images(inv, b, a, progress=False).set_index("path")
    assert r.loc["/data/big.bin", "status"] == "added" and r.loc["/srv/sparse.img", "status"] == "removed"


def test_diff_same_content_other_layer(edge_live):
    """/h/dup.bin (child deletes it) and /etc/passwd (chown in a later layer) between edge and child."""
    daemon, refs, inv = edge_live
    d = diff_images(inv, refs["base"], refs["edge"], progress=False).set_index("path")
    row = d.loc["/etc/passwd"]
    assert row["status"] == "changed" and row["changes"] == "owner" and row["content_changed"] == False  # noqa: E712
    d2 = diff_images(inv, refs["edge"], refs["child"], progress=False).set_index("path")
    assert d2.loc["/h/dup.bin", "status"] == "removed" and d2.loc["/tree", "status"] == "removed"


def test_diff_cli_json(edge_live):
    daemon, refs, inv = edge_live
    out = subprocess.run([sys.executable, "-m", "layerlab.cli", "diff", str(daemon.data_root), refs["edge"],
                          refs["child"], "--json"],
                         capture_output=True, text=True, check=True)
    data = json.loads(out.stdout)
    assert data["a"]["image_id"] == inv.image_id(refs["edge"])
    edge_layers = int(inv.images.set_index("image_id").loc[inv.image_id(refs["edge"]), "layer_count"])
    assert len(data["shared_layers"]) == edge_layers and len(data["only_b_layers"]) == 1
    assert {p["path"] for p in data["paths"] if p["status"] == "removed"} >= {"/h/dup.bin", "/tree"}
    text = subprocess.run([sys.executable, "-m", "layerlab.cli", "diff", str(daemon.data_root), refs["edge"],
                           refs["child"]],
                          capture_output=True, text=True, check=True).stdout
    assert f"{edge_layers} shared" in text and "/h/dup.bin" in text


def test_copy_ups_of_exited_container(sample_live):
    daemon, built, inv = sample_live
    expect = built["paths"]["exited_container"]
    ups = copy_ups(inv, "ll-exited", progress=False).set_index("path")
    big = ups.loc[expect["appended"]]
    assert big["action"] == "copied_up" and big["bytes"] == (1 << 20) + 1 and big["lower_bytes"] == 1 << 20
    assert big["content_changed"] == True  # noqa: E712
    chmod = ups.loc[expect["chmod"]]
    assert chmod["action"] == "copied_up" and "mode" in chmod["changed"]
    if daemon.driver == "overlay2":  # vfs's naive diff compares, so content could not differ silently
        assert chmod["content_changed"] == False and chmod["evidence"] == "sha256"  # noqa: E712
    assert ups.loc[expect["deleted"], "action"] == "deleted" and ups.loc[expect["deleted"], "lower_bytes"] == 2600
    old, new = expect["renamed_dir"]
    assert ups.loc[old, "action"] == "deleted" and ups.loc[new, "action"] == "created"
    for p in expect["new_files"]:
        assert ups.loc[p, "action"] == "created", p
    cache = expect["opaque_dir"]
    if daemon.driver == "overlay2":
        assert ups.loc[cache, "action"] == "replaced_dir" and ups.loc[cache, "lower_bytes"] == 2 * 4096
    # the created container never ran: nothing in its read-write layer
    assert copy_ups(inv, "ll-created").empty
    assert set(copy_ups(inv)["name"]) == {"ll-exited"}
    seen = merged_view(inv, container="ll-exited").set_index("path")
    assert seen.loc[expect["appended"],
                    "layer_id"] == f"container:{inv.containers.set_index('name').loc['ll-exited', 'container_id']}"
