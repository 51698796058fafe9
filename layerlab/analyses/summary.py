"""The figures of ``layerlab summary``: images, containers and totals of a source, computed once.

The CLI's text and ``--json``, and the report, read this one dict.
"""

from __future__ import annotations

import math

import pandas as pd

from .dive.totals import dangling, reclaimable_once
from .dive.waste import efficiency


def image_counts(inv) -> dict:
    """``Inventory.image_counts``: ``images``, ``tagged_images`` and ``all_images``."""
    return inv.image_counts()


def summary_dict(inv) -> dict:
    """The stable machine interface of ``layerlab summary --json``: per image docker's sizes, dive's and
    layerlab's waste figures and whether ``docker image prune`` would remove it (``dangling``, with the
    bytes that frees); per container its read-write bytes; totals that count each stored byte once."""
    data = _summary(inv)
    d = dangling(inv).set_index("image_id")
    for im in data["images"]:
        row = d.loc[im["image_id"]] if im["image_id"] in d.index else None
        im["dangling"] = bool(row["dangling"]) if row is not None else False
        im["prunable_bytes"] = int(row["prunable_bytes"]) if row is not None else 0
    once = reclaimable_once(inv, [im["image_id"] for im in data["images"]])
    data["totals"].update(
        reclaimable_bytes=once["reclaimable_bytes"],
        reclaimable_bytes_sum_of_images=once["reclaimable_bytes_sum_of_images"],
        dangling_images=int(d.attrs["dangling_images"]),
        prunable_bytes=int(d.attrs["prunable_bytes"]),
    )
    return data


def _summary(inv) -> dict:
    images = inv.listed
    chain = inv.image_layers[inv.image_layers["image_id"].isin(images["image_id"])]
    distinct = chain.drop_duplicates("layer_id")
    logical = int(images["size"].sum())
    physical = int(distinct["size"].sum())
    return {
        "source": inv.source,
        "driver": inv.meta.get("driver"),
        "image_store": inv.meta.get("image_store"),
        "images": [
            {
                "image_id": r.image_id,
                "tags": list(r.tags),
                "size": int(r.size),
                "layer_count": int(r.layer_count),
                "shared_size": int(r.shared_size),
                "unique_size": int(r.unique_size),
                "container_count": int(r.container_count),
                **summary_fields(inv, r.image_id),
            }
            for r in images.itertuples(index=False)
        ],
        "containers": [
            {
                "container_id": r.container_id,
                "name": r.name,
                "image_id": r.image_id,
                "rw_size": None if pd.isna(r.rw_size) else int(r.rw_size),
            }
            for r in inv.containers.itertuples(index=False)
        ],
        "totals": {
            **image_counts(inv),
            "layers": len(distinct),
            "logical_size": logical,
            "physical_size": physical,
            "dedup_ratio": round(logical / physical, 4) if physical else None,
        },
        "skipped": skipped_list(inv),
    }


def skipped_list(inv) -> list[dict]:
    """What the source could not read, one dict each: ``kind`` (image, layer, container, ...), ``id``,
    ``reason``, ``path``, and ``names`` (a skipped image's tags and digests; empty for the others)."""
    names = {iid: n for iid, n, _ in inv.skipped_images()}
    return [
        {"kind": r.what, "id": r.id, "names": list(names.get(r.id, [])), "reason": r.reason,
         "path": None if pd.isna(r.path) else r.path}
        for r in inv.skipped.itertuples(index=False)
    ]


def summary_fields(inv, image_id: str) -> dict:
    """The analysis fields of one image in ``layerlab summary --json`` (JSON-safe values)."""
    c = inv.cache
    if "summary_efficiency" not in c:  # the images summary lists, all at once
        c["summary_efficiency"] = efficiency(inv).set_index("image_id")
    row = c["summary_efficiency"].loc[image_id]

    def num(x):
        return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)

    return {
        "dive_efficiency": num(row["dive_efficiency"]),
        "dive_wasted_bytes": int(row["dive_wasted_bytes"]),
        "dive_user_wasted_percent": num(row["dive_user_wasted_percent"]),
        "reclaimable_bytes": int(row["reclaimable_bytes"]),
        "base_image": row["base_image"] if isinstance(row["base_image"], str) else None,
        "base_size": int(row["base_size"]),
    }
