"""Images as registries hold them in the wild, for tests: made by umoci, skopeo and the zstd CLI.

- ``umoci_image``: an OCI layout with a two-layer image, made by umoci (no daemon needed).
- ``zstd_frames_layout``: the same image with each layer recompressed into many zstd frames by the
  ``zstd`` CLI (the tar split in pieces, each its own frame, as zstd:chunked writes one frame per
  file), or by ``pzstd`` (a skippable frame before each frame). skopeo 1.9's own
  ``--dest-compress-format zstd:chunked`` drops the tar's end-of-archive blocks (docs/sources.md),
  so the frames of a whole tar are made so; the manifest naming the new blobs is written here (the
  config, hence the diff IDs and layer IDs, is unchanged).
- ``with_index``: the image behind a nested index entry with a platform, optionally beside an
  attestation manifest as buildkit writes it (in-toto layer, platform unknown/unknown) without its
  ``vnd.docker.reference.*`` annotations. No tool here writes those (no buildx in Debian 12), so the
  entry is written as buildkit's exporter writes it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
REF = "org.opencontainers.image.ref.name"


def run(*cmd) -> str:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed: {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def umoci_image(layout: Path, tag: str, work: Path) -> Path:
    """A two-layer image ``layout:tag`` made by GNU tar and umoci: a base of many small files, then an
    overwrite and a delete (a whiteout)."""
    one, two = work / "one", work / "two"
    for d in (one / "usr/share/data", one / "etc", two / "etc"):
        d.mkdir(parents=True, exist_ok=True)
    for i in range(300):
        (one / "usr/share/data" / f"f{i:03d}.txt").write_bytes(hashlib.sha256(str(i).encode()).hexdigest().encode()
                                                               * (i + 1))
    (one / "etc/config").write_text("first\n")
    (one / "etc/gone").write_text("deleted later\n")
    (two / "etc/config").write_text("second, longer\n" * 20)
    (two / "etc/.wh.gone").write_text("")
    # GNU tar makes the layer tars and umoci adds them (umoci 0.4.7's `insert` wrote a truncated tar here)
    run("umoci", "init", "--layout", layout)
    run("umoci", "new", "--image", f"{layout}:{tag}")
    for d in (one, two):
        run("tar", "-C", d, "-cf", f"{d}.tar", ".")
        run("umoci", "raw", "add-layer", "--image", f"{layout}:{tag}", f"{d}.tar")
    return layout


def _blob(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.split(":", 1)[1]


def _put(layout: Path, data: bytes) -> tuple[str, int]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    _blob(layout, digest).write_bytes(data)
    return digest, len(data)


def _entry(layout: Path, tag: str) -> dict:
    index = json.loads((layout / "index.json").read_text())
    return next(e for e in index["manifests"] if (e.get("annotations") or {}).get(REF) == tag)


def _set_index(layout: Path, entries: list[dict]) -> None:
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}))


def zstd_frames_layout(src: Path, tag: str, out: Path, how: str, work: Path) -> Path:
    """A copy of ``src`` whose layers are zstd streams of many frames: ``how`` is "frames" (the tar
    cut in 64 KiB pieces, each compressed by ``zstd``, the frames concatenated) or "pzstd"."""
    shutil.copytree(src, out)
    work.mkdir(parents=True, exist_ok=True)
    manifest = json.loads(_blob(out, _entry(out, tag)["digest"]).read_text())
    for layer in manifest["layers"]:
        tar = work / "layer.tar"
        run("sh", "-c", f"gzip -dc < {_blob(out, layer['digest'])} > {tar}")
        if how == "pzstd":
            run("pzstd", "-q", "-f", "-p", "2", tar, "-o", work / "layer.zst")
            data = (work / "layer.zst").read_bytes()
        else:
            parts = work / "parts"
            shutil.rmtree(parts, ignore_errors=True)
            parts.mkdir()
            run("split", "-b", "65536", "-a", "4", tar, parts / "p.")
            for p in sorted(parts.iterdir()):
                run("zstd", "-q", "--rm", p)
            data = b"".join(p.read_bytes() for p in sorted(parts.iterdir()))
        layer["digest"], layer["size"] = _put(out, data)
        layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar+zstd"
    digest, size = _put(out, json.dumps(manifest).encode())
    _set_index(out, [{"mediaType": OCI_MANIFEST, "digest": digest, "size": size, "annotations": {REF: tag}}])
    return out


def with_index(src: Path, tag: str, out: Path, platform: dict, *, attestation: bool = False) -> Path:
    """A copy of ``src`` where ``tag`` names a nested index holding the image under ``platform``
    (whatever its config says), and with ``attestation`` an in-toto attestation manifest beside it,
    platform unknown/unknown, without the annotations that name it one."""
    shutil.copytree(src, out)
    entry = _entry(out, tag)
    image = {"mediaType": OCI_MANIFEST, "digest": entry["digest"], "size": entry["size"], "platform": platform}
    children = [image]
    if attestation:
        statement = json.dumps({"_type": "https://in-toto.io/Statement/v0.1",
                                "predicateType": "https://slsa.dev/provenance/v0.2",
                                "subject": [{"name": "_", "digest": {"sha256": entry["digest"][7:]}}],
                                "predicate": {"builder": {"id": ""},
                                              "buildType": "https://mobyproject.org/buildkit@v1"}})
        ldigest, lsize = _put(out, statement.encode())
        cdigest, csize = _put(out, json.dumps({"architecture": "unknown", "os": "unknown", "config": {},
                                               "rootfs": {"type": "layers", "diff_ids": [ldigest]}}).encode())
        att = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
               "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdigest, "size": csize},
               "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": ldigest, "size": lsize,
                           "annotations": {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}}]}
        adigest, asize = _put(out, json.dumps(att).encode())
        children.append({"mediaType": OCI_MANIFEST, "digest": adigest, "size": asize,
                         "platform": {"architecture": "unknown", "os": "unknown"}})
    idigest, isize = _put(out, json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).encode())
    _set_index(out, [{"mediaType": OCI_INDEX, "digest": idigest, "size": isize, "annotations": {REF: tag}}])
    return out


def tar_layout(layout: Path, out: Path) -> Path:
    """An oci-archive: the layout's files in a tar, as `skopeo copy ... oci-archive:` lays them out."""
    run("tar", "-C", layout, "-cf", out, ".")
    return out


