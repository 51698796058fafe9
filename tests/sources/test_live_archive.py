"""Live tier: one image read three ways agrees: from the data root, from its `docker save` archive
(classic form, gzip, and the OCI-layout form of Docker 25+), from an OCI layout skopeo made of it;
and dive's own `--source docker-archive` export gives the same figures."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import time

import pandas as pd
import pytest

import layerlab as ll
from layerlab.analyses import dive_analysis, efficiency
from layerlab.sources.imageset import layer_blobs
from harness.archives import daemon_to_layout, docker25_archive
from harness.tiers import missing, require

from sources_support import assert_same_images, by_tag, reads_before_pandas

pytestmark = pytest.mark.live


def test_archive_agrees_with_data_root(saved):
    daemon, built, archive, root, _ = saved
    inv = ll.open_source(f"docker-archive:{archive}", progress=False)
    assert set(inv.images["image_id"]) == set(built["images"].values())
    for tag, iid in built["images"].items():
        assert inv.image_id(tag) == iid
    # each layer once, however many images share it; no disk, no containers
    assert inv.layers["layer_id"].is_unique
    assert inv.layers["disk_usage"].isna().all() and len(inv.containers) == 0
    assert (inv.layers["image_count"] >= 1).all()
    assert_same_images(inv, root, sorted(set(built["images"].values())))
    # Docker's own figure for the image size
    for tag, iid in built["images"].items():
        docker_size = daemon.docker_json("image", "inspect", tag)[0]["Size"]
        assert inv.images.set_index("image_id").loc[iid, "size"] == docker_size, tag
    # history from the config, as the data root has it
    pd.testing.assert_frame_equal(
        inv.history.sort_values(["image_id", "index"]).reset_index(drop=True),
        root.history[root.history["image_id"].isin(inv.images["image_id"])].sort_values(["image_id",
            "index"]).reset_index(drop=True))


def test_gzip_archive_and_bare_path(saved):
    _, built, archive, root, work = saved
    gz = work / "all.tar.gz"
    with open(archive, "rb") as src, gzip.open(gz, "wb", compresslevel=1) as dst:
        shutil.copyfileobj(src, dst)
    plain = ll.open_source(str(archive), progress=False)  # a bare path, recognised by content
    packed = ll.open_source(str(gz), progress=False)
    assert plain.source == f"docker-archive:{archive}"
    pd.testing.assert_frame_equal(plain.files, packed.files)
    pd.testing.assert_frame_equal(plain.images, packed.images)


def test_oci_form_and_layouts_agree(saved):
    daemon, built, archive, root, work = saved
    require(missing(programs=("skopeo",)))
    tags = [built["roles"]["overwrite"], built["roles"]["opaque_dir"], built["roles"]["base"]]
    ids = sorted({built["images"][t] for t in tags})
    layout = daemon_to_layout(daemon, tags, work / "layout")
    oci = ll.open_source(f"oci:{layout}", progress=False)
    assert len(oci.images) == len(ids)
    assert sorted(t for ts in oci.images["tags"] for t in ts) == sorted(tags)
    assert_same_images(oci, root, by_tag(oci, built, tags))
    one = ll.open_source(f"oci:{layout}:{tags[0]}", progress=False)
    assert list(one.images["tags"]) == [[tags[0]]]
    d25 = docker25_archive(layout, work / "docker25.tar")
    inv = ll.open_source(f"docker-archive:{d25}", progress=False)
    assert sorted(t for ts in inv.images["tags"] for t in ts) == sorted(tags)
    assert_same_images(inv, root, by_tag(inv, built, tags))

@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_compressed_layouts_agree(saved, compression):
    """gzip and zstd layers in a layout read from a tar of it (oci-archive:), as skopeo compresses them."""
    daemon, built, archive, root, work = saved
    require(missing(programs=("skopeo",)))
    tags = [built["roles"]["overwrite"], built["roles"]["opaque_dir"]]
    layout = daemon_to_layout(daemon, tags, work / f"{compression}-layout", compression=compression)
    tar = work / f"{compression}.tar"
    subprocess.run(["tar", "-C", str(layout), "-cf", str(tar), "."], check=True)
    inv = ll.open_source(f"oci-archive:{tar}:{tags[0]}", progress=False)
    assert_same_images(inv, root, by_tag(inv, built, tags[:1]))
    blobs = layer_blobs(inv)
    assert (blobs["compression"] == compression).all()
    assert (blobs["blob_size"] < blobs["size"]).any()
    assert [c for c in inv.layers["compressed"]] == [[d] for d in blobs["blob_digest"]]
    both = ll.open_source(f"oci-archive:{tar}", progress=False)
    assert sorted(t for ts in both.images["tags"] for t in ts) == sorted(tags)


def test_dive_reads_the_same_archive(saved):
    daemon, built, archive, root, work = saved
    require(missing(programs=("dive",)))
    for role in ("overwrite", "opaque_dir", "child_image", "multi_stage"):
        tag = built["roles"][role]
        one = work / f"{role}.tar"
        daemon.docker("save", "-o", one, tag)
        out = work / f"{role}.json"
        subprocess.run(["dive", "--source", "docker-archive", str(one), "--json", str(out)], check=True,
                       capture_output=True, timeout=300)
        d = json.loads(out.read_text())
        inv = ll.open_source(f"docker-archive:{one}", progress=False)
        eff = efficiency(inv).iloc[0]
        image = d["image"]
        assert eff.dive_efficiency == pytest.approx(image["efficiencyScore"], rel=1e-12, abs=0), tag
        assert eff.dive_wasted_bytes == image["inefficientBytes"], tag
        assert eff.dive_size_bytes == image["sizeBytes"], tag
        theirs = sorted((f["file"], f["count"], f["sizeBytes"]) for f in image["fileReference"])
        table = dive_analysis(inv, eff.image_id)
        assert sorted(zip(table["path"], table["count"].astype(int), table["size_bytes"].astype(int))) == theirs, tag


def test_headers_only_reading_gives_the_same_frames(saved):
    """verify=False seeks past file contents (as tar -t does) and gives the same frames."""
    _, built, archive, root, work = saved
    checked = ll.open_source(f"docker-archive:{archive}", progress=False)
    seeked = ll.open_source(f"docker-archive:{archive}", progress=False, verify=False)
    for name in ("images", "layers", "image_layers", "history", "files"):
        pd.testing.assert_frame_equal(getattr(checked, name), getattr(seeked, name))
    assert set(layer_blobs(seeked)["compression"]) == {"none"}


def test_layers_are_read_while_pandas_is_imported(saved):
    """open_source starts reading the layers before pandas and pyarrow are imported (the import then
    overlaps the reading); the frames are those the reading gives with one worker or several, asked
    for at once or once every read has ended."""
    _, _, archive, root, _ = saved
    seen, imported, count, restored = reads_before_pandas(f"docker-archive:{archive}")
    assert seen == [False] and imported and restored
    from layerlab.sources.archive import open_archive

    one = open_archive(str(archive), workers=1, progress=False)
    many = open_archive(str(archive), workers=8, progress=False)
    time.sleep(1)  # the reads end in the background before any frame is asked for
    assert len(many.files) == count
    for name in ("images", "layers", "image_layers", "history", "files", "containers", "skipped"):
        pd.testing.assert_frame_equal(getattr(one, name), getattr(many, name))


@pytest.mark.parametrize("alone", [0, 100])
def test_small_layers_framed_together_give_the_frames_of_one_each(saved, monkeypatch, alone):
    """Small layers are framed together once read (a frame per layer cost a millisecond or more each);
    the frames and Docker's sizes are those of a frame per layer (FRAME_ALONE 0), also when large
    layers framed alone come between runs of small ones (100: the sample's busybox layer and a few
    others have more rows)."""
    _, _, archive, _, _ = saved
    from layerlab.sources import imageset
    from layerlab.sources.archive import open_archive

    together = open_archive(str(archive), progress=False)
    together.frames()  # read now, before FRAME_ALONE changes (the reads run in the background)
    monkeypatch.setattr(imageset, "FRAME_ALONE", alone)
    each = open_archive(str(archive), progress=False)
    counts = each.files.groupby("layer_id", observed=True).size()
    assert (counts >= 100).any() and (counts < 100).any()
    for name in ("images", "layers", "image_layers", "history", "files"):
        pd.testing.assert_frame_equal(getattr(together, name), getattr(each, name), check_exact=True)
    pd.testing.assert_frame_equal(efficiency(together), efficiency(each), check_exact=True)


def test_docker_save_headers_are_indexed_a_block_at_a_time(saved):
    """`docker save` writes plain tar headers: the archive's member index is read a block at a time
    (not by tarfile, some 40 µs a member) and equals tarfile's."""
    import tarfile

    from layerlab.sources.blobstore import _plain_members

    _, _, archive, _, _ = saved
    got = _plain_members(str(archive))
    assert got is not None
    with tarfile.open(archive, encoding="utf-8", errors="surrogateescape") as tf:
        ref = tf.getmembers()
    key = lambda m: (m.name, m.isreg(), m.issym(), m.islnk(), m.size, m.linkname, m.offset_data)  # noqa: E731
    assert [key(m) for m in got] == [key(m) for m in ref]


