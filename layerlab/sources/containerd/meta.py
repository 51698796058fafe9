"""containerd's metadata (meta.db) and its snapshotters' databases (metadata.db) as pandas DataFrames.

Layouts follow containerd's ``metadata/buckets.go`` and ``snapshots/storage/bolt.go`` (see
docs/containerd.md). Everything is read through :mod:`layerlab.sources.containerd.bbolt`: read-only, no lock,
nothing under the containerd root is created or changed.

Usage::

    meta = read_containerd_meta("/var/lib/containerd")
    meta.images      # one row per (namespace, image name)
    meta.snapshots   # one row per (namespace, snapshotter, key), with the backend's id/kind/size and `fs`
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

import pandas as pd

from ...errors import BoltError, NotADataRoot
from ...frames import schema
from .._reader import listdir
from .bbolt import DB, Bucket

META_DB = os.path.join("io.containerd.metadata.v1.bolt", "meta.db")
CONTENT_DIR = os.path.join("io.containerd.content.v1.content", "blobs")
SNAPSHOTTER_DIR = "io.containerd.snapshotter.v1.{}"

#: Backend snapshot kinds (containerd ``snapshots.Kind``: Unknown, View, Active, Committed).
KINDS = {0: "Unknown", 1: "View", 2: "Active", 3: "Committed"}

LABEL_UNCOMPRESSED = "containerd.io/uncompressed"
LABEL_SNAPSHOT_REF = "containerd.io/snapshot.ref"
LABEL_GC_CONTENT = "containerd.io/gc.ref.content."
LABEL_GC_SNAPSHOT = "containerd.io/gc.ref.snapshot."

STRING = "string"
TIME = schema.TIME

# Go's time.Time counts seconds from 0001-01-01; Unix time starts this many seconds later.
_GO_UNIX_OFFSET = 62135596800


# -- value decoders (Go encoding/binary and time) ------------------------------------------------
def uvarint(buf: bytes | None) -> int | None:
    """Go ``binary.Uvarint``: LEB128, little-endian groups of 7 bits. None for empty/invalid input."""
    if not buf:
        return None
    result = shift = 0
    for i, byte in enumerate(buf):
        if i >= 10:
            return None
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result
        shift += 7
    return None


def varint(buf: bytes | None) -> int | None:
    """Go ``binary.Varint``: a zig-zag encoded uvarint (0, -1, 1, -2, ... as 0, 1, 2, 3, ...)."""
    u = uvarint(buf)
    if u is None:
        return None
    return ~(u >> 1) if u & 1 else u >> 1


def go_time(buf: bytes | None) -> pd.Timestamp:
    """Go ``time.Time.MarshalBinary`` (version 1 or 2) as a UTC Timestamp; NaT for zero/absent.

    Layout: version byte, seconds since 0001-01-01 (int64 BE), nanoseconds (int32 BE), zone offset
    in minutes (int16 BE, -1 = UTC), and in version 2 one more byte of offset seconds. The instant
    does not depend on the zone, so the offset is only checked, not applied.
    """
    if not buf or buf[0] not in (1, 2) or len(buf) < 15:
        return pd.NaT
    sec, nsec = struct.unpack_from(">qi", buf, 1)
    if sec == 0 and nsec == 0:
        return pd.NaT  # Go's zero time.Time: a field never set (IsZero), not a time in year 1
    # nanoseconds truncated toward the past, as every layerlab time (schema.TIME is microseconds)
    return schema.timestamp_us((sec - _GO_UNIX_OFFSET) * 1_000_000 + nsec // 1000)


def _text(buf: bytes | None) -> str | None:
    return None if buf is None else buf.decode("utf-8", "surrogateescape")


def _labels(bucket: Bucket | None, name: str = "labels") -> dict[str, str]:
    sub = bucket.bucket(name) if bucket is not None else None
    if sub is None:
        return {}
    return {_text(k): _text(v) for k, v in sub.items()}


def _fields(bucket: Bucket) -> dict[bytes, bytes]:
    """The plain values of a bucket in one pass (cheaper than one ``get`` per field)."""
    return dict(bucket.items())


# -- frames ----------------------------------------------------------------------------------------
def _frame(rows: list[dict], dtypes: dict[str, str]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(dtypes))
    for col, dtype in dtypes.items():
        if dtype == TIME:
            df[col] = schema.time_column(df[col])
        else:
            df[col] = df[col].astype(dtype)
    return df


IMAGES = {
    "namespace": STRING, "name": STRING, "target_digest": STRING, "target_media_type": STRING,
    "target_size": "Int64", "created": TIME, "updated": TIME, "labels": "object", "annotations": "object",
}
CONTENT = {
    "namespace": STRING, "digest": STRING, "size": "Int64", "created": TIME, "updated": TIME,
    "labels": "object", "uncompressed": STRING, "gc_ref_content": "object", "gc_ref_snapshots": "object",
    "blob": "object", "blob_exists": "bool",
}
INGESTS = {"namespace": STRING, "key": STRING, "ref": STRING, "expected": STRING, "expire_at": TIME}
META_SNAPSHOTS = {
    "namespace": STRING, "snapshotter": STRING, "key": STRING, "name": STRING, "parent": STRING,
    "created": TIME, "updated": TIME, "labels": "object", "snapshot_ref": STRING, "children": "object",
}
BACKEND = {
    "snapshotter": STRING, "name": STRING, "id": "Int64", "kind": STRING, "backend_parent": STRING,
    "size": "Int64", "inodes": "Int64", "backend_created": TIME, "backend_updated": TIME,
    "backend_labels": "object", "fs": "object", "fs_exists": "bool",
}
SNAPSHOTS = {**META_SNAPSHOTS, **{k: v for k, v in BACKEND.items() if k not in ("snapshotter", "name")}}
LEASES = {
    "namespace": STRING, "id": STRING, "created": TIME, "labels": "object",
    "snapshots": "object", "content": "object", "ingests": "object",
}
CONTAINERS = {
    "namespace": STRING, "id": STRING, "image": STRING, "snapshotter": STRING, "snapshot_key": STRING,
    "runtime": STRING, "sandbox": STRING, "created": TIME, "updated": TIME, "labels": "object",
}
NAMESPACES = {"namespace": STRING, "labels": "object"}


@dataclass
class ContainerdMeta:
    """What containerd's databases say about one containerd root, as DataFrames."""

    root: str
    meta_db: str
    db_version: int | None
    txid: int
    namespaces: pd.DataFrame
    images: pd.DataFrame
    content: pd.DataFrame
    ingests: pd.DataFrame
    snapshots: pd.DataFrame
    backend_snapshots: pd.DataFrame
    leases: pd.DataFrame
    containers: pd.DataFrame
    #: Problems that did not stop the read (a snapshotter db that is missing, an unknown layout).
    issues: list[str] = field(default_factory=list)


