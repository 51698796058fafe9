"""Sharing: which images use which layers, and what layer-level deduplication saves."""

from __future__ import annotations

import pandas as pd

from ...errors import FLAG
from ..opening import analysis


def _listed(inv, all: bool) -> pd.DataFrame:
    return inv.images if all else inv.listed


@analysis(all=FLAG)
def sharing(source, *, all: bool = False) -> pd.DataFrame:
    """Per image, bytes shared with other images and bytes of its own, as ``docker system df -v``.

    Parameters
    ----------
    {source}
    all
        Include the classic builder's intermediate images (docker leaves them out).

    Returns
    -------
    DataFrame
        One row per image: ``image_id``, ``tags``, ``size``, ``shared_size`` (bytes of its layers
        that another listed image also uses: docker's SHARED), ``unique_size`` (docker's UNIQUE),
        ``layer_count``, ``shared_layer_count``, ``unique_layer_count``, ``container_count``.
    """
    inv = source
    images = _listed(inv, all)
    listed = inv.listed
    il = inv.image_layers
    users = il[il["image_id"].isin(listed["image_id"])].groupby("layer_id")["image_id"].nunique()
    chain = il[il["image_id"].isin(images["image_id"])].assign(shared=lambda d: d["layer_id"].map(users).fillna(0) > 1)
    shared_layers = chain.groupby("image_id")["shared"].sum()
    out = images[["image_id", "tags", "size", "shared_size", "unique_size", "layer_count", "container_count"]].copy()
    out["shared_layer_count"] = out["image_id"].map(shared_layers).fillna(0).astype("int64")
    out["unique_layer_count"] = out["layer_count"] - out["shared_layer_count"]
    cols = ["image_id", "tags", "size", "shared_size", "unique_size", "layer_count", "shared_layer_count",
            "unique_layer_count", "container_count"]
    return out[cols].reset_index(drop=True)


@analysis(long=FLAG, all=FLAG)
def sharing_matrix(source, *, long: bool = False, all: bool = False) -> pd.DataFrame:
    """Which image uses which layer.

    Parameters
    ----------
    {source}
    long
        Return one row per (image, layer) instead of the image x layer matrix.
    all
        Include the classic builder's intermediate images.

    Returns
    -------
    DataFrame
        ``long=False``: a boolean matrix, index ``image_id``, one column per ``layer_id`` (layers
        ordered by how many images use them, then size), true where the image uses the layer.

        ``long=True``: one row per (image, layer): ``image_id``, ``image`` (first tag or short
        ID), ``layer_id``, ``position`` (0 = base), ``size`` (layerdb bytes), ``image_count``
        (listed images using the layer), ``shared`` (image_count > 1).
    """
    inv = source
    images = _listed(inv, all)
    il = inv.image_layers[inv.image_layers["image_id"].isin(images["image_id"])]
    counts = il.groupby("layer_id")["image_id"].nunique()
    labels = {r.image_id: (r.tags[0] if len(r.tags) else r.image_id[7:19]) for r in images.itertuples(index=False)}
    out = il[["image_id", "layer_id", "position", "size"]].copy()
    out.insert(1, "image", out["image_id"].map(labels))
    out["image_count"] = out["layer_id"].map(counts).astype("int64")
    out["shared"] = out["image_count"] > 1
    out = out.sort_values(["image", "position"], kind="stable").reset_index(drop=True)
    if long:
        return out
    order = (
        out.drop_duplicates("layer_id").sort_values(["image_count", "size"], ascending=[False, False],
                                                    kind="stable")["layer_id"]
    )
    wide = pd.crosstab(out["image_id"], out["layer_id"]).astype(bool)
    return wide.reindex(columns=list(order), fill_value=False)


@analysis(all=FLAG)
def layer_dedup(source, *, all: bool = False) -> pd.DataFrame:
    """What sharing layers saves: the images' sizes summed against the bytes of distinct layers.

    Returns
    -------
    DataFrame
        One row: ``images``, ``layer_refs`` (layers summed over images), ``distinct_layers``,
        ``logical_size`` (sum of image sizes: every image stored alone), ``physical_size`` (bytes
        of distinct layers: what the store holds), ``saved_bytes``, ``dedup_ratio``
        (logical / physical). Apparent bytes (layerdb ``size``), as ``docker image inspect``.
    """
    inv = source
    images = _listed(inv, all)
    il = inv.image_layers[inv.image_layers["image_id"].isin(images["image_id"])]
    distinct = il.drop_duplicates("layer_id")
    logical = int(images["size"].sum())
    physical = int(distinct["size"].sum())
    return pd.DataFrame(
        [
            {
                "images": len(images),
                "layer_refs": len(il),
                "distinct_layers": len(distinct),
                "logical_size": logical,
                "physical_size": physical,
                "saved_bytes": logical - physical,
                "dedup_ratio": logical / physical if physical else float("nan"),
            }
        ]
    )
