"""layerlab.sources.containerd.meta against what `ctr` reports on the same real containerd store."""

from __future__ import annotations

import hashlib
import json
import os
import stat

import pandas as pd
import pytest

from readonly_support import tree_state
from layerlab.errors import BoltError, NotADataRoot
from layerlab.sources.containerd.meta import (
    find_containerd_root,
    go_time,
    read_containerd_meta,
    read_snapshotter_db,
    uvarint,
    varint,
)
from harness.containerd import APP_REF, BASE_REF, BIG_LABELS, MANY_LABELS, MANY_TAGS


@pytest.fixture(scope="module")
def meta(live):
    return read_containerd_meta(live.root)


def _ctr_json(c, *args):
    return json.loads(c.ctr(*args).stdout)


def _go_human(size: int) -> str:
    """containerd's progress.Bytes formatting, as `ctr snapshots usage` prints sizes."""
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    value, i = float(size), 0
    while value >= 1024 and i < len(units) - 1:
        value /= 1024
        i += 1
    return f"{value:.1f} {units[i]}"


def test_decoders_match_go_encoding():
    # binary.PutUvarint / PutVarint outputs (zig-zag: 0,-1,1,-2 -> 0,1,2,3)
    assert uvarint(b"\x01") == 1 and uvarint(b"\xac\x02") == 300
    assert varint(b"\x00") == 0 and varint(b"\x01") == -1 and varint(b"\x02") == 1
    assert varint(b"\x80\x80\x02") == 16384 and varint(b"\x03") == -2
    assert uvarint(b"") is None and uvarint(b"\x80") is None  # cut short
    # time.Time{}.MarshalBinary(): version 1, zero seconds, UTC -> NaT rather than year 1
    assert go_time(b"\x01" + b"\x00" * 12 + b"\xff\xff") is pd.NaT
    assert go_time(None) is pd.NaT and go_time(b"\x09garbage") is pd.NaT


def test_images_match_ctr(meta, images_ls):
    moby = meta.images[meta.images["namespace"] == "moby"].set_index("name")
    assert set(moby.index) == set(images_ls)
    for name, (media_type, digest) in images_ls.items():
        assert moby.loc[name, "target_digest"] == digest
        assert moby.loc[name, "target_media_type"] == media_type
    assert moby.loc[BASE_REF, "labels"] == MANY_LABELS
    assert moby.loc[APP_REF, "labels"] == BIG_LABELS
    assert moby.loc[APP_REF, "annotations"].get("io.containerd.image.name") == APP_REF
    assert (moby.loc[MANY_TAGS, "target_digest"] == moby.loc[APP_REF, "target_digest"]).all()
    assert (moby["created"] <= moby["updated"]).all()
    other = meta.images[meta.images["namespace"] == "other"]
    assert set(other["name"]) == {BASE_REF, APP_REF}
    assert str(meta.images["created"].dtype) == "datetime64[us, UTC]"  # the contract's unit (docs/frames.md, Times)
    assert str(meta.images["target_size"].dtype) == "Int64"


def test_image_target_size_is_the_manifest_length(live, meta):
    app = meta.images.set_index(["namespace", "name"]).loc[("moby", APP_REF)]
    manifest = live.ctr("content", "get", app["target_digest"]).stdout.encode()
    assert app["target_size"] == len(manifest)
    assert "sha256:" + hashlib.sha256(manifest).hexdigest() == app["target_digest"]


def _content_ls(c):
    rows = {}
    for line in c.ctr("content", "ls").stdout.splitlines()[1:]:
        fields = line.split("\t")  # digest, size, age, labels
        labels = fields[-1].strip().strip("-")  # "-": no labels
        rows[fields[0]] = dict(kv.split("=", 1) for kv in labels.split(",")) if labels else {}
    return rows


def test_content_matches_ctr_and_disk(live, meta):
    listed = _content_ls(live)
    content = meta.content[meta.content["namespace"] == "moby"].set_index("digest")
    assert set(content.index) == set(listed)
    for digest, labels in listed.items():
        row = content.loc[digest]
        assert row["labels"] == labels
        assert row["blob_exists"] and os.path.getsize(row["blob"]) == row["size"]
        assert row["blob"] == str(live.root / "io.containerd.content.v1.content/blobs/sha256" / digest[7:])
    # layers carry their DiffID; the manifest refers to config and layers for the GC
    layers = content[content["uncompressed"].notna()]
    assert len(layers) == 3  # busybox base + two RUN layers
    app = meta.images.set_index(["namespace", "name"]).loc[("moby", APP_REF)]
    refs = content.loc[app["target_digest"], "gc_ref_content"]
    assert set(layers.index) <= set(refs) and len(refs) == 4
    configs = content[content["gc_ref_snapshots"].map(bool)]
    assert len(configs) == 2 and all(set(r) == {"overlayfs"} for r in configs["gc_ref_snapshots"])


