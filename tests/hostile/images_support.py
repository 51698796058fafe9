"""Real images to damage, made without a daemon: an OCI layout by GNU tar and umoci
(harness.wild.umoci_image) and a `docker save` archive of it by skopeo; and the few edits a test
makes to them (a member rewritten, a layer replaced with its config's diff ID and name kept true).

No tool writes the hostile bytes these tests need (JSON nested 100k deep, a `../` tar member), so the
tests write them into copies of what the tools made."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

from harness.tiers import missing, require
from harness.wild import run, umoci_image


def make_images(work: Path) -> tuple[Path, Path]:
    """(an OCI layout holding ``app:v1``, a docker-archive of the same image) made by umoci and skopeo."""
    require(missing(programs=("umoci", "skopeo", "tar")))
    work.mkdir(parents=True, exist_ok=True)
    layout = umoci_image(work / "layout", "v1", work)
    archive = work / "app.tar"
    run("skopeo", "copy", "-q", f"oci:{layout}:v1", f"docker-archive:{archive}:app:v1")
    return layout, archive


def unpack(archive: Path, into: Path) -> Path:
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    subprocess.run(["tar", "-C", str(into), "-xf", str(archive)], check=True)
    for p in into.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return into


def repack(folder: Path, out: Path) -> Path:
    """The members of ``folder`` in a tar, in sorted order as skopeo writes them."""
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as tar:
        for p in sorted(folder.iterdir()):
            tar.add(p, arcname=p.name)
    return out


def manifest(folder: Path) -> list:
    return json.loads((folder / "manifest.json").read_text())


def set_manifest(folder: Path, data) -> None:
    (folder / "manifest.json").write_text(json.dumps(data))


def replace_layer(folder: Path, position: int, layer: bytes) -> None:
    """Put ``layer`` (an uncompressed tar) in place of the archive's layer ``position``: its file, its
    diff ID in the config, and the config's name (its digest) in manifest.json all follow."""
    entries = manifest(folder)
    entry = entries[0]
    (folder / entry["Layers"][position]).unlink()
    digest = hashlib.sha256(layer).hexdigest()
    name = f"{digest}.tar"
    (folder / name).write_bytes(layer)
    entry["Layers"][position] = name
    config = json.loads((folder / entry["Config"]).read_text())
    config["rootfs"]["diff_ids"][position] = "sha256:" + digest
    (folder / entry["Config"]).unlink()
    raw = json.dumps(config).encode()
    entry["Config"] = hashlib.sha256(raw).hexdigest() + ".json"
    (folder / entry["Config"]).write_bytes(raw)
    set_manifest(folder, entries)


def tar_of(entries: list[tuple[str, bytes | None, str | None]]) -> bytes:
    """An uncompressed tar of ``(name, contents or None for a folder, hard link target or None)``,
    names written exactly as given (tarfile keeps ``../``)."""
    import io

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, link in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if link is not None:
                info.type, info.linkname = tarfile.LNKTYPE, link
                tar.addfile(info)
            elif data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def blob_path(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.split(":", 1)[1]


def put_blob(layout: Path, data: bytes) -> tuple[str, int]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blob_path(layout, digest).write_bytes(data)
    return digest, len(data)


def index(layout: Path) -> dict:
    return json.loads((layout / "index.json").read_text())


def image_manifest(layout: Path) -> tuple[dict, dict]:
    """(the index entry of app:v1, its manifest)."""
    entry = index(layout)["manifests"][0]
    return entry, json.loads(blob_path(layout, entry["digest"]).read_text())


def set_manifest_blob(layout: Path, manifest_doc: dict, **entry_changes) -> None:
    """Write ``manifest_doc`` as a new blob and point the index's entry at it (digest and size true)."""
    idx = index(layout)
    digest, size = put_blob(layout, json.dumps(manifest_doc).encode())
    idx["manifests"][0].update({"digest": digest, "size": size, **entry_changes})
    (layout / "index.json").write_text(json.dumps(idx))
