"""Live tier: layerlab's numbers against the real daemon that wrote the data root (overlay2, vfs)."""

from __future__ import annotations

import os

import pandas as pd
import pytest

import layerlab as ll
from layerlab.analyses.summary import summary_dict
from layerlab.sources.layerfiles.tarsplit import read_tarsplit
from layerlab.sources.layerfiles.walk import walk_layer

pytestmark = pytest.mark.live


def _utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


DAEMONS = ["overlay2_daemon", "vfs_daemon", "btrfs_daemon", "overlay_daemon", "fuse_overlayfs_daemon"]
# Only overlay2 diffs natively (reads the upper dir); the others find a layer's changes by comparing
# metadata (Docker's naive diff), which shows in what the layers hold.
NATIVE_DIFF = {"overlay2"}


@pytest.fixture(params=DAEMONS, scope="module")
def live(request):
    daemon, built = request.getfixturevalue(request.param)
    return daemon, built, ll.open_root(str(daemon.data_root), progress=False)


def test_image_size_equals_docker_image_inspect(live):
    daemon, built, inv = live
    sizes = dict(zip(inv.images["image_id"], inv.images["size"]))
    assert set(built["images"].values()) <= set(sizes)
    for ref, image_id in built["images"].items():
        docker = daemon.docker_json("image", "inspect", ref)[0]
        assert sizes[docker["Id"]] == docker["Size"], ref


def test_shared_unique_and_container_counts_equal_system_df(live):
    daemon, _, inv = live
    df = daemon.api("/system/df")
    ours = inv.images.set_index("image_id")
    listed = ours[~ours["intermediate"]]
    assert {i["Id"] for i in df["Images"]} == set(listed.index)
    for image in df["Images"]:
        row = ours.loc[image["Id"]]
        assert row["size"] == image["Size"]
        assert row["shared_size"] == image["SharedSize"], image["RepoTags"]
        assert row["unique_size"] == image["Size"] - image["SharedSize"]
        assert row["container_count"] == image["Containers"]
    summary = summary_dict(inv)
    assert {i["image_id"]: i["shared_size"] for i in summary["images"]} == {i["Id"]: i["SharedSize"]
                                                                            for i in df["Images"]}


def test_rw_size_equals_docker_ps_size(live):
    daemon, built, inv = live
    ps = daemon.api("/containers/json?all=1&size=1")
    ours = dict(zip(inv.containers["container_id"], inv.containers["rw_size"]))
    assert {c["Id"] for c in ps} == set(ours) == set(built["containers"].values())
    for c in ps:
        assert ours[c["Id"]] == c.get("SizeRw", 0), c["Names"]
    exited = built["containers"]["ll-exited"]
    assert ours[exited] > 1 << 20  # the big file was copied up to append to it
    states = dict(zip(inv.containers["name"], inv.containers["state"]))
    assert states == {"ll-created": "created", "ll-exited": "exited"}


def test_history_equals_docker_history(live):
    daemon, built, inv = live
    for ref in built["images"]:
        image_id = inv.image_id(ref)
        docker = daemon.api(f"/images/{image_id}/history")[::-1]  # docker lists newest first
        ours = inv.history[inv.history["image_id"] == image_id].sort_values("index")
        assert list(ours["created_by"].fillna("")) == [h["CreatedBy"] for h in docker], ref
        layers = inv.image_layers[inv.image_layers["image_id"] == image_id].set_index("position")["size"]
        sizes = [0 if empty else int(layers[pos]) for empty, pos in zip(ours["empty_layer"], ours["position"])]
        assert sizes == [h["Size"] for h in docker], ref
    assert inv.history["empty_layer"].any()  # ENV and LABEL steps


def test_tags_and_digests_equal_docker(live):
    daemon, built, inv = live
    for image_id in set(built["images"].values()):
        docker = daemon.docker_json("image", "inspect", image_id)[0]
        row = inv.images[inv.images["image_id"] == image_id].iloc[0]
        assert sorted(row["tags"]) == sorted(docker["RepoTags"])
        assert sorted(row["digests"]) == sorted(docker["RepoDigests"])
    pushed = [row for row in inv.images.itertuples() if row.digests]
    assert pushed, "pushed images have RepoDigests"
    compressed = inv.layers.loc[inv.layers["kind"] == "image", "compressed"]
    assert compressed.map(len).gt(0).any(), "distribution metadata gives registry digests"