def _snapshots_ls(c):
    rows = {}
    for line in c.ctr("snapshots", "ls").stdout.splitlines()[1:]:
        fields = line.split()
        key, kind = fields[0], fields[-1]
        rows[key] = (fields[1] if len(fields) == 3 else None, kind)
    return rows


def test_snapshots_match_ctr(live, meta):
    listed = _snapshots_ls(live)
    snaps = meta.snapshots[meta.snapshots["namespace"] == "moby"].set_index("key")
    assert set(snaps.index) == set(listed)
    assert set(snaps["kind"]) == {"Committed", "Active", "View"}
    for key, (parent, kind) in listed.items():
        row = snaps.loc[key]
        assert (None if pd.isna(row["parent"]) else row["parent"]) == parent
        assert row["kind"] == kind
        info = _ctr_json(live, "snapshots", "info", key)
        assert info["Kind"] == kind and info["Name"] == key
        # ctr prints nanoseconds; layerlab keeps microseconds (truncated)
        assert row["created"] == pd.Timestamp(info["Created"]).floor("us")
        assert row["updated"] == pd.Timestamp(info["Updated"]).floor("us")
        assert row["labels"] == info.get("Labels", {})
        # the backend's parent is the parent's backend key
        if parent:
            assert row["backend_parent"] == snaps.loc[parent, "name"]
        assert row["name"].startswith("moby/") and row["name"].endswith("/" + key)
        assert row["fs"] == str(live.root / "io.containerd.snapshotter.v1.overlayfs/snapshots" / str(row["id"]) / "fs")
        assert row["fs_exists"]
    assert snaps.loc["ctr-1", "kind"] == "Active" and snaps.loc["view-1", "kind"] == "View"
    labelled = snaps[snaps["labels"].map(lambda d: d.get("layerlab.test/snap") == "1")]
    assert len(labelled) == 1 and pd.isna(labelled["parent"].iloc[0])  # set on the base layer
    assert snaps["id"].is_unique


def test_committed_sizes_match_ctr_usage(live, meta):
    snaps = meta.snapshots[meta.snapshots["namespace"] == "moby"].set_index("key")
    usage = {}
    for line in live.ctr("snapshots", "usage").stdout.splitlines()[1:]:
        key, number, unit, inodes = line.split()
        usage[key] = (f"{number} {unit}", int(inodes))
    committed = snaps[snaps["kind"] == "Committed"]
    assert len(committed) == 3
    for key, row in committed.iterrows():
        assert (_go_human(int(row["size"])), int(row["inodes"])) == usage[key]
    # Only commits record usage; ctr measures active snapshots live.
    assert snaps.loc[["ctr-1", "view-1"], "size"].isna().all()


def test_snapshot_fs_dirs_hold_the_layers(meta):
    snaps = meta.snapshots[meta.snapshots["namespace"] == "moby"].set_index("key")
    committed = snaps[snaps["kind"] == "Committed"]
    base = committed[committed["parent"].isna()].iloc[0]
    assert os.path.isfile(os.path.join(base["fs"], "bin", "busybox"))
    middle = committed[committed["parent"] == base.name].iloc[0]
    assert open(os.path.join(middle["fs"], "srv", "data", "hello.txt")).read() == "hello\n"
    top = committed[committed["parent"] == middle.name].iloc[0]
    whiteout = os.lstat(os.path.join(top["fs"], "srv", "bye.txt"))
    assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == 0  # overlay whiteout for `rm`
    assert snaps.loc["ctr-1", "parent"] == top.name


def test_containers_match_ctr(live, meta):
    row = meta.containers.set_index(["namespace", "id"]).loc[("moby", "ctr-1")]
    info = _ctr_json(live, "containers", "info", "ctr-1")
    assert row["image"] == info["Image"] == APP_REF
    assert row["snapshot_key"] == info["SnapshotKey"] and row["snapshotter"] == info["Snapshotter"]
    assert row["runtime"] == info["Runtime"]["Name"]
    assert row["labels"] == (info["Labels"] or {})
    assert row["created"] == pd.Timestamp(info["CreatedAt"]).floor("us")
    assert row["updated"] == pd.Timestamp(info["UpdatedAt"]).floor("us")


