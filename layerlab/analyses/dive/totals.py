"""Totals over several images that count each stored byte once, and dangling images.

Images built on one another share layers, so the bytes one image's layers hide are often the same
bytes another image's layers hide: adding the per-image ``reclaimable_bytes`` counts them once per
image (in the sample, ``app:1`` is built on ``bloat:1`` and both carry the same 2.36 MB). Here
every (layer, path) counts once, however many images show it.

A dangling image is what ``docker image prune`` removes: no tag, no child image (so not a build
step of another image), no container. Removing the dangling images frees the layers no other image
uses; that is ``prunable_bytes``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..opening import analysis


def hidden_rows(inv, image_id: str) -> pd.DataFrame:
    """(layer_id, path, bytes) of every stored entry ``image_id``'s final filesystem hides."""
    from .waste import hidden_of

    hidden = hidden_of(inv, image_id)
    return pd.DataFrame({"layer_id": hidden["layer_id"].astype(object), "path": hidden["path"].astype(object),
                         "bytes": hidden["size"].astype("int64")})


def _listed(inv, images=None) -> list[str]:
    if images is None:
        imgs = inv.listed
        return list(imgs["image_id"])
    return [inv.image_id(i) for i in ([images] if isinstance(images, str) else images)]


@analysis()
def reclaimable_once(source, images=None) -> dict:
    """Reclaimable bytes over several images, each (layer, path) counted once.

    Parameters
    ----------
    {source}
    images
        Tags, IDs or ID prefixes (default: every image ``docker images`` lists).

    Returns
    -------
    dict
        ``reclaimable_bytes`` (each (layer, path) once), ``reclaimable_bytes_sum_of_images``
        (the per-image figures added up, which count shared layers once per image), ``images``.
    """
    inv = source
    ids = _listed(inv, images)
    from .waste import stack_all

    stack_all(inv, ids, hidden_only=True)  # every image's hidden entries in one pass along the layer tree
    hidden = [inv.cache["hidden_rows"][i] for i in ids]  # waste.HiddenRows
    size = inv.files["size"].to_numpy()
    per_image = int(sum(int(size[h.rows].sum()) for h in hidden))
    once = 0
    if hidden:
        at = np.concatenate([h.rows for h in hidden])
        path_code = np.concatenate([h.path_codes for h in hidden])
        if len(at):
            # each (layer, path) once, by numbers rather than strings: the first one met counts
            layer_code = np.empty(len(size), dtype=np.int64)
            for k, rows in enumerate(inv.cache["files_by_layer"].values()):
                layer_code[rows] = k
            key = layer_code[at] * (int(path_code.max()) + 1) + path_code
            _, first = np.unique(key, return_index=True)
            once = int(size[at[first]].sum())
    return {"reclaimable_bytes": once, "reclaimable_bytes_sum_of_images": per_image, "images": len(ids)}


def prune_command(image_store) -> str:
    """The command that removes a store's dangling images: podman's for containers-storage."""
    return "podman image prune" if image_store == "containers-storage" else "docker image prune"


@analysis()
def dangling(source) -> pd.DataFrame:
    """Images ``docker image prune`` would remove, and the bytes removing them frees.

    Returns
    -------
    DataFrame
        One row per image ``docker images`` lists: ``image_id``, ``tags``, ``dangling`` (no tag,
        no child image, no container), ``prunable_bytes`` (layer bytes that removing this image
        alone frees: layers no other listed image uses; 0 for images that are not dangling).
        ``attrs["prunable_bytes"]`` is what removing every dangling image at once frees (a layer
        only dangling images share counts there, once), ``attrs["dangling_images"]`` their count.
    """
    inv = source
    images = inv.listed
    il = inv.image_layers
    chains = {iid: set(g["layer_id"]) for iid, g in il.groupby("image_id", sort=False)}
    sizes = il.drop_duplicates("layer_id").set_index("layer_id")["size"]
    is_dangling = (images["tags"].map(len) == 0) & (images["container_count"] == 0)
    users: dict[str, int] = {}
    for iid in images["image_id"]:
        for lid in chains.get(iid, ()):
            users[lid] = users.get(lid, 0) + 1
    kept = set().union(*[chains.get(i, set())
                         for i in images.loc[~is_dangling, "image_id"]]) if (~is_dangling).any() else set()
    gone = set().union(*[chains.get(i, set())
                         for i in images.loc[is_dangling, "image_id"]]) if is_dangling.any() else set()
    rows = []
    for r, d in zip(images.itertuples(index=False), is_dangling):
        alone = [lid for lid in chains.get(r.image_id, ()) if users.get(lid) == 1] if d else []
        rows.append((r.image_id, list(r.tags), bool(d), int(sizes.reindex(alone).sum()) if alone else 0))
    out = pd.DataFrame(rows, columns=["image_id", "tags", "dangling", "prunable_bytes"])
    out = out.astype({"dangling": "bool", "prunable_bytes": "int64"})
    out["image_id"] = out["image_id"].astype(object)
    freed = gone - kept
    out.attrs.update(prunable_bytes=int(sizes.reindex(list(freed)).sum()) if freed else 0,
                     dangling_images=int(is_dangling.sum()))
    return out
