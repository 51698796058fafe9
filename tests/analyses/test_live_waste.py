"""Live tier: waste reasons, reclaimable bytes, base images and summary fields on real layers."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from layerlab.analyses import base_images, efficiency, merged_view, waste
from layerlab.analyses.stacking import chain_files

pytestmark = pytest.mark.live

MIB = 1 << 20


def _by_path(w):
    return {(r.path, r.position): r for r in w.itertuples(index=False)}


def test_reclaimable_is_stored_minus_shown(sample_live):
    """reclaimable_bytes = bytes the layers store - bytes the final filesystem shows (each inode once)."""
    daemon, built, inv = sample_live
    eff = efficiency(inv).set_index("image_id")
    for image_id in eff.index:
        files = chain_files(inv, inv.chain(image_id))
        stored = int(files.loc[files["kind"] == "file", "size"].sum())
        shown = int(merged_view(inv, image_id)["size"].sum())
        assert eff.loc[image_id, "reclaimable_bytes"] == stored - shown
        w = waste(inv, image_id, progress=False)
        assert w.loc[w["reclaimable"], "bytes"].sum() == eff.loc[image_id, "reclaimable_bytes"]


def test_bloat_reasons(sample_live):
    daemon, built, inv = sample_live
    w = waste(inv, built["roles"]["overwrite"], progress=False)
    rows = _by_path(w)
    big = sorted((r for r in w.itertuples() if r.path == built["paths"]["overwrite"]), key=lambda r: r.position)
    assert [r.reason for r in big] == ["overwritten", "metadata_only"]  # new content, then chmod only
    assert big[0].bytes == big[1].bytes == MIB
    assert big[1].evidence == "sha256" and "mode" in big[1].changed and "content" not in big[1].changed
    assert "content" in big[0].changed
    scratch = [r for (p, _), r in rows.items() if p == built["paths"]["delete"]]
    assert [r.reason for r in scratch] == ["deleted"] and scratch[0].bytes == 256 << 10
    assert efficiency(inv, [built["roles"]["overwrite"]]).iloc[0]["reclaimable_bytes"] == 2 * MIB + (256 << 10)


def test_tree_opaque_and_deleted_dirs(sample_live):
    daemon, built, inv = sample_live
    w = waste(inv, built["roles"]["opaque_dir"], progress=False)
    deleted = {r.path for r in w.itertuples() if r.reason == "deleted"}
    # the opaque /srv/cache hides the lower children; the whiteout of /srv/old its whole subtree
    assert {"/srv/cache/a.txt", "/srv/cache/b.txt", "/srv/cache/sub/c.txt", "/srv/old/x.txt",
            "/srv/old/deep/y.txt"} == deleted
    assert "/srv/cache/fresh.txt" in set(merged_view(inv, built["roles"]["opaque_dir"])["path"])


def test_edge_hard_links_count_once(edge_live):
    daemon, refs, inv = edge_live
    w = waste(inv, refs["edge"], progress=False)
    got = sorted((r.path, r.reason) for r in w.itertuples())
    assert got == sorted([
        ("/h/a", "metadata_only"),  # `ln` made overlay copy /h/a up unchanged
        ("/tree/sub/copy.bin", "deleted"),  # hidden by the file that replaced its directory
        ("/tree/sub/hi.txt", "deleted"),
        ("/etc/passwd", "metadata_only"),  # chown only
        ("/h/dup.bin", "duplicate_content"),
    ])
    # /h/a's second copy is deleted by name, but /h/b (its hard link) still shows the bytes: not waste
    view = merged_view(inv, refs["edge"]).set_index("path")
    assert view.loc["/h/b", "entry_kind"] == "hardlink" and view.loc["/h/b", "size"] == 96 << 10
    passwd = [r for r in w.itertuples() if r.path == "/etc/passwd"][0]
    assert passwd.changed == "owner" and passwd.position == 0
    dup = [r for r in w.itertuples() if r.path == "/h/dup.bin"][0]
    assert dup.by_path == "/h/b" and not dup.reclaimable
    eff = efficiency(inv, [refs["edge"]]).iloc[0]
    assert eff["reclaimable_bytes"] == 2 * (96 << 10) + passwd.bytes + 3
    # dive counts /h/a three times (two copies and the whiteout) and /etc/passwd twice
    assert eff["dive_wasted_bytes"] == 2 * (96 << 10) + 2 * passwd.bytes


def test_empty_layers_are_handled(edge_live):
    """`RUN true` changes nothing: docker records an empty history entry and no layer; `RUN rm` makes a
    layer of whiteouts only (size 0). Positions of everything else stay aligned with dive's."""
    daemon, refs, inv = edge_live
    image_id = inv.image_id(refs["edge"])
    hist = inv.history[inv.history["image_id"] == image_id]
    noop = hist[hist["created_by"].str.endswith("true", na=False)]
    assert len(noop) == 1 and noop["empty_layer"].iloc[0] and pd.isna(noop["position"].iloc[0])
    il = inv.image_layers[inv.image_layers["image_id"] == image_id].set_index("position")
    rm = il[il["created_by"].str.endswith("rm /h/a", na=False)]
    assert len(rm) == 1 and rm["size"].iloc[0] == 0
    files = inv.files[inv.files["layer_id"] == rm["layer_id"].iloc[0]]
    assert set(files["kind"]) == {"whiteout", "dir"}
    w = waste(inv, image_id, progress=False)
    assert (w["position"] < len(il)).all()