def _images(ns: str, bucket: Bucket | None) -> list[dict]:
    rows = []
    for name, image in bucket.buckets() if bucket else ():
        values = _fields(image)
        target = image.bucket("target")
        tvalues = _fields(target) if target else {}
        rows.append({
            "namespace": ns, "name": _text(name),
            "target_digest": _text(tvalues.get(b"digest")),
            "target_media_type": _text(tvalues.get(b"mediatype")),
            "target_size": varint(tvalues.get(b"size")),
            "created": go_time(values.get(b"createdat")), "updated": go_time(values.get(b"updatedat")),
            "labels": _labels(image), "annotations": _labels(image, "annotations"),
        })
    return rows


def _blob_path(root: str, digest: str) -> str | None:
    algorithm, _, encoded = digest.partition(":")
    if not encoded or "/" in encoded or "/" in algorithm:
        return None
    return os.path.join(root, CONTENT_DIR, algorithm, encoded)


def _content(root: str, ns: str, bucket: Bucket | None) -> tuple[list[dict], list[dict]]:
    blobs, ingests = [], []
    if bucket is None:
        return blobs, ingests
    for digest, blob in (bucket.bucket("blob").buckets() if bucket.bucket("blob") else ()):
        values = _fields(blob)
        labels = _labels(blob)
        digest_text = _text(digest)
        path = _blob_path(root, digest_text)
        blobs.append({
            "namespace": ns, "digest": digest_text, "size": varint(values.get(b"size")),
            "created": go_time(values.get(b"createdat")), "updated": go_time(values.get(b"updatedat")),
            "labels": labels, "uncompressed": labels.get(LABEL_UNCOMPRESSED),
            "gc_ref_content": [v for k, v in labels.items() if k.startswith(LABEL_GC_CONTENT)],
            "gc_ref_snapshots": {
                k[len(LABEL_GC_SNAPSHOT):]: v for k, v in labels.items() if k.startswith(LABEL_GC_SNAPSHOT)
            },
            "blob": path, "blob_exists": bool(path and os.path.isfile(path)),
        })
    for key, ingest in (bucket.bucket("ingests").buckets() if bucket.bucket("ingests") else ()):
        values = _fields(ingest)
        ingests.append({
            "namespace": ns, "key": _text(key), "ref": _text(values.get(b"ref")),
            "expected": _text(values.get(b"expected")), "expire_at": go_time(values.get(b"expireat")),
        })
    return blobs, ingests


