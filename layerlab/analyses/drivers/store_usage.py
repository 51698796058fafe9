"""What a containerd store costs on disk, its two copies apart: content blobs and unpacked snapshots.

Docker 29's default store keeps every layer twice: the compressed blob as pulled (content store) and
the unpacked snapshot. The figures are recorded while the store is read (``inv.meta["containerd"]``).
"""

from __future__ import annotations

import pandas as pd

from ...errors import CorruptMetadata, NotADataRoot
from ..opening import analysis


@analysis()
def store_usage(source) -> pd.DataFrame:
    """What a containerd store costs on disk, the two copies apart: one row per kind of object.

    ``copy`` is ``content`` (blobs as pulled: compressed layers, manifests, configs) or ``snapshots``
    (unpacked layers and containers' read-write snapshots); ``size`` is apparent bytes (for content,
    the blob size), ``disk_usage`` allocated bytes.
    """
    info = _info(source)
    rows = []
    content = pd.DataFrame(info["content"], columns=["digest", "kind", "size", "disk_usage", "uncompressed", "images"])
    for kind, g in content.groupby("kind", sort=True):
        rows.append({"copy": "content", "kind": kind, "count": len(g), "size": int(g["size"].fillna(0).sum()),
                     "disk_usage": int(g["disk_usage"].fillna(0).sum())})
    for kind, v in info["snapshots"].items():
        if v["count"]:
            rows.append({"copy": "snapshots", "kind": kind, "count": v["count"], "size": v["size"],
                         "disk_usage": v["disk_usage"]})
    return pd.DataFrame(rows, columns=["copy", "kind", "count", "size", "disk_usage"]).astype(
        {"count": "int64", "size": "int64", "disk_usage": "int64"})


@analysis()
def image_sizes(source) -> pd.DataFrame:
    """Per image: the apparent ``size`` (layerlab's, as for graphdriver roots), the compressed
    ``content_size`` (``ctr images ls``), ``snapshot_usage`` (Docker 29's `docker image ls` size for the
    containerd store: containerd's usage of the unpacked snapshots) and allocated bytes of each copy."""
    inv = source
    info = _info(inv)
    per = pd.DataFrame(info["images"],
                       columns=["image_id", "content_size", "content_disk_usage", "snapshot_usage",
                                "snapshot_disk_usage"])
    out = inv.images[["image_id", "tags", "size"]].merge(per, on="image_id", how="left")
    return out


def _info(inv) -> dict:
    if inv.meta.get("image_store") != "containerd":
        raise NotADataRoot(f"{inv.source or 'this source'} is not a containerd image store "
                           f"(image_store={inv.meta.get('image_store')!r}); open a containerd root or its snapshot",
                           path=inv.source)
    inv.files  # the usage is computed with the files
    info = inv.meta.get("containerd")
    if not info:
        raise CorruptMetadata(f"{inv.source}: no containerd usage recorded in the snapshot's meta.json; rescan the "
                              "store",
                              path=inv.source)
    return info
