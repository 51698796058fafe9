"""Content-level deduplication: identical files in different layers (or paths) of the store."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ._core import inventory
from .hashing import hash_source, identical_groups

DEDUP_COLUMNS = [
    "group", "sha256", "size", "copies", "layer_id", "path", "image_count", "reclaimable", "evidence",
]


def content_dedup(source, *, kinds=("image",), hash="auto", progress=None) -> pd.DataFrame:
    """Groups of identical regular files across layers and paths, and what storing each once saves.

    Files are grouped by size first; only files that share a size are read, and only those whose
    first 4 KiB also match are read to the end (each byte once). Hard links count once (the
    files frame lists later links with size 0). Empty files are left out.

    Parameters
    ----------
    source
        An Inventory, a data root, a ``.layerlab`` snapshot, or ``"sample"``.
    kinds
        Layer kinds to search: ``("image",)`` (default), add ``"init"``/``"container"`` for
        containers' layers.
    hash
        ``"auto"``: hash where the data root is readable, else group by size only with a
        warning (a snapshot without its root can only do that); ``True``: require hashing;
        ``False``: size-level grouping only.
    progress
        Show a progress bar while reading (False hides it).

    Returns
    -------
    DataFrame
        One row per file in a group of two or more, groups with the most saving first:

        - ``group``: group number (0 = largest saving).
        - ``sha256``: the shared content hash; null for size-only groups.
        - ``size``: bytes of each copy; ``copies``: files in the group.
        - ``layer_id``, ``path``: one copy; ``image_count``: images whose chain has that layer.
        - ``reclaimable``: bytes saved by keeping one copy: ``size`` for every copy but the
          first, 0 for the first; the sum over the frame is what content dedup would save.
        - ``evidence``: ``sha256`` (contents compared) or ``size`` (same size only: not proof).
    """
    inv = inventory(source)
    layers = inv.layers
    wanted = set(layers.loc[layers["kind"].isin(list(kinds)), "layer_id"])
    files = inv.files
    regular = files[(files["kind"] == "file") & (files["size"] > 0) & files["layer_id"].isin(wanted)]
    sizes = regular["size"]
    cands = regular[sizes.map(sizes.value_counts()) > 1]
    image_count = layers.set_index("layer_id")["image_count"]
    if hash is not False:
        ok, why = hash_source(inv)
        if not ok and hash is True:
            from ..errors import LayerlabError

            raise LayerlabError(f"cannot hash file contents: {why}", path=inv.meta.get("source"))
        if not ok:
            warnings.warn(f"layerlab: {why}; content_dedup groups by size only (evidence='size')", stacklevel=2)
    else:
        ok = False
    raw = cands["path_raw"] if "path_raw" in cands.columns else pd.Series([None] * len(cands), index=cands.index)
    names = [r.decode("utf-8", "surrogateescape") if isinstance(r, bytes) else p for p, r in zip(cands["path"], raw)]
    if ok:
        digests = identical_groups(inv, zip(cands["layer_id"], names, cands["size"]), progress=progress, desc="hashing candidates")
        key = [digests.get((l, n)) for l, n in zip(cands["layer_id"], names)]
        evidence = "sha256"
    else:
        key = [f"size:{s}" for s in cands["size"]]
        evidence = "size"
    out = pd.DataFrame(
        {
            "key": pd.Series(key, dtype=object, index=cands.index),
            "size": cands["size"],
            "layer_id": cands["layer_id"],
            "path": cands["path"].astype(object),
        }
    )
    out = out[out["key"].notna()]
    out["copies"] = out.groupby("key")["key"].transform("size").astype("int64")
    out = out[out["copies"] > 1].sort_values(["key", "layer_id", "path"], kind="stable")
    first = ~out["key"].duplicated()
    out["reclaimable"] = np.where(first, 0, out["size"]).astype("int64")
    saving = out.groupby("key")["reclaimable"].sum().sort_values(ascending=False, kind="stable")
    out["group"] = out["key"].map({k: i for i, k in enumerate(saving.index)}).astype("int64")
    out["sha256"] = out["key"] if evidence == "sha256" else None
    out["sha256"] = out["sha256"].astype(object)
    out["image_count"] = out["layer_id"].map(image_count).fillna(0).astype("int64")
    out["evidence"] = evidence
    return out.sort_values(["group", "reclaimable"], kind="stable")[DEDUP_COLUMNS].reset_index(drop=True)
