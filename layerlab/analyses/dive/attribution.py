"""Waste by Dockerfile line: which command wrote the hidden bytes, and which command hid them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..opening import analysis

LINE_COLUMNS = ["image_id", "position", "layer_id", "created_by", "by_position", "by_layer_id", "by_created_by",
                "reason", "bytes", "paths"]


def commands(inv, image_id: str) -> pd.Series:
    """``created_by`` of each layer position of an image (null where the history has none)."""
    il = inv.image_layers
    rows = il[il["image_id"] == image_id]
    return pd.Series(rows["created_by"].astype(object).to_numpy(), index=rows["position"].to_numpy())


def walked_waste(inv, image_id: str, *, paths: bool = True) -> pd.DataFrame:
    """The reclaimable rows of ``waste(inv, image_id, hash=False)`` with the columns grouping needs
    (``position``, ``layer_id``, ``path``, ``bytes``, ``by_position``, ``by_layer_id``, ``reason``,
    ``reclaimable``), from the one pass over every image (``waste.stack_all``), in ``waste``'s order.
    ``paths=False`` leaves out ``path`` (grouping only counts the rows)."""
    from .waste import stack_all

    stack_all(inv, [image_id], hidden_only=True)
    at, positions, by, over, codes = inv.cache["hidden_rows"][image_id]  # waste.HiddenRows
    files = inv.files
    size = files["size"].to_numpy()[at]
    # waste's order: bytes, largest first, then path (the codes sort as the paths do); stable
    order = np.lexsort((codes, -size))
    at, positions, by, over, size = (a[order] for a in (at, positions, by, over, size))
    chain = np.array(inv.chain(image_id) or [None], dtype=object)
    w = pd.DataFrame({
        "layer_id": pd.Series(chain[positions], dtype=object),
        "position": positions,
        "bytes": size,
        "reason": pd.Series(np.where(over, "overwritten", "deleted"), dtype=object),
        "reclaimable": True,
        "by_layer_id": pd.Series(chain[by], dtype=object),
        "by_position": by,
    })
    if "sha256" in files.columns:
        sha = files["sha256"].take(at)
        if sha.notna().any():
            _recorded_copies(inv, w, at, files["kind"].take(at).to_numpy(dtype=object), sha.to_numpy(dtype=object))
    if paths:
        w.insert(0, "path", pd.Series(files["path"].take(at).to_numpy(dtype=object), dtype=object))
    return w


def _recorded_copies(inv, w: pd.DataFrame, at: np.ndarray, kind: np.ndarray, sha: np.ndarray) -> None:
    """``metadata_only`` where ``waste`` (hash=False) finds it: an overwritten file whose copy above,
    a file of the same size, has the same recorded sha256 (a ``--hash`` snapshot). ``at``: the rows'
    positions in the files frame."""
    lower = (w["reason"] == "overwritten").to_numpy() & (kind == "file") & pd.notna(sha)
    if not lower.any():
        return
    cols = ["layer_id", "path", "kind", "size", "link_target", "sha256"]
    files = inv.files[inv.files["layer_id"].isin(set(w.loc[lower, "by_layer_id"]))][cols].astype(
        {"layer_id": object, "path": object, "kind": object, "link_target": object, "sha256": object})
    files = files.drop_duplicates(["layer_id", "path"], keep="last")
    cand = pd.DataFrame({"layer_id": w.loc[lower, "by_layer_id"].to_numpy(),
                         "path": inv.files["path"].take(at[lower]).to_numpy(dtype=object),
                         "size0": w.loc[lower, "bytes"].to_numpy(), "sha0": sha[lower], "at": np.flatnonzero(lower)})
    upper = cand.merge(files, on=["layer_id", "path"], how="left")
    # a copy made to add a hard link keeps its bytes on the first link
    linked = upper["kind"] == "hardlink"
    if linked.any():
        first = upper.loc[linked, ["layer_id", "link_target"]].merge(
            files[["layer_id", "path", "kind", "size", "sha256"]].rename(columns={"path": "link_target"}),
            on=["layer_id", "link_target"], how="left")
        found = first["kind"].notna().to_numpy()
        rows = upper.index[linked][found]
        upper.loc[rows, ["kind", "size", "sha256"]] = first.loc[found, ["kind", "size", "sha256"]].to_numpy()
    same = (upper["kind"] == "file") & (upper["size"] == upper["size0"]) & (upper["sha256"] == upper["sha0"])
    w.loc[upper.loc[same.fillna(False).astype(bool), "at"].to_numpy(), "reason"] = "metadata_only"


@analysis()
def waste_by_line(source, image, *, waste: pd.DataFrame | None = None, hash=False) -> pd.DataFrame:
    """Reclaimable waste of one image grouped by the layer that wrote it and the layer that hid it.

    Parameters
    ----------
    {source}
    image
        Tag, image ID or ID prefix.
    waste
        The image's ``analyses.waste`` frame, when already computed.
    hash
        Passed to ``waste`` when it is computed here (default False: no file is read; the
        grouping does not depend on contents, only ``reason`` may say ``overwritten`` where a
        hash would say ``metadata_only``). With False the rows come from the one pass over
        every image (``walked_waste``), not from stacking this image alone.

    Returns
    -------
    DataFrame
        One row per (writing layer, hiding layer, reason), largest first: ``image_id``,
        ``position``, ``layer_id`` and ``created_by`` of the layer that stored the bytes,
        ``by_position``, ``by_layer_id`` and ``by_created_by`` of the layer that overwrote or
        deleted them, ``reason``, ``bytes``, ``paths``.
    """
    from .waste import waste as waste_of

    inv = source
    image_id = inv.image_id(image)
    if waste is None and hash is False:
        w = walked_waste(inv, image_id, paths=False)
    else:
        w = waste_of(inv, image_id, hash=hash, progress=False) if waste is None else waste
    w = w[w["reclaimable"]]
    if w.empty:
        return pd.DataFrame(columns=LINE_COLUMNS)
    cmd = commands(inv, image_id)
    # a position names its layer in one image: grouping by numbers is enough (and cheaper)
    g = (w.assign(by_position=w["by_position"].astype("int64"))
         .groupby(["position", "by_position", "reason"], sort=False)
         .agg(bytes=("bytes", "sum"), paths=("bytes", "count")).reset_index())
    chain = np.array(inv.chain(image_id), dtype=object)
    out = pd.DataFrame({
        "image_id": image_id,
        "position": g["position"].astype("int64"),
        "layer_id": pd.Series(chain[g["position"].to_numpy(dtype=np.int64)], dtype=object),
        "created_by": g["position"].map(cmd).astype(object),
        "by_position": g["by_position"].astype("int64"),
        "by_layer_id": pd.Series(chain[g["by_position"].to_numpy(dtype=np.int64)], dtype=object),
        "by_created_by": g["by_position"].map(cmd).astype(object),
        "reason": g["reason"].astype(object),
        "bytes": g["bytes"].astype("int64"),
        "paths": g["paths"].astype("int64"),
    })
    for col in ("created_by", "by_created_by"):
        out[col] = out[col].where(out[col].notna(), None)
    return out.sort_values(["bytes", "position"], ascending=[False, True], kind="stable").reset_index(drop=True)
