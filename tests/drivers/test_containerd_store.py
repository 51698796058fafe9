"""The containerd image store read into the frames: the bundled capture, a damaged copy, and live against ctr."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from readonly_support import tree_state
import layerlab as ll
from layerlab.errors import BoltError, NotADataRoot
from layerlab.frames import schema
from layerlab.analyses.drivers.store_usage import image_sizes, store_usage
from layerlab.oci.reference import familiar
from layerlab.sources.containerd.store import open_containerd
from layerlab.sources.docker.dataroot import detect

DATA = Path(__file__).resolve().parents[2] / "data"
SAMPLE = DATA / "sample-containerd.layerlab"


@pytest.fixture(scope="module")
def sample():
    return ll.load(SAMPLE)


# -- the bundled sample (no root needed) ------------------------------------------------------------
def test_sample_matches_the_contract(sample):
    for name, df in sample.frames().items():
        schema.validate(df, name)
    assert sample.meta["image_store"] == "containerd" and sample.meta["driver"] == "overlayfs"
    assert sample.skipped.empty


def test_same_images_same_apparent_sizes_as_overlay2(sample):
    overlay2 = ll.sample("overlay2").images.explode("tags").dropna(subset=["tags"]).set_index("tags")["size"]
    ctrd = sample.images.explode("tags").set_index("tags")["size"]
    common = [t for t in ctrd.index if t in overlay2.index]
    assert len(common) >= 5
    for tag in common:
        assert ctrd[tag] == overlay2[tag], tag
    # the base layer is reproducible (fixed mtimes): the same chain ID whatever the store
    base = sample.image_layers[sample.image_layers["image_id"] == sample.image_id("layerlab/base:1")]["layer_id"]
    assert set(base) <= set(ll.sample("overlay2").layers["layer_id"])


def test_container_layer_shows_copy_up_whiteout_and_opaque(sample):
    files = sample.files[sample.files["layer_id"] == "container:ll-exited"].set_index("path")
    assert files.loc["/data/big.bin", "size"] == (1 << 20) + 1  # copied up whole, one byte appended
    assert files.loc["/opt/app/logs/old.log", "kind"] == "whiteout"
    assert files.loc["/opt/app/cache", "kind"] == "opaque"
    assert files.loc["/opt/app/conf", "kind"] == "whiteout"  # a renamed directory: copy plus whiteout
    assert files.loc["/opt/app/config/a.conf", "kind"] == "file"
    c = sample.containers.set_index("name")
    assert c.loc["ll-exited", "image_id"] == sample.image_id("layerlab/app:1")
    assert c.loc["ll-created", "rw_size"] == 0


def test_both_copies_are_counted_apart(sample):
    usage = store_usage(sample).set_index(["copy", "kind"])
    assert usage.loc[("content", "layer"), "count"] == 11
    assert usage.loc[("snapshots", "image"), "count"] == 11
    # gzip blobs are smaller than the unpacked snapshots, and both take real space
    assert 0 < usage.loc[("content", "layer"), "size"] < usage.loc[("snapshots", "image"), "size"]
    sizes = image_sizes(sample).explode("tags").set_index("tags")
    app = sizes.loc["layerlab/app:1"]
    assert app["content_size"] < app["size"] <= app["snapshot_usage"]
    assert app["snapshot_usage"] == app["snapshot_disk_usage"]  # containerd's usage counts blocks


def test_familiar_names():
    assert familiar("docker.io/library/alpine:3") == "alpine:3"
    assert familiar("docker.io/layerlab/app:1") == "layerlab/app:1"
    assert familiar("127.0.0.1:5000/x/y:1") == "127.0.0.1:5000/x/y:1"


# -- the raw capture, unpacked as root ---------------------------------------------------------------
def test_open_root_reads_the_capture_like_the_snapshot(containerd_capture, sample):
    before = tree_state(containerd_capture, contents=False, atimes=True)
    assert detect(str(containerd_capture))[0] == "containerd"
    inv = ll.open_root(str(containerd_capture), progress=False)
    for name in ("images", "layers", "image_layers", "containers"):
        got = inv.frames()[name].drop(columns=[c for c in ("created",) if name == "containers"])
        want = sample.frames()[name].drop(columns=[c for c in ("created",) if name == "containers"])
        key = {"images": "image_id", "layers": "layer_id", "image_layers": ["image_id", "position"],
               "containers": "container_id"}[name]
        got, want = got.sort_values(key).reset_index(drop=True), want.sort_values(key).reset_index(drop=True)
        assert got.drop(columns=["compressed"],
                        errors="ignore").astype(str).equals(want.drop(columns=["compressed"],
                                                                      errors="ignore").astype(str)), name
    assert len(inv.files) == len(sample.files)
    # read-only: nothing created, changed or even read-timed
    assert tree_state(containerd_capture, contents=False, atimes=True) == before


def test_docker_root_with_managed_containerd(tmp_path, containerd_capture):
    docker_root = tmp_path / "docker"
    (docker_root / "containers").mkdir(parents=True)
    (docker_root / "containerd").mkdir()
    os.symlink(containerd_capture, docker_root / "containerd" / "daemon")
    inv = ll.open_root(str(docker_root), progress=False)
    assert inv.meta["image_store"] == "containerd"
    assert inv.meta["source"] == str(docker_root / "containerd" / "daemon")
    assert "layerlab/app:1" in set(inv.images.explode("tags")["tags"])


def test_missing_meta_db_clear_error_and_what_can_be_read(capture_copy):
    meta_db = capture_copy / "io.containerd.metadata.v1.bolt" / "meta.db"
    meta_db.unlink()
    with pytest.raises(BoltError, match="partial=True") as e:
        ll.open_root(str(capture_copy))
    assert "meta.db" in str(e.value) and "snapshot" in str(e.value)
    with pytest.warns(UserWarning, match="meta.db"):
        inv = open_containerd(str(capture_copy), partial=True, progress=False)
        layers = inv.layers
    assert inv.images.empty
    assert (layers["kind"] == "image").sum() == 11 and (layers["kind"] == "container").sum() == 2
    assert layers["disk_usage"].notna().all()
    assert "/data/big.bin" in set(inv.files.loc[inv.files["layer_id"] == "container:ll-exited", "path"])
    assert inv.skipped["path"].str.endswith("meta.db").any()


def test_unreadable_snapshotter_db_falls_back_to_directories(capture_copy):
    (capture_copy / "io.containerd.metadata.v1.bolt" / "meta.db").write_bytes(b"not bolt")
    (capture_copy / "io.containerd.snapshotter.v1.overlayfs" / "metadata.db").write_bytes(b"")
    with pytest.warns(UserWarning):
        inv = open_containerd(str(capture_copy), partial=True, progress=False)
        assert len(inv.layers) == 13
    assert inv.layers["layer_id"].str.startswith("snapshot:").all()


def test_not_a_store(tmp_path):
    with pytest.raises(NotADataRoot):
        open_containerd(str(tmp_path))
