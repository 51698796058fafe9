"""A local image's layers with their three sizes: uncompressed (layer tar), on disk, and compressed (registry).

The join goes through the data root's distribution metadata (``v2metadata-by-diffid``), which
records, per layer DiffID, the registry blob digests the daemon pulled or pushed it as.
"""

from __future__ import annotations

import pandas as pd

from ..errors import ImageNotFound
from ..oci.reference import Reference
from ..sources import open_source

COLUMNS = ["image_id", "position", "layer_id", "diff_id", "size", "disk_usage", "compressed_digest",
           "compressed_size"]


def local_sizes(source, image: str, client=None, *, reference: str | None = None,
                platform: str | None = None) -> pd.DataFrame:
    """One row per layer of local ``image``: ``size`` (uncompressed, as docker counts it), ``disk_usage``
    (allocated blocks) and ``compressed_size`` (the registry blob, via the distribution metadata).

    ``source`` is anything ``layerlab.open_source`` takes (a data root, a snapshot, ``"sample"``, an
    Inventory); ``client`` a ``layerlab.sources.registry.RegistryClient``. The registry side
    is ``reference`` if given, else the image's first repo digest; ``compressed_size`` is null (and
    ``compressed_digest`` still filled from the metadata) when no registry is asked (``client=None``).
    """
    source = open_source(source)
    image_id = source.image_id(image)
    rows = source.image_layers[source.image_layers["image_id"] == image_id].sort_values("position")
    layers = source.layers.set_index("layer_id")
    remote: dict[str, tuple[int, int]] = {}  # blob digest -> (position, size)
    if client is not None:
        if reference is None:
            img = source.images[source.images["image_id"] == image_id].iloc[0]
            digests = list(img["digests"] if img["digests"] is not None else [])
            if not digests:
                raise ImageNotFound(f"{image} has no repo digest (it was never pushed or pulled); pass "
                                    "reference= the registry reference to compare with", ref=image)
            reference = digests[0]
            platform = platform or f"{img['os']}/{img['architecture']}"
        info = client.inspect(Reference.parse(reference), platform=platform)
        remote = {l.digest: (pos, l.size) for pos, l in enumerate(info.images[0].layers)}
    out = []
    for row in rows.itertuples(index=False):
        layer = layers.loc[row.layer_id]
        candidates = list(layer["compressed"] if layer["compressed"] is not None else [])
        # Prefer the blob the registry's manifest has at this position; a DiffID can have several blobs.
        matched = [d for d in candidates if d in remote]
        matched.sort(key=lambda d: remote[d][0] != row.position)
        digest = matched[0] if matched else (candidates[0] if candidates else None)
        out.append({"image_id": image_id, "position": row.position, "layer_id": row.layer_id,
                    "diff_id": row.diff_id, "size": layer["size"], "disk_usage": layer["disk_usage"],
                    "compressed_digest": digest,
                    "compressed_size": remote[digest][1] if digest in remote else None})
    df = pd.DataFrame(out, columns=COLUMNS)
    return df.astype({"position": "int64", "size": "int64", "disk_usage": "Int64", "compressed_size": "Int64",
                      "image_id": "string", "layer_id": "string", "diff_id": "string",
                      "compressed_digest": "string"})