def test_layer_chain_and_kinds(live):
    _, built, inv = live
    layers = inv.layers.set_index("layer_id")
    exited = built["containers"]["ll-exited"]
    rw = layers.loc[f"container:{exited}"]
    init = layers.loc[rw["parent"]]
    assert (rw["kind"], init["kind"]) == ("container", "init")
    top = inv.image_layers[inv.image_layers["image_id"] == inv.image_id(built["roles"]["child_image"])]
    assert init["parent"] == top.sort_values("position")["layer_id"].iloc[-1]
    assert (inv.layers["disk_usage"].dropna() > 0).all()
    assert inv.layers.loc[inv.layers["kind"] == "image", "image_count"].min() >= 1


def test_files_show_whiteouts_opaque_hardlinks_and_odd_names(live):
    _, built, inv = live
    tree = inv.image_files(built["roles"]["opaque_dir"])
    paths = built["paths"]
    kinds = tree.groupby("path")["kind"].agg(set)
    if inv.meta["driver"] in NATIVE_DIFF:
        assert "opaque" in kinds[paths["opaque_dir"]]
    else:  # the naive diff (vfs) sees the directory in both copies and whites out its old children
        whiteouts = tree.loc[tree["kind"] == "whiteout", "path"]
        assert whiteouts.str.startswith(paths["opaque_dir"] + "/").any()
    assert "whiteout" in kinds[paths["deleted_dir"]]
    # Of two hard links, the first in Docker's tar order (bytewise) carries the bytes.
    first, second = sorted(paths["hardlink"], key=os.fsencode)
    layer = tree.loc[tree["path"] == first, "layer_id"].iloc[-1]
    pair = tree[tree["path"].isin([first, second]) & (tree["layer_id"] == layer)].set_index("path")
    assert pair.loc[first, "kind"] == "file" and pair.loc[first, "size"] > 0
    if inv.meta["driver"] in NATIVE_DIFF:
        assert (pair.loc[second, "kind"], pair.loc[second, "link_target"], pair.loc[second, "size"]) == ("hardlink",
            first, 0)
    # the naive diff compares mtime/size/mode: `ln` leaves the old name unchanged, so only the new name is in the layer
    else:
        assert second not in pair.index
    for name in paths["odd_names"]:
        exact = os.fsencode(name)
        row = tree[tree["path"] == exact.decode("utf-8", "backslashreplace")]
        assert len(row) == 1, repr(name)
        raw = row["path_raw"].iloc[0]
        assert (None if pd.isna(raw) else raw) == (None if exact.isascii() or _utf8(exact) else exact)
    symlinks = tree[tree["path"].isin(paths["symlink"])]
    assert set(symlinks["kind"]) == {"symlink"} and symlinks["link_target"].notna().all()


def test_walk_equals_tarsplit_on_every_overlay2_layer(overlay2_daemon):
    daemon, _ = overlay2_daemon
    inv = ll.open_root(str(daemon.data_root), progress=False)
    image_layers = inv.layers[inv.layers["kind"] == "image"]
    assert len(image_layers) >= 8
    cols = ["path", "path_raw", "kind", "size", "mode", "uid", "gid", "mtime", "link_target"]
    for row in image_layers.itertuples():
        walked = walk_layer(daemon.data_root / "overlay2" / row.cache_id / "diff", row.layer_id)
        split = read_tarsplit(daemon.data_root / "image/overlay2/layerdb" / row.layer_id.replace(":", "/")
                              / "tar-split.json.gz", row.layer_id).frame()
        a = walked[cols].sort_values("path", ignore_index=True)
        b = split[cols].sort_values("path", ignore_index=True)
        # tar headers keep whole seconds of mtime; the layer directory has what the tar said
        a["mtime"] = a["mtime"].dt.floor("s")
        b["mtime"] = b["mtime"].dt.floor("s")
        pd.testing.assert_frame_equal(a, b, obj=f"layer {row.layer_id}")


