"""Waste by Dockerfile line: which command wrote the hidden bytes, and which command hid them."""

from __future__ import annotations

import pandas as pd

from ..sources import open_source

LINE_COLUMNS = ["image_id", "position", "layer_id", "created_by", "by_position", "by_layer_id", "by_created_by", "reason", "bytes", "paths"]


def commands(inv, image_id: str) -> pd.Series:
    """``created_by`` of each layer position of an image (null where the history has none)."""
    il = inv.image_layers
    rows = il[il["image_id"] == image_id]
    return pd.Series(rows["created_by"].astype(object).to_numpy(), index=rows["position"].to_numpy())


def waste_by_line(source, image, *, waste: pd.DataFrame | None = None, hash=False) -> pd.DataFrame:
    """Reclaimable waste of one image grouped by the layer that wrote it and the layer that hid it.

    Parameters
    ----------
    source
        An Inventory, a data root, a ``.layerlab`` snapshot, or ``"sample"``.
    image
        Tag, image ID or ID prefix.
    waste
        The image's ``analyses.waste`` frame, when already computed.
    hash
        Passed to ``waste`` when it is computed here (default False: no file is read; the
        grouping does not depend on contents, only ``reason`` may say ``overwritten`` where a
        hash would say ``metadata_only``).

    Returns
    -------
    DataFrame
        One row per (writing layer, hiding layer, reason), largest first: ``image_id``,
        ``position``, ``layer_id`` and ``created_by`` of the layer that stored the bytes,
        ``by_position``, ``by_layer_id`` and ``by_created_by`` of the layer that overwrote or
        deleted them, ``reason``, ``bytes``, ``paths``.
    """
    from .waste import waste as waste_of

    inv = open_source(source)
    image_id = inv.image_id(image)
    w = waste_of(inv, image_id, hash=hash, progress=False) if waste is None else waste
    w = w[w["reclaimable"]]
    if w.empty:
        return pd.DataFrame(columns=LINE_COLUMNS)
    cmd = commands(inv, image_id)
    g = (w.assign(by_position=w["by_position"].astype("int64"))
         .groupby(["position", "layer_id", "by_position", "by_layer_id", "reason"], sort=False)
         .agg(bytes=("bytes", "sum"), paths=("path", "count")).reset_index())
    out = pd.DataFrame({
        "image_id": image_id,
        "position": g["position"].astype("int64"),
        "layer_id": g["layer_id"].astype(object),
        "created_by": g["position"].map(cmd).astype(object),
        "by_position": g["by_position"].astype("int64"),
        "by_layer_id": g["by_layer_id"].astype(object),
        "by_created_by": g["by_position"].map(cmd).astype(object),
        "reason": g["reason"].astype(object),
        "bytes": g["bytes"].astype("int64"),
        "paths": g["paths"].astype("int64"),
    })
    for col in ("created_by", "by_created_by"):
        out[col] = out[col].where(out[col].notna(), None)
    return out.sort_values(["bytes", "position"], ascending=[False, True], kind="stable").reset_index(drop=True)
