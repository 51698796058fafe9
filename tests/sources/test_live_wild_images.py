"""Live tier: registry images as they are found in the wild read the same through oci:, oci-archive:,
docker-archive: and docker:// — zstd layers of many frames (zstd:chunked's shape) and skippable
frames (pzstd), a pzstd-compressed archive, schema1 manifests pushed by skopeo, foreign layers
whose blobs live only at their urls, attestation entries without their annotations, and an index
whose platform disagrees with the config's. The images are made by GNU tar, umoci, skopeo and the
zstd CLI (tests/harness/wild.py), and pushed to a real docker-registry."""

from __future__ import annotations

import json
import subprocess

import pytest
import requests

import layerlab as ll
from layerlab.errors import DigestMismatch, ImageNotFound, LayerDigestMismatch
from layerlab.sources.imageset import layer_blobs
from layerlab.sources.registry import RegistryClient
from layerlab.sources.registry.image import open_registry_image
from harness.registry import Registry
from harness.scripted import Scripted
from harness.tiers import missing, require
from harness.wild import push_as_is, run, save_without_foreign, tar_layout, umoci_image, with_index, zstd_frames_layout

from sources_support import rows

pytestmark = pytest.mark.live
TOOLS = ("umoci", "skopeo", "zstd", "pzstd", "docker-registry", "htpasswd")


@pytest.fixture(scope="module")
def wild(tmp_path_factory):
    """(work dir, the base layout, a registry that takes schema1 and needs a login, its user)."""
    require(missing(programs=TOOLS))
    work = tmp_path_factory.mktemp("wild")
    base = umoci_image(work / "base", "app", work)
    with Registry(work / "reg", htpasswd={"alice": "s3cret"},
                  config={"compatibility": {"schema1": {"enabled": True}}, **ALLOW_FOREIGN}) as reg:
        yield work, base, reg


def client(reg) -> RegistryClient:
    return RegistryClient(docker_config=False, cache_dir=False, verify=str(reg.ca_file),
                          credentials={reg.host: ("alice", "s3cret")})


def remote(reg, ref: str, **kw):
    with client(reg) as c:
        inv = open_registry_image(ref, client=c, cache=False, progress=False, **kw)
        inv.files  # read while the client is open
    return inv


def push(reg, src: str, ref: str, *extra: str) -> None:
    run("skopeo", "copy", "-q", *extra, *reg.skopeo_args(side="dest", user="alice"), src, f"docker://{ref}")


def same_files(a, b) -> None:
    """The same layers (layer IDs from the same diff IDs) with the same files rows."""
    layers_a, layers_b = (list(x.image_layers.sort_values("position")["layer_id"]) for x in (a, b))
    assert layers_a == layers_b
    for lid in b.layers["layer_id"]:
        assert rows(a, lid) == rows(b, lid)
    assert list(a.images["size"]) == list(b.images["size"])


def test_zstd_chunked_from_skopeo_reads_or_is_refused_saying_why(wild, tmp_path):
    """skopeo's own zstd:chunked: a tool with containers/storage's fix of December 2023 writes the
    whole tar, which reads as the gzip form does; Debian 12's skopeo 1.9 drops the tar's end-of-
    archive blocks and keeps the old diff ID, which every client refuses: layerlab too, saying why."""
    work, base, _ = wild
    layout = tmp_path / "chunked"
    run("skopeo", "copy", "-q", "--dest-compress-format", "zstd:chunked", f"oci:{base}:app", f"oci:{layout}:app")
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs" / index["manifests"][0]["digest"].replace(":", "/")).read_text())
    assert all(layer["mediaType"].endswith("+zstd") and any("zstd-chunked" in k for k in layer.get("annotations", {}))
               for layer in manifest["layers"])
    config = json.loads((layout / "blobs" / manifest["config"]["digest"].replace(":", "/")).read_text())
    blob = layout / "blobs" / manifest["layers"][0]["digest"].replace(":", "/")
    whole = "sha256:" + run("sh", "-c", f"zstd -dc {blob} | sha256sum").split()[0]
    if whole == config["rootfs"]["diff_ids"][0]:
        same_files(ll.open_source(f"oci:{layout}:app", progress=False),
                   ll.open_source(f"oci:{base}:app", progress=False))
        return
    with pytest.raises(LayerDigestMismatch, match="ends without the end-of-archive blocks") as e:
        ll.open_source(f"oci:{layout}:app", progress=False).files
    assert "zstd:chunked" in str(e.value) and "not analysed" in str(e.value)