def test_tar_split_and_walk_give_the_same_inventory(overlay2_daemon):
    daemon, _ = overlay2_daemon
    walked = ll.open_root(str(daemon.data_root), files="walk", progress=False)
    split = ll.open_root(str(daemon.data_root), files="tar-split", progress=False)
    cols = ["layer_id", "path", "kind", "size", "link_target"]
    a = walked.files[cols].sort_values(["layer_id", "path"], ignore_index=True)
    b = split.files[cols].sort_values(["layer_id", "path"], ignore_index=True)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("files", ["walk", "tar-split"])
def test_small_layers_framed_together_give_the_frames_of_one_each(overlay2_daemon, monkeypatch, files):
    """Small image layers are framed together once read (a pandas frame per layer cost a millisecond
    or more each): every frame and figure is that of a frame per layer (FRAME_ALONE 0), and with
    layers framed alone between runs of small ones (50: the busybox layer and a few others)."""
    from layerlab.analyses import efficiency
    from layerlab.sources.docker import dataroot

    daemon, _ = overlay2_daemon
    together = ll.open_root(str(daemon.data_root), files=files, progress=False)
    together.frames()  # read now, before FRAME_ALONE changes (the frames are read on first use)
    for alone in (0, 50):
        monkeypatch.setattr(dataroot, "FRAME_ALONE", alone)
        each = ll.open_root(str(daemon.data_root), files=files, progress=False)
        counts = each.files.groupby("layer_id", observed=True).size()
        assert (counts >= 50).any() and (counts < 50).any()
        for name in ("images", "layers", "image_layers", "history", "files", "containers", "skipped"):
            pd.testing.assert_frame_equal(getattr(together, name), getattr(each, name), check_exact=True)
        pd.testing.assert_frame_equal(efficiency(together), efficiency(each), check_exact=True)


@pytest.mark.parametrize("other", DAEMONS[1:])
def test_container_changes_agree_across_drivers(request, overlay2_daemon, other):
    """overlay2 reads the upper dir, vfs and btrfs compare full copies, the legacy overlay driver
    discounts its copy of the init layer: the same container workload changes the same files."""
    found = {}
    for daemon, built in (overlay2_daemon, request.getfixturevalue(other)):
        inv = ll.open_root(str(daemon.data_root), progress=False)
        rw = inv.files[inv.files["layer_id"] == f"container:{built['containers']['ll-exited']}"]
        found[daemon.driver] = rw[rw["kind"].isin(["file", "symlink", "hardlink"])][["path", "kind",
            "size"]].sort_values("path", ignore_index=True)
        expect = built["paths"]["exited_container"]
        assert expect["appended"] in set(rw["path"])
        assert expect["deleted"] in set(rw.loc[rw["kind"] == "whiteout", "path"]) | set(
            p for p in rw.loc[rw["kind"] == "opaque", "path"] if expect["deleted"].startswith(p + "/")
        )
    (a, b) = found.values()
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("fixture", ["overlay2_daemon", "fuse_overlayfs_daemon", "vfs_daemon"])
def test_c_walker_equals_python_walker_on_every_layer(request, fixture):
    """The C walker (layerlab/sources/_fastwalk.c) and the Python walk give the same rows."""
    from layerlab.sources.layerfiles import walk
    from layerlab.sources.docker.layouts import DRIVERS
    from harness.tiers import require

    require(None if walk._fastwalk is not None else "the C walker was not built (no compiler at install time?)")
    daemon, _ = request.getfixturevalue(fixture)
    inv = ll.open_root(str(daemon.data_root), progress=False)
    driver = DRIVERS[inv.meta["driver"]]
    checked = 0
    for row in inv.layers.itertuples():
        d = driver.diff_dir(str(daemon.data_root), row.cache_id,
                            container=row.kind != "image") or driver.layer_dir(str(daemon.data_root), row.cache_id)
        a = walk.walk_layer(d, row.layer_id, driver.convention, use_c=False).sort_values("path", ignore_index=True)
        b = walk.walk_layer(d, row.layer_id, driver.convention).sort_values("path", ignore_index=True)
        pd.testing.assert_frame_equal(a, b, obj=f"{fixture} layer {row.layer_id}")
        checked += 1
    assert checked == len(inv.layers) >= 10
