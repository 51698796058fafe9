"""Live: a real containerd holding the sample images; layerlab's frames against what `ctr` reports."""

from __future__ import annotations

import os

import pytest

import layerlab as ll
from layerlab.analyses.drivers.store_usage import image_sizes, store_usage
from layerlab.oci.reference import familiar
from harness.containerd import Containerd, containerd_missing, docker_archive
from harness.tiers import require

pytestmark = pytest.mark.live


def _ctr_bytes(n: int) -> str:
    """containerd's progress.Bytes: binary units, one decimal (ctr snapshots usage, ctr images ls)."""
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    f, i = float(n), 0
    while f >= 1024:
        f /= 1024
        i += 1
    return f"{f:0.1f} {units[i]}"


def _human_size(n: int) -> str:
    """go-units HumanSize (ctr content ls): decimal units, 4 significant digits."""
    units = ["B", "kB", "MB", "GB", "TB"]
    f, i = float(n), 0
    while f >= 1000:
        f /= 1000
        i += 1
    return f"{f:.4g}{units[i]}"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from harness.daemon import dockerd_missing

    require(dockerd_missing() or containerd_missing())
    archive = docker_archive(tmp_path_factory.mktemp("ctrd-archive"))
    with Containerd(tmp_path_factory.mktemp("ctrd-store")) as c:
        c.ctr("images", "import", "--compress-blobs", archive)
        c.ctr("run", "docker.io/layerlab/app:1", "writer", "sh", "-c",
              "echo hi > /new.txt; rm /srv/data/hello.txt; chmod 600 /srv/data")
        yield c, ll.open_root(str(c.root), progress=False)


def test_images_as_ctr_lists_them(live):
    c, inv = live
    rows = [line.split() for line in c.ctr("images", "ls").stdout.splitlines()[1:]]
    ctr_names = {familiar(r[0]) for r in rows}
    assert ctr_names == {t for tags in inv.images["tags"] for t in tags}
    sizes = image_sizes(inv).explode("tags").set_index("tags")
    for r in rows:
        # REF TYPE DIGEST SIZE(two fields) PLATFORMS LABELS; SIZE is the content (compressed) size
        assert _ctr_bytes(sizes.loc[familiar(r[0]), "content_size"]) == f"{r[3]} {r[4]}"
        by_tag = inv.images.set_index(inv.images["tags"].map(lambda t: t[0]))["digests"]
        assert f"{familiar(r[0]).split(':')[0]}@{r[2]}" in by_tag[familiar(r[0])]


def test_layers_as_ctr_snapshots_usage_counts_them(live):
    c, inv = live
    layers = inv.layers
    usage = {}
    for line in c.ctr("snapshots", "usage").stdout.splitlines()[1:]:
        key, num, unit, inodes = line.split()
        usage[key] = (f"{num} {unit}", int(inodes))
    keys = {lid: (lid if kind == "image" else lid.split(":", 1)[1]) for lid,
            kind in zip(layers["layer_id"], layers["kind"])}
    assert set(keys.values()) == set(usage)
    for lid, disk, count in zip(layers["layer_id"], layers["disk_usage"], layers["file_count"]):
        assert _ctr_bytes(disk) == usage[keys[lid]][0], lid
        assert count + 1 == usage[keys[lid]][1], lid  # entries plus the snapshot's own directory
    rw = inv.files[inv.files["layer_id"] == "container:writer"].set_index("path")
    assert rw.loc["/srv/data/hello.txt", "kind"] == "whiteout"
    assert rw.loc["/new.txt", "size"] == 3


def test_content_sizes_as_ctr_content_ls(live):
    c, inv = live
    listed = {line.split()[0]: line.split()[1] for line in c.ctr("content", "ls").stdout.splitlines()[1:]}
    content = {r["digest"]: r for r in inv.meta["containerd"]["content"]}
    assert set(content) == set(listed)
    for digest, size in listed.items():
        assert _human_size(content[digest]["size"]) == size, digest
    usage = store_usage(inv).set_index(["copy", "kind"])
    assert usage.loc[("content", "layer"), "count"] == 3
    assert usage.loc[("snapshots", "container"), "count"] == 1


def _locks_under(root) -> list[str]:
    """/proc/locks entries on files under ``root`` (their ordinals dropped): other processes on the
    machine take and drop locks of their own meanwhile."""
    inodes = {str(os.lstat(os.path.join(d, n)).st_ino) for d, dirs, names in os.walk(root) for n in names + dirs}
    out = []
    with open("/proc/locks") as f:
        for line in f:
            fields = line.split()
            dev_inode = fields[5] if fields[1] != "->" else fields[6]
            if dev_inode.rsplit(":", 1)[-1] in inodes:
                out.append(" ".join(fields[1:]))
    return sorted(out)


def test_reading_while_containerd_runs_takes_no_lock(live):
    c, _ = live
    before = _locks_under(c.root)
    assert before, "containerd holds a lock on its metadata database while it runs"
    inv = ll.open_root(str(c.root), progress=False)
    inv.files
    assert _locks_under(c.root) == before
    c.ctr("images", "ls")  # containerd still answers
