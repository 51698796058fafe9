"""Live tier: images with reproducible-build and far-future times, made by real tools, read by
every command. umoci writes `created` at year 1, at 9999-12-31T23:59:59.999999999Z and at a
...59.999999999Z time into an OCI layout (with layers whose file mtimes GNU tar set to year 1 and to
9999 with nanoseconds); `buildah commit --timestamp 0` makes a 1970 image in a private store.
skopeo and buildah copy them to `oci:` and `docker-archive:`. Every command exits 0 and the exact
times are kept (truncated to the microsecond: docs/frames.md, Times)."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import datetime, timezone

import pandas as pd
import pytest

import layerlab as ll
from layerlab.cli import main
from layerlab.frames import schema
from layerlab.tables import images_table, readable
from harness.images import busybox_rootfs
from harness.tiers import missing, require, require_root

pytestmark = pytest.mark.live


def _ts(*args) -> pd.Timestamp:
    return pd.Timestamp(datetime(*args, tzinfo=timezone.utc))  # built without layerlab's parser


#: tag -> (created as umoci writes it, the time layerlab keeps)
CREATED = {
    "y1": ("0001-01-01T00:00:00Z", _ts(1, 1, 1)),
    "y9999": ("9999-12-31T23:59:59.999999999Z", _ts(9999, 12, 31, 23, 59, 59, 999999)),
    "ns": ("2023-06-30T23:59:59.999999999Z", _ts(2023, 6, 30, 23, 59, 59, 999999)),
}
#: tag -> GNU tar arguments of its second layer, whose files get that mtime
MTIMES = {"y1": ["--format=gnu", "--mtime=@-62135596800"],
          "y9999": ["--format=posix", "--mtime=@253402300799.999999999"]}


def _run(*args, **kw) -> str:
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True, **kw).stdout


def _gnu_tar_listing(archive) -> dict[str, pd.Timestamp]:
    """path -> mtime as GNU tar lists it (``--full-time``), truncated to the microsecond."""
    times = {}
    for line in _run("tar", "--full-time", "-tvf", archive).splitlines():
        y, mo, d, h, mi, s, frac, name = re.match(
            r"\S+ \S+ +\d+ (\d+)-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d+))? (.+)$", line).groups()
        name = "/" + name.removeprefix("./").rstrip("/")
        if name != "/":
            times[name] = _ts(int(y), int(mo), int(d), int(h), int(mi), int(s), int((frac or "0")[:6].ljust(6, "0")))
    return times


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """(sources to read, tag -> {path: mtime} of its GNU tar layer) for the umoci images."""
    require(missing(programs=("umoci", "skopeo", "tar")))
    work = tmp_path_factory.mktemp("times")
    rootfs = busybox_rootfs(work)
    layout = work / "layout"
    _run("umoci", "init", "--layout", layout)
    listed = {}
    for tag, (created, _) in CREATED.items():
        image = f"{layout}:{tag}"
        _run("umoci", "new", "--image", image)
        _run("umoci", "raw", "add-layer", "--image", image, rootfs, "--history.created", created)
        if tag in MTIMES:
            tree = work / f"tree-{tag}"
            (tree / "opt" / tag).mkdir(parents=True)
            (tree / "opt" / tag / "stamp").write_text(tag)
            layer = work / f"{tag}.tar"
            _run("tar", *MTIMES[tag], "-C", tree, "-cf", layer, "opt")
            listed[tag] = _gnu_tar_listing(layer)
            _run("umoci", "raw", "add-layer", "--image", image, layer, "--history.created", created)
        _run("umoci", "config", "--image", image, "--created", created, "--history.created", created)
    sources = {"oci": f"oci:{layout}"}
    for tag in CREATED:
        archive = work / f"{tag}.docker.tar"
        _run("skopeo", "copy", "--quiet", f"oci:{layout}:{tag}", f"docker-archive:{archive}:{tag}:latest")
        sources[f"archive-{tag}"] = f"docker-archive:{archive}"
    return sources, listed


def _tags(inv) -> dict[str, str]:
    """image_id by tag, as the source names it ('y1' in a layout, 'y1:latest' in an archive)."""
    return {t.split(":")[0].split("/")[-1]: iid for iid,
            tags in zip(inv.images["image_id"], inv.images["tags"]) for t in tags}


def _check_times(inv, listed):
    tags = _tags(inv)
    assert tags, "no image read"
    for tag, iid in tags.items():
        want = CREATED[tag][1]
        assert inv.images.set_index("image_id").loc[iid, "created"] == want, tag
        history = inv.history[inv.history["image_id"] == iid]
        assert len(history) >= 2 and (history["created"] == want).all(), tag
        assert (inv.image_layers.loc[inv.image_layers["image_id"] == iid, "created"] == want).all(), tag
        if tag in listed:
            files = inv.files[inv.files["layer_id"].isin(inv.chain(iid))].set_index("path")["mtime"]
            for path, t in listed[tag].items():
                assert files[path] == t, (tag, path)
    for name, frame in inv.frames().items():
        schema.validate(frame, name)


@pytest.mark.parametrize("which", ["oci", "archive-y1", "archive-y9999", "archive-ns"])
def test_every_command_reads_far_times(made, which, tmp_path, capsys):
    sources, listed = made
    source = sources[which]
    assert main(["summary", source]) == 0
    capsys.readouterr()
    assert main(["summary", source, "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["images"]) == (3 if which == "oci" else 1)
    inv = ll.open_source(source, progress=False)
    refs = sorted(inv.images["image_id"])  # by ID: how each source spells its tags is not the point here
    for ref in refs:
        assert main(["check", source, ref]) == 0, ref
        assert main(["bloat", source, ref]) == 0, ref
    assert main(["diff", source, refs[0], refs[-1]]) == 0
    capsys.readouterr()
    _check_times(inv, listed)
    out = tmp_path / "s.layerlab"
    assert main(["scan", source, "-o", str(out)]) == 0
    assert not list(tmp_path.glob("*.tmp"))
    _check_times(ll.load(out), listed)


def test_tables_and_report_show_far_times(made, tmp_path):
    sources, _ = made
    inv = ll.open_source(sources["oci"], progress=False)
    table = images_table(inv).set_index("image")
    assert table.loc["y1", "created"] == "0001-01-01 00:00"
    assert table.loc["y9999", "created"] == "9999-12-31 23:59"
    assert table.loc["ns", "created"] == "2023-06-30 23:59"
    shown = readable(inv.history)
    assert set(shown["created"]) == {"0001-01-01 00:00", "9999-12-31 23:59", "2023-06-30 23:59"}
    # the whole report: every notebook runs on the layout, and the tour shows the times
    assert main(["report", sources["oci"], "-o", str(tmp_path / "report"), "-j", "2"]) == 0
    tour = (tmp_path / "report" / "01-tour.html").read_text()
    assert "0001-01-01 00:00" in tour and "9999-12-31 23:59" in tour and "OutOfBounds" not in tour


@pytest.fixture(scope="module")
def buildah_image(tmp_path_factory):
    """An image committed by ``buildah commit --timestamp 0`` in a private store, pushed to an OCI
    layout and a docker archive: (oci source, archive source)."""
    require_root("buildah", "skopeo")
    work = tmp_path_factory.mktemp("buildah")
    store = ["--root", work / "root", "--runroot", work / "run", "--storage-driver", "vfs"]
    rootfs = busybox_rootfs(work)
    ctr = _run("buildah", *store, "from", "scratch").strip()
    try:
        _run("buildah", *store, "add", ctr, rootfs, "/")
        _run("buildah", *store, "config", "--cmd", "/bin/sh", ctr)
        _run("buildah", *store, "commit", "--quiet", "--timestamp", "0", ctr, "localhost/stamped:0")
    finally:
        subprocess.run(["buildah", *map(str, store), "rm", ctr], capture_output=True)
    layout, archive = work / "layout", work / "stamped.tar"
    _run("buildah", *store, "push", "--quiet", "localhost/stamped:0", f"oci:{layout}:stamped")
    _run("buildah", *store, "push", "--quiet", "localhost/stamped:0", f"docker-archive:{archive}:stamped:0")
    created = json.loads(_run("buildah", *store, "inspect", "--type", "image",
                              "localhost/stamped:0"))["OCIv1"]["created"]
    subprocess.run(["buildah", *map(str, store), "rmi", "--all", "--force"], capture_output=True)
    return f"oci:{layout}", f"docker-archive:{archive}", created


def test_buildah_timestamp_0_image(buildah_image, tmp_path, capsys):
    oci, archive, created = buildah_image
    epoch = _ts(1970, 1, 1)
    assert pd.Timestamp(created) == epoch  # what buildah wrote
    for source in (oci, archive):
        ref = ll.open_source(source, progress=False).images["image_id"].iloc[0]
        for argv in (["summary", source], ["summary", source, "--json"], ["check", source, ref], ["bloat", source, ref],
                     ["diff", source, ref, ref]):
            assert main(argv) == 0, argv
        capsys.readouterr()
        inv = ll.open_source(source, progress=False)
        assert list(inv.images["created"]) == [epoch]
        assert (inv.history["created"] == epoch).all() and len(inv.history)
        files = inv.files[inv.files["kind"] != "whiteout"]
        assert len(files) > 100 and (files["mtime"] == epoch).all()  # --timestamp sets every file's mtime
        out = tmp_path / f"{len(list(tmp_path.iterdir()))}.layerlab"
        assert main(["scan", source, "-o", str(out)]) == 0
        again = ll.load(out)
        assert list(again.images["created"]) == [epoch] and (again.files["mtime"].dropna() == epoch).all()


def test_a_data_root_with_far_times(made, tmp_path, capsys):
    """The same images `docker load`-ed into a dockerd of its own, with a container of the year-1
    image: the data root reads whole, with docker's own `created` to the microsecond."""
    require_root("dockerd", "docker")
    from harness.daemon import Daemon

    sources, listed = made
    with Daemon(tmp_path / "d", driver="vfs") as d:
        for tag in CREATED:
            d.docker("load", "-i", sources[f"archive-{tag}"].removeprefix("docker-archive:"))
        d.docker("create", "--name", "ll-y1", "y1", "/bin/sh")
        inspected = {tag: d.docker_json("image", "inspect", tag)[0] for tag in CREATED}
        root = str(d.data_root)
        for argv in (["summary", root], ["summary", root, "--json"], ["check", root, "y1"], ["bloat", root, "y9999"],
                     ["diff", root, "y1", "y9999"]):
            assert main(argv) == 0, argv
        capsys.readouterr()
        inv = ll.open_root(root, progress=False)
        _check_times(inv, listed)
        for tag, info in inspected.items():
            assert info["Created"] == CREATED[tag][0]  # docker keeps them as umoci wrote them
        assert list(inv.containers["name"]) == ["ll-y1"] and inv.containers["created"].notna().all()
        out = tmp_path / "root.layerlab"
        assert main(["scan", root, "-o", str(out)]) == 0
        _check_times(ll.load(out), listed)


