"""Base images: for each image, the part of its layer chain it got from another image."""

from __future__ import annotations

import pandas as pd

from ...errors import FLAG
from ..stacking import nulls_as_none
from ..opening import analysis

BASE_COLUMNS = [
    "image_id", "tags", "base_image", "base_tags", "base_kind", "base_layer_count", "base_size",
    "layer_count", "user_layer_count", "user_size",
]


@analysis(all=FLAG)
def base_images(source, *, all: bool = True) -> pd.DataFrame:
    """The base of every image: the longest prefix of its layer chain that is itself a local image.

    Failing that, the longest prefix it shares with another image (a base whose image was
    removed or never pulled). Only images ``docker images`` lists are candidates (not the classic
    builder's intermediate images, whose chains are every step of a build). A candidate with
    exactly the same chain counts only if it is older (``FROM x`` plus only ``LABEL``/``ENV``).

    Parameters
    ----------
    {source}
    all
        Include intermediate images as rows (default True; they are never candidates).

    Returns
    -------
    DataFrame
        One row per image:

        - ``image_id``, ``tags``.
        - ``base_image``: ID of the base image, null when the base is only a shared prefix or
          there is none; ``base_tags`` its tags.
        - ``base_kind``: ``image`` (a local image), ``shared_layers`` (a prefix shared with other
          images, no image of its own), or null (no base: nothing below the image is shared).
        - ``base_layer_count``, ``base_size``: layers and bytes (layerdb ``size``) of the base.
        - ``layer_count``, ``user_layer_count``, ``user_size``: the image's layers, and those
          above the base with their bytes.
    """
    inv = source
    images = inv.images
    il = inv.image_layers.sort_values(["image_id", "position"])
    chains = {iid: tuple(g["layer_id"]) for iid, g in il.groupby("image_id", sort=False)}
    sizes = {iid: list(g["size"]) for iid, g in il.groupby("image_id", sort=False)}
    meta = images.set_index("image_id")
    listed = images[~images["intermediate"]]
    by_chain: dict[tuple, list[str]] = {}
    layer_users: dict[str, set[str]] = {}
    for iid in listed["image_id"]:
        chain = chains.get(iid, ())
        by_chain.setdefault(chain, []).append(iid)
        for lid in chain:
            layer_users.setdefault(lid, set()).add(iid)

    def rank(iid):
        m = meta.loc[iid]
        return (0 if len(m["tags"]) else 1, m["created"], iid)

    rows = []
    for r in (images if all else listed).itertuples(index=False):
        chain = chains.get(r.image_id, ())
        n = len(chain)
        base, kind, k = None, None, 0
        for length in range(n, 0, -1):
            cands = [c for c in by_chain.get(chain[:length], []) if c != r.image_id]
            if length == n:
                cands = [c for c in cands if meta.loc[c, "created"] < r.created]
            if cands:
                base, kind, k = min(cands, key=rank), "image", length
                break
        if base is None:
            for length in range(n - 1, 0, -1):
                if layer_users.get(chain[length - 1], set()) - {r.image_id}:
                    kind, k = "shared_layers", length
                    break
        base_size = int(sum(sizes.get(r.image_id, [])[:k]))
        rows.append(
            {
                "image_id": r.image_id,
                "tags": list(r.tags),
                "base_image": base,
                "base_tags": list(meta.loc[base, "tags"]) if base else [],
                "base_kind": kind,
                "base_layer_count": k,
                "base_size": base_size,
                "layer_count": n,
                "user_layer_count": n - k,
                "user_size": int(sum(sizes.get(r.image_id, []))) - base_size,
            }
        )
    out = pd.DataFrame(rows, columns=BASE_COLUMNS)
    return nulls_as_none(out, ["tags", "base_tags", "base_image", "base_kind"])