def test_base_images(sample_live, edge_live):
    daemon, built, inv = sample_live
    bases = base_images(inv).set_index("image_id")
    ids = built["images"]
    assert bases.loc[ids[built["roles"]["child_image"]], "base_image"] == ids[built["roles"]["overwrite"]]
    assert bases.loc[ids[built["roles"]["overwrite"]], "base_image"] == ids[built["roles"]["base"]]
    base_row = bases.loc[ids[built["roles"]["base"]]]
    assert base_row["base_image"] is None and base_row["base_layer_count"] == 0
    child = bases.loc[ids[built["roles"]["child_image"]]]
    assert child["base_size"] == inv.images.set_index("image_id").loc[ids[built["roles"]["overwrite"]], "size"]
    assert child["user_layer_count"] == 1
    # the edge child deletes only: excluding its base, nothing of its own is reclaimable
    _, refs, einv = edge_live
    eff = efficiency(einv, [refs["child"]]).iloc[0]
    assert eff["base_image"] == einv.image_id(refs["edge"])
    assert eff["reclaimable_bytes_excluding_base"] == 0 and eff["reclaimable_bytes"] > 0
    assert eff["dive_wasted_bytes_excluding_base"] < eff["dive_wasted_bytes"]


def test_summary_json_fields(sample_live):
    daemon, built, inv = sample_live
    out = subprocess.run([sys.executable, "-m", "layerlab.cli", "summary", str(daemon.data_root), "--json"],
                         capture_output=True, text=True, check=True)
    data = json.loads(out.stdout)
    eff = efficiency(inv).set_index("image_id")
    for im in data["images"]:
        for key in ("dive_efficiency", "dive_wasted_bytes", "dive_user_wasted_percent", "reclaimable_bytes",
                    "base_image", "base_size"):
            assert key in im
        row = eff.loc[im["image_id"]]
        assert im["dive_wasted_bytes"] == row["dive_wasted_bytes"]
        assert im["reclaimable_bytes"] == row["reclaimable_bytes"]
        assert im["base_image"] == row["base_image"]
    base = [im for im in data["images"] if built["roles"]["base"] in im["tags"]][0]
    assert base["dive_user_wasted_percent"] is None  # dive divides by zero for a one-layer image


def test_summary_flags_what_docker_calls_dangling(sample_live):
    daemon, built, inv = sample_live
    out = subprocess.run([sys.executable, "-m", "layerlab.cli", "summary", str(daemon.data_root), "--json"],
                         capture_output=True, text=True, check=True)
    data = json.loads(out.stdout)
    assert {im["image_id"] for im in data["images"] if im["dangling"]} == set(built["dangling"])
    assert data["totals"]["reclaimable_bytes"] < data["totals"]["reclaimable_bytes_sum_of_images"]
