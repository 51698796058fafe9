"""Container copy-ups: what each container's read-write layer copied up from below, and deleted."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...errors import CONTAINER, HASH, PROGRESS
from ..hashing import can_hash, digest_lookup
from ..stacking import (
    DIR_KINDS,
    chain_files,
    container_chain,
    container_row,
    entry_changes,
    nulls_as_none,
    resolve,
    sorted_paths,
    subtree_index,
)
from ..opening import analysis

COPYUP_COLUMNS = [
    "container_id", "name", "image_id", "path", "kind", "action", "bytes", "lower_kind", "lower_bytes",
    "lower_layer_id", "lower_position", "content_changed", "changed", "evidence",
]


@analysis(container=CONTAINER, hash=HASH, progress=PROGRESS)
def copy_ups(source, container=None, *, hash="auto", progress=None) -> pd.DataFrame:
    """Every entry of containers' read-write layers, against what the layers below provide.

    Parameters
    ----------
    {source}
    container
        Container name, ID or ID prefix (default: every container).
    hash
        ``"auto"``, True or False, as in ``waste``: contents of same-size copies are compared by
        SHA-256 where the data root is readable.

    Returns
    -------
    DataFrame
        One row per entry of each read-write layer:

        - ``container_id``, ``name``, ``image_id``, ``path``, ``kind`` (the entry's kind).
        - ``action``: ``copied_up`` (the path existed below: the layer holds a full copy),
          ``created`` (new path), ``deleted`` (a whiteout), or ``replaced_dir`` (an opaque
          directory: the lower directory's children are hidden).
        - ``bytes``: bytes the read-write layer stores for the entry.
        - ``lower_kind``, ``lower_bytes``, ``lower_layer_id``, ``lower_position``: what the
          image (and init layer) showed at the path; for ``deleted``/``replaced_dir``,
          ``lower_bytes`` is everything hidden (the whole subtree for a directory).
        - ``content_changed``: for copied-up regular files, whether the content differs (a
          size change proves it; equal sizes are compared by hash; null if that was not
          possible); ``changed``: what differs (``content``, ``size``, ``kind``, ``mode``,
          ``owner``, ``mtime``). A copy-up whose content did not change was made only to change
          metadata (``chmod``, ``chown``, ``touch``).
        - ``evidence``: ``sha256``, ``size`` or null, as in ``waste``.
    """
    inv = source
    if container is None:
        ids = list(inv.containers["container_id"])
    else:
        ids = [container_row(inv, container)["container_id"]]
    parts = [_one(inv, cid, hash, progress) for cid in ids]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in COPYUP_COLUMNS})
    return pd.concat(parts, ignore_index=True)


def _one(inv, cid: str, hash, progress) -> pd.DataFrame:
    row = inv.containers.set_index("container_id").loc[cid]
    chain = container_chain(inv, cid)
    rw_id = f"container:{cid}"
    if not chain or chain[-1] != rw_id:
        return pd.DataFrame(columns=COPYUP_COLUMNS)
    files = chain_files(inv, chain)
    top = len(chain) - 1
    rw = files[files["position"] == top].reset_index(drop=True)
    lower = sorted_paths(resolve(files[files["position"] < top], "oci"))
    lpaths = lower["path"].to_numpy(dtype=object)
    lsize = lower["size"].to_numpy()
    out = []
    pairs = []
    for r in rw.itertuples():
        j = np.searchsorted(lpaths, r.path)
        below = lower.iloc[j] if j < len(lpaths) and lpaths[j] == r.path else None
        rec = {
            "container_id": cid, "name": row["name"], "image_id": row["image_id"], "path": r.path, "kind": r.kind,
            "bytes": int(r.size), "lower_kind": None, "lower_bytes": 0, "lower_layer_id": None, "lower_position": None,
            "content_changed": None, "changed": None, "evidence": None,
        }
        if below is not None:
            rec.update(lower_kind=below["kind"], lower_layer_id=below["layer_id"],
                       lower_position=int(below["position"]))
        if r.kind == "whiteout":
            rec["action"] = "deleted"
            if below is not None:
                sub = subtree_index(lpaths, r.path) if below["kind"] in DIR_KINDS else [j]
                rec["lower_bytes"] = int(lsize[sub].sum())
        elif below is None:
            rec["action"] = "created"
        elif r.kind == "opaque":
            rec["action"] = "replaced_dir"
            rec["lower_bytes"] = int(lsize[subtree_index(lpaths, r.path)].sum())
        else:
            rec["action"] = "copied_up"
            rec["lower_bytes"] = int(below["size"])
            rec["changed"] = entry_changes(r, below) or None
            if r.kind == "file" and below["kind"] == "file":
                if r.size != below["size"]:
                    rec["content_changed"] = True
                else:
                    pairs.append((len(out), r.Index, below))
        out.append(rec)
    if pairs:
        hashing = can_hash(inv, hash)
        # the upper and lower entries as plain values (concatenating the frames' categoricals with
        # all-null columns of the lower ones is deprecated in pandas 2.2)
        cols = ["layer_id", "path", "size", *(c for c in ("path_raw", "sha256") if c in rw.columns)]
        upper = rw.loc[[i for _, i, _ in pairs], cols]
        rows = pd.DataFrame({c: [*upper[c].astype(object), *(b.get(c) for _, _, b in pairs)] for c in cols})
        digests = digest_lookup(inv, rows, hashing, progress, "comparing copy-ups")
        for n, i, below in pairs:
            d1 = digests.get((rw_id, rw.at[i, "path"]))
            d2 = digests.get((below["layer_id"], below["path"]))
            if d1 is not None and d2 is not None:
                out[n]["content_changed"] = d1 != d2
                out[n]["evidence"] = "sha256"
            elif hashing:
                out[n]["content_changed"] = out[n]["bytes"] > 0
                out[n]["evidence"] = "sha256"
            else:
                out[n]["evidence"] = "size"
    for rec in out:
        if rec["content_changed"] and "content" not in (rec["changed"] or ""):
            rec["changed"] = ",".join(["content"] + ([rec["changed"]] if rec["changed"] else []))
    df = pd.DataFrame(out, columns=COPYUP_COLUMNS)
    df["content_changed"] = df["content_changed"].astype("boolean")
    df["lower_position"] = df["lower_position"].astype("Int64")
    df["bytes"] = df["bytes"].astype("int64")
    df["lower_bytes"] = df["lower_bytes"].astype("int64")
    return nulls_as_none(df, ["path", "lower_kind", "lower_layer_id", "changed", "evidence"])
