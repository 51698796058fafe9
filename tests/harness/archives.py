"""Image archives and layouts for tests and benchmarks, made by the real tools from a test daemon.

``docker save`` of Debian's dockerd (20.10) writes the classic archive form; the OCI-layout form
Docker 25+ writes (an OCI layout with ``manifest.json`` and ``repositories`` beside it, layers
uncompressed) is assembled here from a layout ``skopeo copy`` made out of the same daemon, with the
``manifest.json`` Docker 25 adds written from that layout's own manifests.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path


def skopeo(*args: str) -> None:
    proc = subprocess.run(["skopeo", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"skopeo {' '.join(args)} failed: {proc.stderr.strip()}")


def daemon_to_layout(daemon, tags: list[str], layout: Path, *, compression: str | None = None) -> Path:
    """Copy ``tags`` from ``daemon`` into the OCI layout ``layout`` (one index entry per tag, shared
    blobs once). Layers stay uncompressed, as Docker 25 stores them, unless ``compression`` is
    ``gzip`` or ``zstd``."""
    for tag in tags:
        extra = (["--dest-oci-accept-uncompressed-layers"] if compression is None
                 else ["--dest-compress-format", compression])
        skopeo("copy", "-q", "--src-daemon-host", daemon.host, *extra, f"docker-daemon:{tag}", f"oci:{layout}:{tag}")
    return layout


def docker25_archive(layout: Path, out: Path) -> Path:
    """A tar of ``layout`` with the ``manifest.json`` and ``repositories`` Docker 25+ ``docker save`` adds."""
    index = json.loads((layout / "index.json").read_text())
    entries, repos = [], {}
    for desc in index["manifests"]:
        tag = desc.get("annotations", {}).get("org.opencontainers.image.ref.name")
        manifest = json.loads((layout / "blobs" / "sha256" / desc["digest"][7:]).read_text())
        cfg = "blobs/sha256/" + manifest["config"]["digest"][7:]
        entries.append({"Config": cfg, "RepoTags": [tag] if tag else [],
                        "Layers": ["blobs/sha256/" + l["digest"][7:] for l in manifest["layers"]]})
        if tag:
            repo, _, t = tag.rpartition(":")
            repos.setdefault(repo, {})[t] = manifest["config"]["digest"][7:]
    (layout / "manifest.json").write_text(json.dumps(entries))
    (layout / "repositories").write_text(json.dumps(repos))
    with tarfile.open(out, "w") as tar:
        for name in sorted(os.listdir(layout)):
            tar.add(layout / name, arcname=name)
    return out
