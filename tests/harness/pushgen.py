"""Many small images pushed through a real registry's HTTP API, for benchmarks that need thousands
of blobs (building each with dockerd would take an hour on two cores).

Each image is a real one: a gzipped layer tar made with :mod:`tarfile`, a config whose
``rootfs.diff_ids`` are the layers' uncompressed digests, and a schema2 manifest; the registry
(distribution) writes its own storage layout for them, as for a ``docker push``. A shared base layer
is cross-repository mounted, as docker does.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from concurrent.futures import ThreadPoolExecutor

import requests

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def _layer(files: dict[str, bytes]) -> tuple[bytes, str]:
    """(gzipped tar, diff_id) of a layer holding ``files``."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), "sha256:" + hashlib.sha256(tar_bytes).hexdigest()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Pusher:
    """Pushes blobs and manifests to ``url`` (a plain-HTTP registry on loopback) over one session."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.trust_env = False
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=32)
        self.session.mount("http://", adapter)

    def blob(self, repo: str, data: bytes, mount_from: str | None = None) -> str:
        digest = _digest(data)
        if mount_from:
            r = self.session.post(f"{self.url}/v2/{repo}/blobs/uploads/", params={"mount": digest, "from": mount_from})
            if r.status_code == 201:
                return digest
        else:
            r = self.session.post(f"{self.url}/v2/{repo}/blobs/uploads/")
        r.raise_for_status()
        location = requests.compat.urljoin(self.url, r.headers["Location"])
        put = self.session.put(location, params={"digest": digest}, data=data,
                               headers={"Content-Type": "application/octet-stream"})
        put.raise_for_status()
        return digest

    def image(self, repo: str, tag: str, layers: list[tuple[bytes, str]], mounts: dict[int, str] | None = None,
              label: str = "") -> str:
        """Push an image of ``layers`` ((gzipped tar, diff_id), bottom first) as ``repo:tag``; its digest."""
        descriptors = []
        for i, (blob, _) in enumerate(layers):
            digest = self.blob(repo, blob, (mounts or {}).get(i))
            descriptors.append({"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                                "size": len(blob), "digest": digest})
        config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": {"n": label}},
                             "rootfs": {"type": "layers", "diff_ids": [d for _, d in layers]},
                             "history": [{"created_by": f"layer {i}"} for i in range(len(layers))]},
                            sort_keys=True).encode()
        config_digest = self.blob(repo, config)
        manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_V2,
                               "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                                          "size": len(config), "digest": config_digest},
                               "layers": descriptors}, indent=3).encode()
        r = self.session.put(f"{self.url}/v2/{repo}/manifests/{tag}", data=manifest,
                             headers={"Content-Type": MANIFEST_V2})
        r.raise_for_status()
        return _digest(manifest)

    def delete(self, repo: str, digest: str) -> None:
        self.session.delete(f"{self.url}/v2/{repo}/manifests/{digest}").raise_for_status()


def push_many(url: str, *, repos: int, images: int, overwrite_every: int = 3, delete_every: int = 5,
              workers: int = 8) -> dict:
    """Push ``images`` small images into each of ``repos`` repositories, with history for GC.

    Every image has a shared base layer (mounted from the first repository) and one layer of its
    own. Every ``overwrite_every``-th image is pushed under the previous image's tag (leaving an
    untagged manifest), and in each repository every ``delete_every``-th image is deleted by digest.
    Returns counts: ``images``, ``deleted``, ``repositories``.
    """
    pusher = Pusher(url)
    base = _layer({"base.txt": b"shared base layer\n" * 64})
    first = "bench/r000"
    pusher.image(first, "base", [base], label="base")

    def fill(r: int) -> int:
        repo = f"bench/r{r:03d}"
        deleted = 0
        tag = None
        for i in range(images):
            own = _layer({"n.txt": f"{repo} image {i}\n".encode() * (1 + i % 7)})
            if tag is None or i % overwrite_every:
                tag = f"v{i}"
            digest = pusher.image(repo, tag, [base, own], mounts={0: first}, label=f"{r}-{i}")
            if delete_every and i % delete_every == delete_every - 1:
                pusher.delete(repo, digest)
                deleted += 1
                tag = None  # deleting by digest removed the tags pointing at it
        return deleted

    with ThreadPoolExecutor(max_workers=workers) as pool:
        deleted = sum(pool.map(fill, range(repos)))
    return {"images": repos * images + 1, "deleted": deleted, "repositories": repos}