def _put_blob(layout, data: bytes) -> dict:
    import hashlib

    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def test_a_bad_time_spoils_no_other_image(made, tmp_path, capsys):
    """The layout with y1's config given times no tool should write (and its blobs re-addressed, as
    a tool that wrote them would): those are NaT with a warning; every image is read, every command
    exits 0."""
    import shutil

    sources, listed = made
    layout = tmp_path / "layout"
    shutil.copytree(sources["oci"].removeprefix("oci:"), layout)
    index = json.loads((layout / "index.json").read_text())
    entry = next(m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == "y1")
    manifest = json.loads((layout / "blobs" / "sha256" / entry["digest"].removeprefix("sha256:")).read_bytes())
    config = json.loads((layout / "blobs" / "sha256"
                         / manifest["config"]["digest"].removeprefix("sha256:")).read_bytes())
    config["created"] = "yesterday"
    config["history"][0]["created"] = "2023-02-30T00:00:00Z"
    config["history"][1]["created"] = 1700000000
    manifest["config"].update(_put_blob(layout, json.dumps(config).encode()))
    entry.update(_put_blob(layout, json.dumps(manifest).encode()))
    (layout / "index.json").write_text(json.dumps(index))
    source = f"oci:{layout}"
    with pytest.warns(UserWarning, match="kept as NaT"):
        inv = ll.open_source(source, progress=False)
        inv.frames()
    tags = _tags(inv)
    assert set(tags) == set(CREATED)
    images = inv.images.set_index("image_id")
    assert pd.isna(images.loc[tags["y1"], "created"])
    bad = inv.history[inv.history["image_id"] == tags["y1"]]["created"]
    assert bad.iloc[:2].isna().all() and bad.iloc[2:].eq(CREATED["y1"][1]).all()
    for tag in ("y9999", "ns"):
        assert images.loc[tags[tag], "created"] == CREATED[tag][1]
    for argv in (["summary", source], ["check", source, "y1"], ["bloat", source, "y1"], ["diff", source, "y1", "ns"],
                 ["scan", source, "-o", str(tmp_path / "s.layerlab")]):
        assert main(argv) == 0, argv
    assert pd.isna(ll.load(tmp_path / "s.layerlab").images.set_index("image_id").loc[tags["y1"], "created"])


