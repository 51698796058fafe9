"""Content-level deduplication: identical files in different layers (or paths) of the store."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ...errors import Expect, HASH, PROGRESS
from ..hashing import hash_source, identical_groups, recorded
from ..opening import analysis

KINDS = Expect("a list of layer kinds ('image', 'init', 'container')", list, tuple, set, frozenset, each=str)

DEDUP_COLUMNS = [
    "group", "sha256", "size", "copies", "layer_id", "path", "image_count", "reclaimable", "evidence",
]


@analysis(kinds=KINDS, hash=HASH, progress=PROGRESS)
def content_dedup(source, *, kinds=("image",), hash="auto", progress=None) -> pd.DataFrame:
    """Groups of identical regular files across layers and paths, and what storing each once saves.

    Files are grouped by size first; only files that share a size are read, and only those whose
    first 4 KiB also match are read to the end (each byte once). Hard links count once (the
    files frame lists later links with size 0). Empty files are left out.

    Parameters
    ----------
    {source}
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
    inv = source
    layers = inv.layers
    wanted = set(layers.loc[layers["kind"].isin(list(kinds)), "layer_id"])
    files = inv.files
    regular = files[(files["kind"] == "file") & (files["size"] > 0) & files["layer_id"].isin(wanted)]
    cands = regular[regular["size"].duplicated(keep=False)]  # a file whose size is unique has no twin
    image_count = layers.set_index("layer_id")["image_count"]
    if hash is not False:
        ok, why = hash_source(inv)
        if not ok and hash is True:
            from ...errors import LayerlabError

            raise LayerlabError(f"cannot hash file contents: {why}", path=inv.meta.get("source"))
        if not ok and not recorded(inv):
            warnings.warn(f"layerlab: {why}; content_dedup groups by size only (evidence='size')", stacklevel=2)
    else:
        ok = False
    names = cands["path"].to_numpy(dtype=object)
    if "path_raw" in cands.columns and cands["path_raw"].notna().any():
        raw = cands["path_raw"].to_numpy(dtype=object)
        names = np.array([r.decode("utf-8", "surrogateescape") if isinstance(r, bytes) else p for p,
                          r in zip(names, raw)], dtype=object)
    layer_ids = cands["layer_id"].to_numpy(dtype=object)
    if ok:
        digests = identical_groups(inv, zip(layer_ids, names, cands["size"].to_numpy()), progress=progress,
                                   desc="hashing candidates")
        key = [digests.get(k) for k in zip(layer_ids, names)]
        evidence = "sha256"
    elif recorded(inv):  # scanned with --hash: a file without a digest has no twin
        key = list(cands["sha256"].astype(object).where(cands["sha256"].notna(), None))
        evidence = "sha256"
    else:
        key = [f"size:{s}" for s in cands["size"]]
        evidence = "size"
    codes, uniques = pd.factorize(pd.Series(key, dtype=object), use_na_sentinel=True)
    copies = np.bincount(codes[codes >= 0], minlength=max(len(uniques), 1))
    keep = (codes >= 0) & (copies[np.maximum(codes, 0)] > 1)
    out = pd.DataFrame(
        {
            "code": codes[keep],
            "size": cands["size"].to_numpy()[keep],
            "layer_id": layer_ids[keep],
            "path": cands["path"].to_numpy(dtype=object)[keep],
        }
    )
    if "path_raw" in cands.columns:
        out["path_raw"] = cands["path_raw"].to_numpy(dtype=object)[keep]
    out = out.sort_values(["code", "layer_id", "path"], kind="stable", ignore_index=True)
    code = out["code"].to_numpy()
    first = np.r_[True, code[1:] != code[:-1]] if len(code) else np.zeros(0, dtype=bool)
    out["copies"] = copies[code].astype("int64")
    out["reclaimable"] = np.where(first, 0, out["size"].to_numpy()).astype("int64")
    saving = np.bincount(code, weights=out["reclaimable"].to_numpy(), minlength=len(uniques))
    rank = np.empty(len(uniques), dtype=np.int64)
    rank[np.argsort(-saving, kind="stable")] = np.arange(len(uniques))
    out["group"] = rank[code]
    out["sha256"] = pd.Series(np.asarray(uniques, dtype=object)[code] if evidence == "sha256" else [None] * len(out),
                              dtype=object)
    out["image_count"] = out["layer_id"].map(image_count).fillna(0).astype("int64")
    out["evidence"] = evidence
    columns = DEDUP_COLUMNS + (["path_raw"] if "path_raw" in out.columns else [])
    return out.sort_values(["group", "reclaimable"], kind="stable")[columns].reset_index(drop=True)


@analysis()
def dedup_levels(source) -> pd.DataFrame:
    """The bytes of three levels of sharing (``layer_dedup`` and ``content_dedup``): every image stored
    alone, each layer stored once, and each file content stored once; ``ratio`` against the first."""
    from .sharing import layer_dedup

    inv = source
    layers = layer_dedup(inv).iloc[0]
    content = content_dedup(inv)
    logical, physical = float(layers["logical_size"]), float(layers["physical_size"])
    rows = [("every image stored alone", logical), ("each layer stored once", physical)]
    if len(content):
        hashed = bool((content["evidence"] == "sha256").all())
        what = "each file content stored once" + ("" if hashed else " (same size, not hashed)")
        rows.append((what, physical - float(content["reclaimable"].sum())))
    df = pd.DataFrame(rows, columns=["what", "bytes"])
    df["ratio"] = [logical / b if b else np.nan for b in df["bytes"]]
    return df
