"""A local image's layers with their three sizes: uncompressed (layer tar), on disk, and compressed (registry).

The join goes through the data root's distribution metadata (``v2metadata-by-diffid``), which
records, per layer DiffID, the registry blob digests the daemon pulled or pushed it as.
"""

from __future__ import annotations

import pandas as pd

from ...errors import ImageNotFound
from ...oci.reference import Reference
from ..opening import analysis

COLUMNS = ["image_id", "position", "layer_id", "diff_id", "size", "disk_usage", "compressed_digest",
           "compressed_size"]


@analysis()
def local_sizes(source, image: str, client=None, *, reference: str | None = None,
                platform: str | None = None) -> pd.DataFrame:
    """One row per layer of local ``image``: ``size`` (uncompressed, as docker counts it), ``disk_usage``
    (allocated blocks) and ``compressed_size`` (the registry blob, via the distribution metadata).

    ``source`` is anything ``layerlab.open_source`` takes (a data root, a snapshot, ``"sample"``, an
    Inventory); ``client`` a ``layerlab.sources.registry.RegistryClient``. The registry side
    is ``reference`` if given, else the image's first repo digest; ``compressed_size`` is null (and
    ``compressed_digest`` still filled from the metadata) when no registry is asked (``client=None``).
    """
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


#: Why a layer's compressed size is not known (the one rule every chart, table and notebook uses).
UNKNOWN_REASONS = {
    "no_digest": "never pulled or pushed (no registry digest recorded)",
    "no_registry_data": "no registry data given",
    "not_in_registry_data": "its blob is not in the registry data given",
}


def blob_sizes(blobs) -> dict:
    """``{blob digest: compressed bytes}`` from registry data: a ``registry_layers`` or
    ``registry_blobs`` frame, a storage audit's ``blobs``, or a mapping; ``{}`` for None."""
    if blobs is None:
        return {}
    if isinstance(blobs, dict):
        return dict(blobs)
    digest_col = "digest" if "digest" in blobs.columns else "blob"
    return dict(zip(blobs[digest_col], blobs["size"].astype("int64")))


@analysis()
def layer_compressed(source, blobs=None) -> pd.DataFrame:
    """Each image layer's compressed size, known or unknown by one rule, and why when unknown.

    A layer's compressed size is known when the daemon recorded a registry blob digest for it
    (its distribution metadata: the layer was pulled or pushed) **and** the registry data given
    (``blobs``: a live registry's frames or a storage audit's blobs) holds that blob; the first
    recorded digest found there gives the size. Otherwise ``compressed_size`` is null and
    ``unknown_reason`` says which of ``UNKNOWN_REASONS`` applies. An image's compressed size is known
    only when every one of its layers' is.

    Returns
    -------
    DataFrame
        One row per image layer: ``layer_id``, ``compressed_digest`` (the blob whose size is shown,
        else the first recorded digest, else null), ``compressed_size`` (Int64), ``unknown_reason``
        (null when known).
    """
    inv = source
    sizes = blob_sizes(blobs)
    layers = inv.layers[inv.layers["kind"] == "image"]
    rows = []
    for layer_id, digests in zip(layers["layer_id"], layers["compressed"]):
        digests = list(digests if digests is not None else [])
        hits = [d for d in digests if d in sizes]
        if hits:
            rows.append((layer_id, hits[0], sizes[hits[0]], None))
        else:
            reason = "no_digest" if not digests else "no_registry_data" if not sizes else "not_in_registry_data"
            rows.append((layer_id, digests[0] if digests else None, None, UNKNOWN_REASONS[reason]))
    df = pd.DataFrame(rows, columns=["layer_id", "compressed_digest", "compressed_size", "unknown_reason"])
    df = df.astype({"layer_id": "string", "compressed_digest": "string", "compressed_size": "Int64"})
    # Missing text stays None, as in the other analyses (pandas 3 would make it NaN in a str column).
    from ..stacking import nulls_as_none

    return nulls_as_none(df, ["compressed_digest", "unknown_reason"])