def push_as_is(registry, layout: Path, tag: str, repository: str, ref_tag: str, auth=None) -> None:
    """Push ``layout:tag`` (one manifest, its config and layers) byte for byte with the registry API.
    skopeo would rewrite a blob it cannot sniff (a pzstd stream, which starts with a skippable frame,
    it takes for an uncompressed tar and wraps in gzip), so the blobs go up as they are."""
    import requests

    entry = _entry(layout, tag)
    manifest = _blob(layout, entry["digest"]).read_bytes()
    doc = json.loads(manifest)
    with requests.Session() as s:
        s.auth, s.verify = auth, (str(registry.ca_file) if registry.ca_file else True)
        s.trust_env = False  # REQUESTS_CA_BUNDLE would override the test CA; loopback needs no proxy
        for desc in [doc["config"], *doc["layers"]]:
            start = s.post(f"{registry.url}/v2/{repository}/blobs/uploads/")
            start.raise_for_status()
            url = requests.compat.urljoin(registry.url, start.headers["Location"])
            sep = "&" if "?" in url else "?"
            put = s.put(f"{url}{sep}digest={desc['digest']}", data=_blob(layout, desc["digest"]).read_bytes(),
                        headers={"Content-Type": "application/octet-stream"})
            put.raise_for_status()
        put = s.put(f"{registry.url}/v2/{repository}/manifests/{ref_tag}", data=manifest,
                    headers={"Content-Type": doc.get("mediaType") or OCI_MANIFEST})
        put.raise_for_status()


def save_without_foreign(archive: Path, out: Path, descriptor: dict) -> Path:
    """``archive`` (skopeo's docker-archive:, which holds every layer) in the form `docker save` writes
    for an image with a foreign base layer on Windows: that layer's tar left out and its descriptor
    (urls included) named in ``LayerSources`` under its diff ID (moby's image/tarexport)."""
    import io
    import tarfile

    with tarfile.open(archive) as src:
        entry = json.loads(src.extractfile("manifest.json").read())
        config = json.loads(src.extractfile(entry[0]["Config"]).read())
        dropped = entry[0]["Layers"][0]
        entry[0]["LayerSources"] = {config["rootfs"]["diff_ids"][0]: descriptor}
        with tarfile.open(out, "w") as dst:
            for m in src.getmembers():
                if m.name == dropped:
                    continue
                if m.name == "manifest.json":
                    data = json.dumps(entry).encode()
                    m.size = len(data)
                    dst.addfile(m, io.BytesIO(data))
                else:
                    dst.addfile(m, src.extractfile(m) if m.isreg() else None)
    return out