def _meta_snapshots(ns: str, bucket: Bucket | None) -> list[dict]:
    rows = []
    for snapshotter, sbucket in bucket.buckets() if bucket else ():
        for key, snap in sbucket.buckets():
            values = _fields(snap)
            labels = _labels(snap)
            children = snap.bucket("children")
            rows.append({
                "namespace": ns, "snapshotter": _text(snapshotter), "key": _text(key),
                "name": _text(values.get(b"name")), "parent": _text(values.get(b"parent")),
                "created": go_time(values.get(b"createdat")), "updated": go_time(values.get(b"updatedat")),
                "labels": labels, "snapshot_ref": labels.get(LABEL_SNAPSHOT_REF),
                "children": [_text(k) for k in children.keys()] if children else [],
            })
    return rows


def _leases(ns: str, bucket: Bucket | None) -> list[dict]:
    rows = []
    for lease_id, lease in bucket.buckets() if bucket else ():
        snaps = []
        for snapshotter, keys in (lease.bucket("snapshots").buckets() if lease.bucket("snapshots") else ()):
            snaps += [f"{_text(snapshotter)}/{_text(k)}" for k in keys.keys()]
        content = lease.bucket("content")
        ingests = lease.bucket("ingests")
        rows.append({
            "namespace": ns, "id": _text(lease_id), "created": go_time(lease.get("createdat")),
            "labels": _labels(lease), "snapshots": snaps,
            "content": [_text(k) for k in content.keys()] if content else [],
            "ingests": [_text(k) for k in ingests.keys()] if ingests else [],
        })
    return rows


def _containers(ns: str, bucket: Bucket | None) -> list[dict]:
    rows = []
    for cid, container in bucket.buckets() if bucket else ():
        values = _fields(container)
        runtime = container.bucket("runtime")
        rows.append({
            "namespace": ns, "id": _text(cid), "image": _text(values.get(b"image")),
            "snapshotter": _text(values.get(b"snapshotter")),
            "snapshot_key": _text(values.get(b"snapshotKey")),
            "runtime": _text(runtime.get("name")) if runtime else None,
            "sandbox": _text(values.get(b"sandboxid")),
            "created": go_time(values.get(b"createdat")), "updated": go_time(values.get(b"updatedat")),
            "labels": _labels(container),
        })
    return rows


# -- snapshotter databases -------------------------------------------------------------------------
def _fs_dir(snapshotter_root: str, snapshotter: str, snapshot_id: int | None) -> str | None:
    """Where a snapshot's own files are: overlayfs ``snapshots/<id>/fs``, native ``snapshots/<id>``."""
    if snapshot_id is None:
        return None
    if snapshotter == "overlayfs":
        return os.path.join(snapshotter_root, "snapshots", str(snapshot_id), "fs")
    if snapshotter == "native":
        return os.path.join(snapshotter_root, "snapshots", str(snapshot_id))
    return None


def read_snapshotter_db(root: str | os.PathLike[str], snapshotter: str = "overlayfs") -> pd.DataFrame:
    """One row per snapshot in ``<root>/io.containerd.snapshotter.v1.<snapshotter>/metadata.db``.

    Columns: snapshotter, name (the backend key, ``<namespace>/<seq>/<key>``), id, kind
    (View/Active/Committed), backend_parent (backend key), size and inodes (recorded at commit;
    null for Active and View snapshots), backend_created/updated, backend_labels, and ``fs`` — the
    absolute directory holding the snapshot's own files (overlayfs and native only).
    Works without meta.db.
    """
    sroot = os.path.join(os.path.abspath(os.fspath(root)), SNAPSHOTTER_DIR.format(snapshotter))
    db = DB(os.path.join(sroot, "metadata.db"))
    rows = []
    snaps = db.bucket("v1", "snapshots")
    for name, snap in snaps.buckets() if snaps else ():
        values = _fields(snap)
        kind = values.get(b"kind", b"")
        snapshot_id = uvarint(values.get(b"id"))
        fs = _fs_dir(sroot, snapshotter, snapshot_id)
        rows.append({
            "snapshotter": snapshotter, "name": _text(name), "id": snapshot_id,
            "kind": KINDS.get(kind[0], f"Unknown({kind[0]})") if len(kind) == 1 else None,
            "backend_parent": _text(values.get(b"parent")),
            "size": varint(values.get(b"size")), "inodes": varint(values.get(b"inodes")),
            "backend_created": go_time(values.get(b"createdat")),
            "backend_updated": go_time(values.get(b"updatedat")),
            "backend_labels": _labels(snap), "fs": fs, "fs_exists": bool(fs and os.path.isdir(fs)),
        })
    return _frame(rows, BACKEND)