def test_leases_and_namespaces_match_ctr(live, meta):
    lines = live.ctr("leases", "ls").stdout.splitlines()[1:]
    listed = {f[0]: f for f in (line.split() for line in lines)}
    leases = meta.leases[meta.leases["namespace"] == "moby"].set_index("id")
    assert set(leases.index) == set(listed) == {"lease-1"}
    lease = leases.loc["lease-1"]
    assert lease["created"].floor("s") == pd.Timestamp(listed["lease-1"][1])
    assert lease["labels"] == dict(kv.split("=", 1) for kv in listed["lease-1"][2].split(","))
    assert lease["labels"]["layerlab.test/lease"] == "yes"
    names = [line.split()[0] for line in live.ctr("namespaces", "ls").stdout.splitlines()[1:]]
    ns = meta.namespaces.set_index("namespace")
    assert set(ns.index) == set(names) == {"moby", "other"}
    assert ns.loc["other", "labels"] == {"layerlab.test/ns": "other"}
    assert meta.db_version in (3, 4)  # containerd 1.6 writes 3, 1.7+/2.x write 4
    assert meta.issues == []


def test_backend_only_read_without_meta(live):
    backend = read_snapshotter_db(live.root, "overlayfs")
    assert {"Committed", "Active", "View"} <= set(backend["kind"])
    assert backend["fs_exists"].all()
    assert len(backend[backend["name"].str.startswith("moby/")]) == len(_snapshots_ls(live))


# -- read-only -----------------------------------------------------------------------------------
def _locks_on(path) -> list[str]:
    """/proc/locks entries on ``path``'s inode, e.g. `FLOCK ADVISORY WRITE 1234 00:2f:5678 0 EOF`."""
    st = os.stat(path)
    out = []
    with open("/proc/locks") as f:
        for line in f:
            fields = line.split()
            dev_inode = fields[5] if fields[1] != "->" else fields[6]
            if dev_inode.rsplit(":", 1)[-1] == str(st.st_ino):
                out.append(" ".join(fields[1:]))  # without the ordinal, which others' locks shift
    return out


def test_reading_changes_nothing(stopped):
    # tree_state's hashing reads the files itself; take it twice so only our read is compared.
    tree_state(stopped.root, atimes=True)
    before = tree_state(stopped.root, atimes=True)
    meta = read_containerd_meta(stopped.root)
    assert len(meta.images) == 2 and len(meta.snapshots) == 4
    assert tree_state(stopped.root, atimes=True) == before


def test_reading_a_live_store_takes_no_lock(live):
    holders = _locks_on(live.meta_db)
    assert any(f" {live.process.pid} " in line for line in holders), holders  # containerd's flock
    meta = read_containerd_meta(live.root)
    assert len(meta.images) > 300
    assert _locks_on(live.meta_db) == holders
    assert not any(f" {os.getpid()} " in line for line in _locks_on(live.meta_db))


# -- errors --------------------------------------------------------------------------------------
def test_missing_meta_db_says_what_can_still_be_read(stopped, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    for name in ("io.containerd.content.v1.content", "io.containerd.snapshotter.v1.overlayfs"):
        (root / name).symlink_to(stopped.root / name)
    with pytest.raises(BoltError) as info:
        read_containerd_meta(root)
    message = str(info.value)
    assert "meta.db" in message and "does not exist" in message
    assert "content blobs" in message and "read_snapshotter_db(root, 'overlayfs')" in message
    assert len(read_snapshotter_db(root, "overlayfs")) == 4


def test_not_a_containerd_root(tmp_path):
    with pytest.raises(NotADataRoot, match="not a containerd root"):
        read_containerd_meta(tmp_path)
    with pytest.raises(NotADataRoot):
        find_containerd_root(tmp_path / "absent")


def test_docker_managed_containerd_root(stopped, tmp_path):
    managed = tmp_path / "docker" / "containerd"
    managed.mkdir(parents=True)
    (managed / "daemon").symlink_to(stopped.root)
    assert find_containerd_root(tmp_path / "docker") == str(managed / "daemon")