def test_every_notebook_runs_on_an_archive(saved, tmp_path):
    """The report (every notebook, `source` parameter set to the archive) renders without a failed cell."""
    from layerlab.reports import render_all

    _, built, archive, root, work = saved
    one = work / "report.tar"
    saved[0].docker("save", "-o", one, built["roles"]["overwrite"], built["roles"]["base"])
    index = render_all(f"docker-archive:{one}", tmp_path / "report")
    assert index.exists() and len(list((tmp_path / "report").glob("*.html"))) >= 6


def test_platform_picks_layout_images(saved, capsys):
    """--platform (platform=) keeps the layout images of that platform and says so when there is none."""
    from layerlab.cli import main

    daemon, built, archive, root, work = saved
    require(missing(programs=("skopeo",)))
    layout = daemon_to_layout(daemon, [built["roles"]["base"]], work / "platform-layout")
    arch = root.images.set_index("image_id").loc[built["images"][built["roles"]["base"]], "architecture"]
    assert len(ll.open_source(f"oci:{layout}", platform=f"linux/{arch}", progress=False).images) == 1
    other = "linux/s390x" if arch != "s390x" else "linux/amd64"
    with pytest.raises(ll.ImageNotFound, match="no image for platform"):
        ll.open_source(f"oci:{layout}", platform=other, progress=False)
    assert main(["summary", f"oci:{layout}", "--platform", other]) == 2
    assert "no image for platform" in capsys.readouterr().err