@pytest.mark.parametrize("how", ["frames", "pzstd"])
def test_zstd_layers_of_many_frames_read_through_every_transport(wild, how):
    work, base, reg = wild
    plain = ll.open_source(f"oci:{base}:app", progress=False)
    layout = zstd_frames_layout(base, "app", work / f"zstd-{how}", how, work / f"tmp-{how}")
    ref = f"{reg.host}/wild/zstd-{how}:1"
    push_as_is(reg, layout, "app", f"wild/zstd-{how}", "1", auth=("alice", "s3cret"))
    archive = tar_layout(layout, work / f"zstd-{how}.tar")
    for inv in (ll.open_source(f"oci:{layout}:app", progress=False),
                ll.open_source(f"oci-archive:{archive}:app", progress=False),
                remote(reg, ref)):
        same_files(inv, plain)
        got = layer_blobs(inv)
        assert (got["compression"] == "zstd").all()
        assert set(got["blob_digest"]).isdisjoint(set(layer_blobs(plain)["blob_digest"]))  # not the gzip blobs
    # docker-archive: holds uncompressed layers (skopeo will not write zstd ones there); the whole archive
    # compressed as zstd frames and by pzstd (a skippable frame first) reads the same, bare or named
    saved = work / f"zstd-{how}-docker.tar"
    run("skopeo", "copy", "-q", f"oci:{base}:app", f"docker-archive:{saved}:wild/app:1")
    if how == "pzstd":
        run("pzstd", "-q", "-f", "-p", "2", saved, "-o", f"{saved}.zst")
        assert open(f"{saved}.zst", "rb").read(4)[1:] == b"\x2a\x4d\x18"
    else:
        run("sh", "-c",
            f"split -b 300000 -a 3 {saved} {saved}.part. && for p in {saved}.part.*; do zstd -q --rm $p; done "
                        f"&& cat {saved}.part.*.zst > {saved}.zst")
    for source in (f"docker-archive:{saved}", f"docker-archive:{saved}.zst", f"{saved}.zst"):
        same_files(ll.open_source(source, progress=False), plain)
    # an oci-archive compressed by pzstd too
    run("pzstd", "-q", "-f", "-p", "2", archive, "-o", f"{archive}.zst")
    same_files(ll.open_source(f"oci-archive:{archive}.zst:app", progress=False), plain)


