"""Many references at once into the registry frames (manifests, registry_layers, registry_history,
registry_blobs), fetched concurrently over one client's connection pool with a progress bar."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable

import pandas as pd

from ...display import progress_bar
from ...errors import LayerlabError
from ...frames.schema import coerce, empty
from ...oci.config import history_rows
from ...oci.reference import Reference
from .client import Inspection, RegistryClient


@dataclass
class RegistryFrames:
    """The frames for a set of references; ``skipped`` lists references that failed and why."""

    manifests: pd.DataFrame
    layers: pd.DataFrame
    history: pd.DataFrame
    blobs: pd.DataFrame
    skipped: pd.DataFrame

    @property
    def dedup_ratio(self) -> float:
        return dedup_ratio(self.layers)


def inspect_many(refs: Iterable[str | Reference], client: RegistryClient | None = None, *,
                 platform: str | None = None, progress: bool | None = None,
                 max_workers: int | None = None) -> list[Inspection | LayerlabError]:
    """Inspect every reference concurrently; each result is an Inspection or the LayerlabError it raised."""
    refs = list(refs)
    own = client is None
    client = client or RegistryClient()
    workers = max_workers or client.max_workers

    def one(ref):
        try:
            return client.inspect(ref, platform=platform)
        except LayerlabError as e:
            return e

    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            bar = progress_bar(pool.map(one, refs), total=len(refs), desc="inspecting", unit="ref", progress=progress)
            return list(bar)
    finally:
        if own:
            client.close()


def registry_frames(refs: Iterable[str | Reference], client: RegistryClient | None = None, *,
                    platform: str | None = None, progress: bool | None = None,
                    errors: str = "skip") -> RegistryFrames:
    """Inspect ``refs`` and build the frames. ``errors="raise"`` stops at the first failed reference."""
    if errors not in ("skip", "raise"):
        raise ValueError(f"errors must be 'skip' or 'raise', not {errors!r}")
    refs = list(refs)
    results = inspect_many(refs, client, platform=platform, progress=progress)
    manifests, layers, history, skipped = [], [], [], []
    for result, ref in zip(results, refs):
        if isinstance(result, LayerlabError):
            if errors == "raise":
                raise result
            skipped.append({"what": "reference", "id": str(result.ref or ref), "path": None, "reason": str(result)})
            continue
        insp = result
        reference = str(insp.reference)
        for image in insp.images:
            manifests.append({
                "reference": reference, "repository": insp.reference.repository, "tag": insp.reference.tag,
                "digest": insp.digest, "media_type": insp.media_type, "platform": image.platform,
                "manifest_digest": image.digest, "manifest_media_type": image.media_type,
                "config_digest": image.config_digest, "created": image.created,
                "layer_count": len(image.layers), "size": image.size,
            })
            for position, layer in enumerate(image.layers):
                layers.append({
                    "reference": reference, "repository": insp.reference.repository, "platform": image.platform,
                    "manifest_digest": image.digest, "position": position, "digest": layer.digest,
                    "media_type": layer.media_type, "size": layer.size,
                })
            history += history_rows(image.config, len(image.layers), reference=reference, platform=image.platform)
    layers_df = _rows_frame(layers, "registry_layers")
    return RegistryFrames(
        manifests=_rows_frame(manifests, "manifests"),
        layers=layers_df,
        history=_rows_frame(history, "registry_history"),
        blobs=blob_sharing(layers_df),
        skipped=_rows_frame(skipped, "skipped"),
    )


def manifests(refs, client=None, **kwargs) -> pd.DataFrame:
    """The manifests frame: one row per (reference, platform)."""
    return registry_frames(refs, client, **kwargs).manifests


def registry_layers(refs, client=None, **kwargs) -> pd.DataFrame:
    """The registry_layers frame: one row per (reference, platform, position)."""
    return registry_frames(refs, client, **kwargs).layers


def _rows_frame(rows: list[dict], kind: str) -> pd.DataFrame:
    """A registry frame of ``kind`` from row dicts (``created`` parsed from RFC 3339 text)."""
    if not rows:
        return empty(kind)
    return coerce(pd.DataFrame(rows), kind)  # coerce parses ``created`` (schema.parse_time)


def blob_sharing(layers: pd.DataFrame) -> pd.DataFrame:
    """The registry_blobs frame: each layer blob with the images, references and repositories using it."""
    if layers.empty:
        return empty("registry_blobs")
    grouped = layers.groupby("digest", sort=False)
    df = pd.DataFrame({
        "media_type": grouped["media_type"].first(),
        "size": grouped["size"].max(),
        "image_count": grouped["manifest_digest"].nunique(),
        "reference_count": grouped.apply(lambda g: len(set(zip(g["reference"], g["platform"]))),
                                         include_groups=False),
        "repository_count": grouped["repository"].nunique(),
        "repositories": grouped["repository"].agg(lambda s: sorted(set(s))),
        "references": grouped["reference"].agg(lambda s: sorted(set(s))),
    }).reset_index()
    df = df.sort_values(["reference_count", "size"], ascending=False, kind="stable")
    return coerce(df, "registry_blobs")


def dedup_ratio(layers: pd.DataFrame) -> float:
    """Σ per-image compressed sizes (each reference × platform) ÷ bytes of the distinct layer blobs.

    1.0 means nothing is shared; 3.0 means the registry stores a third of what the images add up to.
    """
    layers = layers[layers["size"] >= 0]  # a schema1 manifest gives no blob sizes (-1, as skopeo says)
    if layers.empty:
        return float("nan")
    total = int(layers["size"].sum())
    distinct = int(layers.drop_duplicates("digest")["size"].sum())
    return total / distinct if distinct else float("nan")