def test_a_registry_with_far_times(made, tmp_path, capsys):
    """The umoci images pushed by skopeo to a registry of its own: `docker://` reads them, and the
    registry commands and frames keep their times."""
    require(missing(programs=("docker-registry", "skopeo")))
    from harness.registry import Registry

    from layerlab.sources.registry import registry_frames

    sources, listed = made
    layout = sources["oci"].removeprefix("oci:")
    with Registry(tmp_path / "reg") as reg:
        refs = {tag: f"{reg.host}/times/{tag}:1" for tag in CREATED}
        for tag, ref in refs.items():
            _run("skopeo", "copy", "--quiet", *reg.skopeo_args(side="dest"), f"oci:{layout}:{tag}", f"docker://{ref}")
        env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}  # the layer and metadata caches: this test's own
        with pytest.MonkeyPatch.context() as mp:
            for k, v in env.items():
                mp.setenv(k, v)
            for tag, ref in refs.items():
                for argv in (["summary", f"docker://{ref}"], ["check", f"docker://{ref}"],
                             ["registry", "inspect", ref]):
                    assert main(argv) == 0, argv
                inv = ll.open_source(f"docker://{ref}", progress=False)
                assert list(inv.images["created"]) == [CREATED[tag][1]], tag
                assert (inv.history["created"] == CREATED[tag][1]).all(), tag
                if tag in listed:
                    files = inv.files.set_index("path")["mtime"]
                    assert all(files[p] == t for p, t in listed[tag].items()), tag
            frames = registry_frames(list(refs.values()))
        capsys.readouterr()
    manifests = frames.manifests.set_index("reference")
    for tag, ref in refs.items():
        row = manifests.loc[[r for r in manifests.index if r.endswith(f"/times/{tag}:1")][0]]
        assert row["created"] == CREATED[tag][1], tag
    assert (frames.history["created"].isin([t for _, t in CREATED.values()])).all()
