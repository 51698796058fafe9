"""A registry's storage at production scale, written as distribution lays it out (docs/formats.md,
"Registry storage"), for the storage benchmark and its live test against ``garbage-collect``.

Pushing 100,000 manifests through a real registry would take days on a test machine, so the files
are written directly, in the layout distribution 2.8's filesystem and s3 drivers use: blob data at
``blobs/sha256/<xx>/<hex>/data`` (content addressed: every digest is the sha256 of the bytes
written), and per repository the links distribution writes when it accepts a push or a delete:
``_layers/sha256/<hex>/link`` for each config and layer blob pushed or mounted into the repository,
``_manifests/revisions/sha256/<hex>/link`` for each manifest, ``_manifests/tags/<tag>/current/link``
and ``.../index/sha256/<hex>/link`` for a tag and its history. What the generator cannot take from
distribution it says: layer bytes are small (counts, not bytes, make an audit slow), and the
pattern below is chosen to look like a busy registry's, not measured from one.

The pattern (``generate(repos=, manifests=, blobs=)``, full size 10,000 / 100,000 / 300,000):

- a few base images (``bases``, 2-4 layers each) shared by every repository, picked with Zipf
  weights: many images on few bases, as `FROM debian`/`FROM alpine` make them;
- each repository pushes a series of versions: a config and 1-2 layers of its own each (about
  half of them reusing the previous version's dependency layer), tagged ``vN`` and ``latest``
  (``latest`` moves on; its older targets stay in the tag's history);
- some versions are untagged (pushed by digest or whose tag was overwritten), some are
  multi-platform: an OCI index (tagged) of two image manifests (untagged children);
- some manifests were deleted through the API (distribution removes the revision link and the tag
  links, the blobs stay); some uploads never got a manifest (a layer link and its blob only).

Manifest counts include indexes and their children; the number of blobs follows from the
pattern (about three per image manifest) and the requested ``blobs`` only tunes the share of
versions with two layers of their own.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

FULL = {"repos": 10_000, "manifests": 100_000, "blobs": 300_000}
STAMP = "generated.json"

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


class _Writer:
    """Writes the files of one storage root, each blob once."""

    def __init__(self, v2: Path):
        self.v2 = v2
        self.blobs: dict[str, int] = {}
        self.paths: set[str] = set()

    def _write(self, rel: str, data: bytes) -> None:
        path = self.v2 / rel
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        self.paths.add(rel)

    def blob(self, data: bytes) -> tuple[str, int]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if digest not in self.blobs:
            hexpart = digest[7:]
            self._write(f"blobs/sha256/{hexpart[:2]}/{hexpart}/data", data)
            self.blobs[digest] = len(data)
        return digest, len(data)

    def link(self, repo: str, kind: str, digest: str, tag: str | None = None) -> None:
        hexpart = digest[7:]
        base = f"repositories/{repo}"
        rel = {"layer": f"{base}/_layers/sha256/{hexpart}/link",
               "revision": f"{base}/_manifests/revisions/sha256/{hexpart}/link",
               "current": f"{base}/_manifests/tags/{tag}/current/link",
               "history": f"{base}/_manifests/tags/{tag}/index/sha256/{hexpart}/link"}[kind]
        self._write(rel, digest.encode())


def _descriptor(media_type: str, digest: str, size: int, **extra) -> dict:
    return {"mediaType": media_type, "size": size, "digest": digest, **extra}


def generate(out, *, repos: int, manifests: int, blobs: int, bases: int = 12, seed: int = 0,
             progress=None) -> dict:
    """Write a registry storage root at ``out`` (``out/docker/registry/v2``), or reuse the one a
    previous call with the same arguments wrote (its ``generated.json``). Returns its figures:
    repositories, manifests (by kind), blobs, bytes, files, and the parameters."""
    out = Path(out)
    params = {"repos": repos, "manifests": manifests, "blobs": blobs, "bases": bases, "seed": seed, "version": 1}
    stamp = out / STAMP
    if stamp.is_file():
        done = json.loads(stamp.read_text())
        if done.get("params") == params:
            return done
        raise FileExistsError(f"{out} holds a storage generated with {done.get('params')}; give an empty folder")
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty and holds no {STAMP}; give an empty folder")
    rng = random.Random(seed)
    v2 = out / "docker" / "registry" / "v2"
    w = _Writer(v2)

    def layer(size_hint: int) -> tuple[str, int]:
        return w.blob(rng.randbytes(rng.randint(size_hint // 2, size_hint)))

    base_layers = [[layer(4096) for _ in range(rng.randint(2, 4))] for _ in range(bases)]
    weights = [1 / (k + 1) for k in range(bases)]  # Zipf: a few bases carry most images
    per_repo = max(1, manifests // max(repos, 1))
    # Image manifests make about 3 blobs each (manifest, config, own layer); a second own layer
    # on some versions brings the blob count toward ``blobs``.
    two_layers = min(1.0, max(0.0, blobs / max(manifests, 1) - 3.0))
    counts = {"image": 0, "index": 0, "index_child": 0, "untagged": 0, "deleted": 0, "orphan_uploads": 0}
    made = 0

    def image(repo: str, base, dep, version: int, oci: bool) -> tuple[str, int, dict]:
        nonlocal made
        own = [layer(2048)]
        if rng.random() < two_layers:
            own.append(layer(1024))
        config = json.dumps({"architecture": "amd64", "os": "linux", "created": f"2026-01-01T00:00:{version % 60:02d}Z",
                             "config": {"Labels": {"repo": repo, "version": str(version)}},
                             "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(
                                 f"{d}{repo}".encode()).hexdigest() for d, _ in base + [dep] + own]}}).encode()
        cfg = w.blob(config)
        lt, ct, mt = (OCI_LAYER, OCI_CONFIG, OCI_MANIFEST) if oci else (DOCKER_LAYER, DOCKER_CONFIG, DOCKER_MANIFEST)
        body = {"schemaVersion": 2, "mediaType": mt, "config": _descriptor(ct, *cfg),
                "layers": [_descriptor(lt, d, s) for d, s in base + [dep] + own]}
        data = json.dumps(body, indent=3).encode()
        digest, size = w.blob(data)
        for d, _ in [cfg, *base, dep, *own]:
            w.link(repo, "layer", d)  # pushed or mounted into the repository
        made += 1
        return digest, size, body

    for r in range(repos):
        repo = f"team{r % 97:02d}/svc-{r:05d}" if r % 3 else f"lib/app-{r:05d}"
        base = base_layers[rng.choices(range(bases), weights)[0]]
        dep = layer(8192)
        target = per_repo + (1 if r < manifests - per_repo * repos else 0)
        version = 0
        in_repo = 0
        latest_history = []
        while in_repo < target:
            version += 1
            if rng.random() < 0.5:
                dep = layer(8192)  # dependencies changed: a new layer
            oci = rng.random() < 0.3
            roll = rng.random()
            if roll < 0.06 and target - in_repo >= 3:  # a multi-platform push: an index and two children
                children = [image(repo, base, dep, version * 10 + k, True) for k in range(2)]
                for digest, _, _ in children:
                    w.link(repo, "revision", digest)
                idx = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
                    _descriptor(OCI_MANIFEST, d, s, platform={"architecture": arch, "os": "linux"})
                    for (d, s, _), arch in zip(children, ("amd64", "arm64"))]}
                digest, _ = w.blob(json.dumps(idx, indent=3).encode())
                w.link(repo, "revision", digest)
                counts["index"] += 1
                counts["index_child"] += 2
                in_repo += 3
                made += 1
            else:
                digest, _, _ = image(repo, base, dep, version, oci)
                in_repo += 1
                if roll < 0.11:  # deleted through the API: the revision and tag links go, the blobs stay
                    counts["deleted"] += 1
                    continue
                w.link(repo, "revision", digest)
                counts["image"] += 1
                if roll < 0.25:  # pushed by digest, never tagged
                    counts["untagged"] += 1
                    continue
            latest_history.append((f"v{version}", digest))
        if latest_history:
            last = latest_history[-1][1]
            for tag, d in latest_history:
                w.link(repo, "history", d, tag)
                if d != last and rng.random() < 0.15:  # vN rebuilt and re-pushed: the old one is untagged now
                    counts["untagged"] += 1
                    w.link(repo, "history", last, tag)
                    w.link(repo, "current", last, tag)
                else:
                    w.link(repo, "current", d, tag)
                w.link(repo, "history", d, "latest")  # latest moved with each tagged push
            w.link(repo, "current", last, "latest")
        if rng.random() < 0.05:  # an upload that never got a manifest
            orphan, _ = layer(2048)
            w.link(repo, "layer", orphan)
            counts["orphan_uploads"] += 1
        if progress is not None:
            progress(r + 1, repos)
    figures = {"params": params, "repositories": repos, "manifests": made, "manifest_kinds": counts,
               "blobs": len(w.blobs), "blob_bytes": sum(w.blobs.values()), "files": len(w.paths),
               "root": str(out)}
    stamp.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def scaled(fraction: float) -> dict:
    """The full size's repos/manifests/blobs times ``fraction`` (at least one repository)."""
    return {k: max(1, round(v * fraction)) for k, v in FULL.items()}


def upload(root, s3_client, bucket: str, prefix: str = "", workers: int = 16, progress=None) -> int:
    """Copy a generated storage root's files into ``bucket`` under ``prefix`` (distribution's s3
    driver keys: ``PREFIX/docker/registry/v2/...``), concurrently; returns the objects written."""
    from concurrent.futures import ThreadPoolExecutor

    root = Path(root)
    files = [p for p in (root / "docker").rglob("*") if p.is_file()]
    keys = [(p, "/".join(x for x in (prefix.strip("/"), p.relative_to(root).as_posix()) if x)) for p in files]

    def put(item):
        p, key = item
        s3_client.put_object(Bucket=bucket, Key=key, Body=p.read_bytes())

    done = 0
    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(put, keys):
            done += 1
            if progress is not None and done % 1000 == 0:
                progress(done, len(keys))
    return len(keys)
