"""The figures of ``layerlab summary``: images, containers and totals of a source, computed once.

The CLI's text and ``--json``, and the report, read this one dict.
"""

from __future__ import annotations

import pandas as pd

from .waste import summary_fields


def image_counts(inv) -> dict:
    """The image counts every output names the same way: ``images`` (what ``docker images`` lists),
    ``tagged_images`` (with at least one tag) and ``all_images`` (``docker images -a``: the classic
    builder's intermediate images too)."""
    return {"images": len(inv.listed), "tagged_images": len(inv.tagged), "all_images": len(inv.images)}


def summary_dict(inv) -> dict:
    """The stable machine interface of ``layerlab summary --json``."""
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
    }
