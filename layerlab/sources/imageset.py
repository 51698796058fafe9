"""Images given as configs and layer blobs (a ``docker save`` archive, an OCI layout, a registry) into
the contract's frames: the one frame builder those three sources share.

A source describes each image (its config, names and layer blobs, base first) and how to read each
blob; this module reads every distinct layer once (concurrently, with a bounded pool), and builds the
frames as a data root's are built (``dataroot.metadata_frames``, ``fill_layer_counts``,
``chain_ids``), so the same image gives the same rows whichever way it is read:

- ``images``: image ID = config digest; ``size`` as Docker's layer store counts a layer (regular
  file bytes plus symlink target lengths, ``_reader.docker_size``); shared/unique as
  ``docker system df -v`` splits them among the images of the source; no containers.
- ``layers``: keyed by chain ID; ``compressed`` lists the blob digest when the blob was compressed;
  ``disk_usage`` is null (nothing is on a disk); compressed sizes and media types are in
  ``inv.meta["layer_blobs"]`` (see :func:`layer_blobs`).
- ``files``: from the layer tars' headers (``tarstream``).
- ``history``/``image_layers``: from the configs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pandas as pd

from ..errors import LayerDigestMismatch
from ..frames import schema
from ..frames.inventory import Inventory
from ..oci.config import chain_ids, history_rows, image_layer_rows, parse_time
from ._reader import docker_size, fill_layer_counts, metadata_frames, source_meta
from .layerfiles.rows import concat_files
from .layerfiles.tarstream import LayerRead

#: Layers read at once (decompression and hashing release the GIL; tar headers do not).
DEFAULT_WORKERS = min(4, os.cpu_count() or 1)


@dataclass
class LayerBlob:
    """One layer of an image as its source holds it.

    ``read(layer_id)`` reads the blob (checking its digests) into a :class:`tarstream.LayerRead`.
    ``digest``/``size``/``media_type`` describe the blob as stored; when the blob turns out to be
    compressed, its digest goes in the layers frame's ``compressed`` column.
    """

    diff_id: str
    read: Callable[[str], LayerRead]
    where: str
    digest: str | None = None
    size: int | None = None
    media_type: str | None = None


@dataclass
class ImageEntry:
    """One image of a source: its config (parsed, and its digest: the image ID), names and layers."""

    config_digest: str
    config: dict
    layers: list[LayerBlob]
    tags: list[str] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)
    parent: str | None = None


def build_inventory(images: list[ImageEntry], meta: dict, *, workers: int | None = None,
                    progress: bool | None = None) -> Inventory:
    """An Inventory of ``images``; layers are read on first use of a frame that needs them."""
    by_id: dict[str, ImageEntry] = {}
    for img in images:  # the same image under several names (RepoTags, index entries) is one row
        seen = by_id.get(img.config_digest)
        if seen is None:
            by_id[img.config_digest] = img
        else:
            seen.tags = sorted(set(seen.tags) | set(img.tags))
            seen.digests = sorted(set(seen.digests) | set(img.digests))
    state: dict = {}

    def frames() -> dict[str, pd.DataFrame]:
        if "frames" not in state:
            state["frames"] = _frames(list(by_id.values()), workers or DEFAULT_WORKERS, progress, inv.meta["layer_blobs"])
        return state["frames"]

    def get(name):
        return lambda: frames()[name]

    blobs = {}
    for img in by_id.values():
        for cid, layer in zip(chain_ids([l.diff_id for l in img.layers]), img.layers):
            blobs[cid] = {"diff_id": layer.diff_id, "digest": layer.digest, "size": layer.size,
                          "media_type": layer.media_type, "compression": None}
    given = dict(meta)
    meta = source_meta(given.pop("source"), given.pop("image_store"), given.pop("driver"), files_from="tar",
                       layer_blobs=blobs, **given)
    inv = Inventory(meta, {name: get(name) for name in ("images", "layers", "image_layers", "history",
                                                        "containers", "files", "skipped")})
    return inv


def _frames(images: list[ImageEntry], workers: int, progress: bool | None, blobs: dict) -> dict[str, pd.DataFrame]:
    chains: dict[str, list[str]] = {}
    todo: dict[str, LayerBlob] = {}
    parents: dict[str, str | None] = {}
    image_rows, il_rows, hist_rows = [], [], []
    for img in images:
        diff_ids = [l.diff_id for l in img.layers]
        chain = chain_ids(diff_ids)
        chains[img.config_digest] = chain
        for pos, (cid, layer) in enumerate(zip(chain, img.layers)):
            todo.setdefault(cid, layer)
            parents[cid] = chain[pos - 1] if pos else None
        hist_rows += history_rows(img.config, len(chain), image_id=img.config_digest)
        il_rows += image_layer_rows(img.config, img.config_digest, chain, layer_diff_ids=diff_ids)
        cfg = img.config
        image_rows.append({"image_id": img.config_digest, "tags": sorted(img.tags), "digests": sorted(img.digests),
                           "created": parse_time(cfg.get("created")), "architecture": cfg.get("architecture"),
                           "os": cfg.get("os"), "layer_count": len(chain), "size": 0, "shared_size": 0,
                           "unique_size": 0, "container_count": 0, "parent": img.parent, "intermediate": False})

    read = _read_all(todo, workers, progress)
    files = concat_files([r[0] for r in read.values()])
    size = {cid: r[1] for cid, r in read.items()}
    for cid, r in read.items():
        blobs[cid]["compression"] = r[2]
    refs: dict[str, int] = {}
    for chain in chains.values():
        for c in chain:
            refs[c] = refs.get(c, 0) + 1
    for row in image_rows:
        chain = chains[row["image_id"]]
        row["size"] = sum(size[c] for c in chain)
        row["shared_size"] = sum(size[c] for c in chain if refs[c] > 1)
        row["unique_size"] = row["size"] - row["shared_size"]
    for row in il_rows:
        row["size"] = size[row["layer_id"]]
    layer_rows = [{"layer_id": cid, "kind": "image", "diff_id": layer.diff_id, "parent": parents[cid],
                   "cache_id": None, "size": size[cid], "image_count": refs[cid],
                   "compressed": [layer.digest] if read[cid][2] != "none" and layer.digest else []}
                  for cid, layer in todo.items()]
    out = metadata_frames(image_rows, layer_rows, il_rows, hist_rows, [])
    fill_layer_counts(out["layers"], files, {})
    out["files"] = files
    out["skipped"] = schema.empty("skipped")
    return out


def _read_all(todo: dict[str, LayerBlob], workers: int, progress: bool | None) -> dict[str, tuple[pd.DataFrame, int, str]]:
    """Read every layer once: (files rows, Docker's size, compression of the blob) by chain ID."""
    def one(item):
        cid, layer = item
        got = layer.read(cid)
        if got.diff_id is not None and got.diff_id != layer.diff_id:
            raise LayerDigestMismatch(f"{layer.where}: the uncompressed layer hashes to {got.diff_id}, but the image "
                                      f"config says {layer.diff_id}; the layer is damaged or belongs to another "
                                      "image, and is not analysed", path=layer.where)
        got.rows.layer_id = cid
        files = got.rows.frame(release=True)
        return cid, (files, docker_size(files), got.compression)

    # Largest blob first: the longest read starts at once and the small ones fill in beside it,
    # rather than a big layer late in the manifest running alone at the end.
    items = sorted(todo.items(), key=lambda item: -(item[1].size or 0))
    if progress is False or not items:  # tqdm is imported only to be shown (a script's startup counts)
        bar = _NoBar()
    else:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(items), desc="reading layers", unit="layer", leave=False)
    out = {}
    try:
        if workers <= 1 or len(items) <= 1:
            for item in items:
                cid, value = one(item)
                out[cid] = value
                bar.update()
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for cid, value in pool.map(one, items):
                    out[cid] = value
                    bar.update()
    finally:
        bar.close()
    return {cid: out[cid] for cid in todo}  # in the images' order again


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def layer_blobs(inv: Inventory) -> pd.DataFrame:
    """Per layer of an archive, layout or registry image: the blob as stored (digest, size, media type,
    compression: gzip, zstd or none) beside the uncompressed ``size`` Docker counts."""
    blobs = inv.meta.get("layer_blobs") or {}
    rows = [{"layer_id": cid, **b} for cid, b in blobs.items()]
    df = pd.DataFrame(rows, columns=["layer_id", "diff_id", "digest", "size", "media_type", "compression"])
    df = df.rename(columns={"size": "blob_size", "digest": "blob_digest"})
    sizes = dict(zip(inv.layers["layer_id"], inv.layers["size"]))
    df["size"] = df["layer_id"].map(sizes).astype("Int64")
    df["blob_size"] = df["blob_size"].astype("Int64")
    return df
