"""Bad input gets a clear ArchiveError (or the registry's DigestMismatch) naming the file and what was
expected; a blob that does not match its digest is refused, never analysed. The images come from the
real sample daemon and real tools (docker save, skopeo); each test then damages a copy."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys

import pytest

import layerlab as ll
from layerlab.errors import ArchiveError, DigestMismatch, LayerDigestMismatch, LayerlabError
from layerlab.sources.registry import RegistryClient
from layerlab.sources.registry.image import open_registry_image
from harness.archives import daemon_to_layout, skopeo
from harness.registry import Registry, registry_missing
from harness.tiers import missing, require


def test_a_tar_that_is_not_an_image(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.txt").write_text("not an image\n")
    tar = tmp_path / "plain.tar"
    subprocess.run(["tar", "-C", str(tmp_path / "d"), "-cf", str(tar), "."], check=True)
    for source in (f"docker-archive:{tar}", str(tar)):
        with pytest.raises(ArchiveError, match="neither manifest.json") as e:
            ll.open_source(source, progress=False)
        assert str(tar) in str(e.value) and e.value.path == str(tar)
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 200)
    with pytest.raises(ArchiveError, match="is not a tar archive.*expected `docker save` output"):
        ll.open_source(f"docker-archive:{text}", progress=False)
    with pytest.raises(ArchiveError, match="oci-layout"):
        ll.open_source(f"oci:{tmp_path / 'd'}", progress=False)


@pytest.mark.live
def test_a_truncated_archive(saved, tmp_path):
    archive = saved[2]
    data = archive.read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArchiveError, match="truncated") as e:
        ll.open_source(f"docker-archive:{cut}", progress=False).files
    assert str(cut) in str(e.value)
    gz = tmp_path / "cut.tar.gz"
    gz.write_bytes(gzip.compress(data, compresslevel=1)[: len(data) // 4])
    with pytest.raises(ArchiveError, match="truncated|not a tar") as e:
        ll.open_source(f"docker-archive:{gz}", progress=False).files
    assert str(gz) in str(e.value)


@pytest.fixture
def layout(saved, tmp_path):
    """A copy of an uncompressed OCI layout of two sample images, made by skopeo, to damage."""
    require(missing(programs=("skopeo",)))
    daemon, built = saved[0], saved[1]
    tags = [built["roles"]["overwrite"], built["roles"]["opaque_dir"]]
    return daemon_to_layout(daemon, tags, tmp_path / "layout"), tags


def _manifest(layout, tag):
    index = json.loads((layout / "index.json").read_text())
    entry = next(m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == tag)
    return index, entry, json.loads((layout / "blobs" / "sha256" / entry["digest"][7:]).read_text())


@pytest.mark.live
def test_a_layer_that_does_not_match_its_digest_is_refused(layout):
    layout, tags = layout
    _, _, manifest = _manifest(layout, tags[0])
    biggest = max(manifest["layers"], key=lambda l: l["size"])
    blob = layout / "blobs" / "sha256" / biggest["digest"][7:]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(LayerDigestMismatch, match="not analysed") as e:
        ll.open_source(f"oci:{layout}:{tags[0]}", progress=False).files
    assert biggest["digest"] in str(e.value) and str(blob) in str(e.value)


@pytest.mark.live
def test_a_damaged_classic_archive_layer_is_refused(saved, tmp_path):
    daemon, built = saved[0], saved[1]
    archive = tmp_path / "one.tar"
    daemon.docker("save", "-o", archive, built["roles"]["overwrite"])
    data = bytearray(archive.read_bytes())
    # a byte inside the big random file's contents: the tar stays readable, its digest does not match
    at = data.find(b"data/big.bin\0")
    while at % 512:  # the name field that starts a header block (inner tars are block-aligned)
        at = data.find(b"data/big.bin\0", at + 1)
    data[at + 512 + 4096] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(LayerDigestMismatch, match="config says"):
        ll.open_source(f"docker-archive:{archive}", progress=False).files
    # a damaged header: the tar breaks, and the message is still the mismatch
    data[at + 100] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(LayerDigestMismatch, match="not analysed"):
        ll.open_source(f"docker-archive:{archive}", progress=False).files


@pytest.mark.live
def test_a_missing_blob_in_a_layout(layout):
    layout, tags = layout
    _, _, manifest = _manifest(layout, tags[1])
    gone = manifest["layers"][-1]["digest"]
    (layout / "blobs" / "sha256" / gone[7:]).unlink()
    with pytest.raises(ArchiveError, match="is missing") as e:
        ll.open_source(f"oci:{layout}:{tags[1]}", progress=False)
    assert gone[7:] in str(e.value)


@pytest.mark.live
def test_an_unknown_media_type(layout):
    layout, tags = layout
    index, entry, manifest = _manifest(layout, tags[0])
    manifest["layers"][0]["mediaType"] = "application/vnd.example.unknown.layer"
    body = json.dumps(manifest).encode()
    digest = hashlib.sha256(body).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(body)
    entry["digest"], entry["size"] = f"sha256:{digest}", len(body)
    (layout / "index.json").write_text(json.dumps(index))
    with pytest.raises(ArchiveError, match="unknown media type 'application/vnd.example.unknown.layer'") as e:
        ll.open_source(f"oci:{layout}:{tags[0]}", progress=False)
    assert digest in str(e.value)


@pytest.mark.live
def test_zstd_without_the_library_says_what_to_install(saved, tmp_path, monkeypatch):
    require(missing(programs=("skopeo",)))
    daemon, built = saved[0], saved[1]
    layout = daemon_to_layout(daemon, [built["roles"]["base"]], tmp_path / "z", compression="zstd")
    monkeypatch.setitem(sys.modules, "zstandard", None)  # as if it were not installed
    with pytest.raises(ArchiveError, match=r"pip install zstandard"):
        ll.open_source(f"oci:{layout}", progress=False).files


@pytest.mark.live
def test_a_registry_blob_that_does_not_match_is_refused(saved, tmp_path):
    require(registry_missing() or missing(programs=("skopeo",)))
    daemon, built = saved[0], saved[1]
    tag = built["roles"]["overwrite"]
    layout = daemon_to_layout(daemon, [tag], tmp_path / "layout", compression="gzip")
    with Registry(tmp_path / "reg") as reg:
        ref = f"{reg.host}/bad/app:1"
        skopeo("copy", "-q", *reg.skopeo_args(side="dest"), f"oci:{layout}:{tag}", f"docker://{ref}")
        _, _, manifest = _manifest(layout, tag)
        victim = manifest["layers"][-1]["digest"][7:]
        data_file = reg.storage / "docker" / "registry" / "v2" / "blobs" / "sha256" / victim[:2] / victim / "data"
        data = bytearray(data_file.read_bytes())
        data[len(data) // 2] ^= 0xFF
        data_file.write_bytes(bytes(data))
        with RegistryClient(docker_config=False, cache_dir=False) as client:
            with pytest.raises(DigestMismatch, match=victim) as e:
                open_registry_image(ref, client=client, cache=False, progress=False).files
        assert isinstance(e.value, LayerlabError) and "altered" in str(e.value)