def test_a_zstd_stream_of_many_frames_cut_inside_one_is_truncated(wild, tmp_path):
    work, base, reg = wild
    layout = zstd_frames_layout(base, "app", tmp_path / "cut", "frames", tmp_path)
    manifest = json.loads((layout / "blobs/sha256"
                           / json.loads((layout / "index.json").read_text())["manifests"][0]["digest"][7:]).read_text())
    blob = layout / "blobs/sha256" / manifest["layers"][0]["digest"][7:]
    from layerlab.sources.layerfiles.tarstream import read_layer

    data = blob.read_bytes()
    import io

    with pytest.raises(ll.LayerlabError, match="truncated"):
        read_layer(io.BytesIO(data[: len(data) // 2]).read, "x", "cut")
    assert len(read_layer(io.BytesIO(data).read, "x", "whole").rows) > 100


def test_schema1_reads_as_skopeo_converts_it(wild):
    """skopeo --format v2s1 pushes a signed schema1 manifest; docker:// reads it with the files of the
    image it came from, the image ID is the config skopeo makes converting it back (docker-archive:),
    and the manifest digest is the signed payload's, as the registry and skopeo give it."""
    work, base, reg = wild
    ref = f"{reg.host}/wild/schema1:1"
    push(reg, f"oci:{base}:app", ref, "--format", "v2s1")
    r = requests.get(f"{reg.url}/v2/wild/schema1/manifests/1", auth=("alice", "s3cret"), verify=str(reg.ca_file),
                     headers={"Accept": "application/vnd.docker.distribution.manifest.v1+prettyjws"})
    assert r.headers["Content-Type"] == "application/vnd.docker.distribution.manifest.v1+prettyjws"
    assert "signatures" in r.json()
    inv = remote(reg, ref)
    plain = ll.open_source(f"oci:{base}:app", progress=False)
    same_files(inv, plain)
    saved = work / "schema1.tar"
    run("skopeo", "copy", "-q", *reg.skopeo_args(side="src", user="alice"), f"docker://{ref}",
        f"docker-archive:{saved}")
    skopeo_config = json.loads(subprocess.run(["tar", "-xOf", saved, "manifest.json"], capture_output=True,
                                              check=True).stdout)[0]["Config"]
    assert inv.images["image_id"].iloc[0] == "sha256:" + skopeo_config.removesuffix(".json")
    assert inv.images["digests"].iloc[0] == [f"{reg.host}/wild/schema1@{r.headers['Docker-Content-Digest']}"]
    out = subprocess.run(["skopeo", "inspect", *reg.skopeo_args(user="alice"), f"docker://{ref}"], check=True,
                         capture_output=True, text=True).stdout
    assert json.loads(out)["Digest"] == r.headers["Docker-Content-Digest"]
    hist = inv.history.sort_values("index")
    assert len(hist) == 2 and not hist["empty_layer"].any()
    # its archive reads the same too
    same_files(ll.open_source(f"docker-archive:{saved}", progress=False), plain)


def test_attestation_without_annotation_and_index_platform(wild):
    """An attestation entry without its annotations is left out everywhere; when the index entry's
    platform (arm64) and the config's (amd64) disagree, the index entry's decides for oci:,
    oci-archive: and docker:// alike, as containerd and skopeo choose."""
    work, base, reg = wild
    plain = ll.open_source(f"oci:{base}:app", progress=False)
    assert list(plain.images["architecture"]) == ["amd64"]
    layout = with_index(base, "app", work / "att", {"os": "linux", "architecture": "arm64"}, attestation=True)
    ref = f"{reg.host}/wild/att:1"
    push(reg, f"oci:{layout}:app", ref, "--all")
    archive = tar_layout(layout, work / "att.tar")
    sources = {"oci": lambda **kw: ll.open_source(f"oci:{layout}:app", progress=False, **kw),
               "oci-archive": lambda **kw: ll.open_source(f"oci-archive:{archive}:app", progress=False, **kw),
               "docker": lambda **kw: remote(reg, ref, **kw)}
    for name, open_ in sources.items():
        inv = open_(platform="linux/arm64")
        assert len(inv.images) == 1, name
        same_files(inv, plain)
        with pytest.raises(ImageNotFound):
            open_(platform="linux/amd64").files
    assert len(sources["oci"]().images) == 1  # no platform asked: the image, not the attestation


def publish_foreign(reg, base, repository: str, server, auth=None) -> tuple[str, str]:
    """Push ``base`` to ``repository`` (schema2, by skopeo), then a manifest of it whose base layer is
    foreign, its blob served by ``server`` at the url the manifest names. Returns (ref, blob digest)."""
    ref = f"{reg.host}/{repository}"
    push_args = reg.skopeo_args(side="dest", user="alice" if auth else None)
    run("skopeo", "copy", "-q", "--format", "v2s2", *push_args, f"oci:{base}:app", f"docker://{ref}:src")
    s = requests.Session()
    s.auth, s.verify = auth, (str(reg.ca_file) if reg.ca_file else True)
    s.trust_env = False  # REQUESTS_CA_BUNDLE would override the test CA
    mtype = "application/vnd.docker.distribution.manifest.v2+json"
    manifest = s.get(f"{reg.url}/v2/{repository}/manifests/src", headers={"Accept": mtype}).json()
    layer = manifest["layers"][0]
    server.blob = s.get(f"{reg.url}/v2/{repository}/blobs/{layer['digest']}").content
    server.route(r"^/layers/", lambda srv, h: (200, {"Content-Type": "application/octet-stream"}, server.blob))
    layer["mediaType"] = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    layer["urls"] = [f"{server.url}/layers/{layer['digest']}"]
    put = s.put(f"{reg.url}/v2/{repository}/manifests/1", data=json.dumps(manifest), headers={"Content-Type": mtype})
    put.raise_for_status()
    return f"{ref}:1", layer["digest"]


#: distribution takes foreign layer urls only from hosts it is told to allow
ALLOW_FOREIGN = {"validation": {"manifests": {"urls": {"allow": [r"^http://127\.0\.0\.2:\d+/layers/"]}}}}


@pytest.fixture
def foreign(wild):
    """A manifest in the registry whose base layer is foreign: its blob served by another loopback
    host (127.0.0.2), named by urls. Yields (ref, server, blob digest)."""
    work, base, reg = wild
    with Scripted("127.0.0.2") as server:
        ref, digest = publish_foreign(reg, base, "wild/foreign", server, auth=("alice", "s3cret"))
        yield ref, server, digest


def test_foreign_layers_come_from_their_urls_without_credentials(wild, foreign, capsys):
    work, base, reg = wild
    ref, server, digest = foreign
    plain = ll.open_source(f"oci:{base}:app", progress=False)
    inv = remote(reg, ref)
    same_files(inv, plain)
    fetched = [(p, h) for m, p, h in server.seen if m == "GET"]
    assert fetched and all(p == f"/layers/{digest}" for p, _ in fetched)
    assert server.authorizations() == []  # the registry's login went to the registry only
    # skopeo leaves the foreign blob out of a layout: oci: and oci-archive: fetch it from its urls
    layout = work / "foreign-layout"
    run("skopeo", "copy", "-q", *reg.skopeo_args(side="src", user="alice"), f"docker://{ref}", f"oci:{layout}:app")
    assert not (layout / "blobs/sha256" / digest[7:]).exists()
    archive = tar_layout(layout, work / "foreign-layout.tar")
    before = len(server.seen)
    for source in (f"oci:{layout}:app", f"oci-archive:{archive}:app"):
        same_files(ll.open_source(source, progress=False), plain)
    assert len(server.seen) == before + 2 and server.authorizations() == []
    # docker-archive: skopeo fetched it itself and stores it
    saved = work / "foreign-docker.tar"
    run("skopeo", "copy", "-q", *reg.skopeo_args(side="src", user="alice"), f"docker://{ref}",
        f"docker-archive:{saved}")
    same_files(ll.open_source(f"docker-archive:{saved}", progress=False), plain)
    # as docker save writes it on Windows: the layer left out, its urls in LayerSources
    desc = {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "digest": digest,
            "size": len(server.blob), "urls": [f"{server.url}/layers/{digest}"]}
    stripped = save_without_foreign(saved, work / "foreign-stripped.tar", desc)
    before = len(server.seen)
    same_files(ll.open_source(f"docker-archive:{stripped}", progress=False), plain)
    assert len(server.seen) == before + 1 and server.authorizations() == []
    # turned off: the layer is skipped, with a reason, and the rest is read
    with pytest.warns(UserWarning, match="foreign layer"):
        for inv in (remote(reg, ref, foreign_layers="skip"), ll.open_source(f"oci:{layout}:app", progress=False,
                                                                            foreign_layers="skip")):
            assert len(inv.skipped) == 1 and "foreign layer" in inv.skipped["reason"].iloc[0]
            base_layer = inv.image_layers.sort_values("position")["layer_id"].iloc[0]
            assert not (inv.files["layer_id"] == base_layer).any()
            assert (inv.files["layer_id"] != base_layer).sum() == (plain.files["layer_id"] != base_layer).sum()
    # a url serving other bytes is refused as any blob is
    server.blob = server.blob[:-10] + b"\0" * 10
    with pytest.raises(DigestMismatch):
        remote(reg, ref)
    with pytest.raises(ll.LayerlabError):
        ll.open_source(f"oci:{layout}:app", progress=False).files
    # the CLI: --foreign-layers skip reads the image without the layer its url now serves wrongly
    from layerlab.cli import main

    capsys.readouterr()
    assert main(["summary", f"oci:{layout}:app", "--json", "--foreign-layers", "skip"]) == 0
    done = capsys.readouterr()  # the CLI gathers warnings and says each kind once on stderr, and in --json
    assert "foreign layer" in done.err and "Traceback" not in done.err
    assert any("foreign layer" in s["reason"] for s in json.loads(done.out)["skipped"])
    assert main(["summary", f"oci:{layout}:app", "--json"]) != 0