def find_containerd_root(path: str | os.PathLike[str]) -> str:
    """``path`` itself if it is a containerd root, or Docker's managed one under a Docker data root."""
    path = os.path.abspath(os.fspath(path))
    for candidate in (path, os.path.join(path, "containerd", "daemon")):
        if os.path.isdir(candidate) and any(
            entry.startswith("io.containerd.") for entry in listdir(candidate)
        ):
            return candidate
    raise NotADataRoot(
        f"{path} is not a containerd root: it has no io.containerd.* directories (expected e.g. "
        "/var/lib/containerd, or a Docker data root with a managed containerd/daemon/)",
        path=path,
    )


def _what_else(root: str) -> str:
    """A sentence on what can still be read when meta.db cannot."""
    parts = []
    blobs = os.path.join(root, CONTENT_DIR)
    if os.path.isdir(blobs):
        parts.append(f"content blobs under {blobs}")
    for entry in sorted(listdir(root)):
        if entry.startswith("io.containerd.snapshotter.v1.") and os.path.isfile(
            os.path.join(root, entry, "metadata.db")
        ):
            name = entry.rsplit(".", 1)[-1]
            parts.append(f"the {name} snapshotter's snapshots (read_snapshotter_db(root, {name!r}))")
    if not parts:
        return "nothing else readable was found there either"
    return "still readable without it: " + "; ".join(parts)


def read_containerd_meta(root: str | os.PathLike[str]) -> ContainerdMeta:
    """Read meta.db and each snapshotter's metadata.db under a containerd root into DataFrames."""
    root = find_containerd_root(root)
    meta_path = os.path.join(root, META_DB)
    try:
        db = DB(meta_path)
    except BoltError as exc:
        raise BoltError(f"cannot read containerd's meta.db: {exc}. {_what_else(root)}", path=meta_path) from exc

    v1 = db.bucket("v1")
    images, blobs, ingests, snaps, leases, containers, namespaces = [], [], [], [], [], [], []
    for ns_key, ns in v1.buckets() if v1 else ():
        name = _text(ns_key)
        namespaces.append({"namespace": name, "labels": _labels(ns)})
        images += _images(name, ns.bucket("images"))
        b, i = _content(root, name, ns.bucket("content"))
        blobs += b
        ingests += i
        snaps += _meta_snapshots(name, ns.bucket("snapshots"))
        leases += _leases(name, ns.bucket("leases"))
        containers += _containers(name, ns.bucket("containers"))

    issues: list[str] = []
    meta_snaps = _frame(snaps, META_SNAPSHOTS)
    backends = []
    for snapshotter in sorted(set(meta_snaps["snapshotter"].dropna())):
        try:
            backend = read_snapshotter_db(root, snapshotter)
        except BoltError as exc:
            issues.append(f"snapshotter {snapshotter}: {exc}")
            continue
        if snapshotter not in ("overlayfs", "native"):
            issues.append(f"snapshotter {snapshotter}: layout of its directories unknown, `fs` left empty")
        backends.append(backend)
    backend = pd.concat(backends, ignore_index=True) if backends else _frame([], BACKEND)
    joined = meta_snaps.merge(backend, how="left", on=["snapshotter", "name"])
    joined["fs_exists"] = joined["fs_exists"].fillna(False).astype(bool)
    missing = joined["kind"].isna().sum()
    if missing:
        issues.append(f"{missing} snapshot(s) in meta.db have no entry in their snapshotter's metadata.db")

    return ContainerdMeta(
        root=root, meta_db=meta_path, db_version=varint(v1.get("version")) if v1 else None,
        txid=db.txid, namespaces=_frame(namespaces, NAMESPACES), images=_frame(images, IMAGES),
        content=_frame(blobs, CONTENT), ingests=_frame(ingests, INGESTS),
        snapshots=_frame(joined.to_dict("records"), SNAPSHOTS), backend_snapshots=backend,
        leases=_frame(leases, LEASES), containers=_frame(containers, CONTAINERS), issues=issues,
    )
