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

The layers are read from the moment the Inventory is built, in a background pool (:class:`_Reads`),
and pandas and pyarrow are imported only after the reads have started: the import (about 0.4 s of
one core) then overlaps the downloads, hashing, inflating and header walks, which release the GIL,
instead of coming before them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..oci.config import chain_ids, history_rows, image_layer_rows, parse_time
from .foreign import LayerSkipped
from .docker.early import collector_paused, quick_switches
from .layerfiles.rows import FRAME_ALONE, FileRows, concat_files
from .layerfiles.tarstream import LayerRead, diff_id_mismatch

if TYPE_CHECKING:
    import pandas as pd

    from ..frames.inventory import Inventory

#: Layers read at once (decompression, hashing and the C header walk release the GIL; the rest holds it).
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
    #: The blob's bytes as stored (a file object, seekable where the store allows), for readers of
    #: file contents (package databases); None where the store cannot reopen it.
    open: Callable[[], object] | None = None


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
    """An Inventory of ``images``. Every distinct layer starts being read at once, in a background pool
    of ``workers`` threads; a frame that needs the layers waits for the reads (and raises the first
    error one of them met, e.g. a digest that does not match)."""
    by_id: dict[str, ImageEntry] = {}
    for img in images:  # the same image under several names (RepoTags, index entries) is one row
        seen = by_id.get(img.config_digest)
        if seen is None:
            by_id[img.config_digest] = img
        else:
            seen.tags = sorted(set(seen.tags) | set(img.tags))
            seen.digests = sorted(set(seen.digests) | set(img.digests))
    # Every distinct layer by chain ID, in the images' order (the first image's blob is the one read),
    # and its blob as ``meta["layer_blobs"]`` lists it (the last image's)
    todo: dict[str, LayerBlob] = {}
    blobs = {}
    for img in by_id.values():
        for cid, layer in zip(chain_ids([l.diff_id for l in img.layers]), img.layers):
            todo.setdefault(cid, layer)
            blobs[cid] = {"diff_id": layer.diff_id, "digest": layer.digest, "size": layer.size,
                          "media_type": layer.media_type, "compression": None}
    reads = _Reads(todo, workers or DEFAULT_WORKERS)
    state: dict = {}

    def frames() -> dict[str, pd.DataFrame]:
        if "frames" not in state:
            state["frames"] = _frames(list(by_id.values()), reads, progress, inv.meta["layer_blobs"])
        return state["frames"]

    def get(name):
        return lambda: frames()[name]

    # pandas and pyarrow are first imported here, while the layers are read (see the module's docstring)
    with collector_paused(), quick_switches():
        from ..frames.inventory import Inventory
        from ._reader import source_meta

    given = dict(meta)
    meta = source_meta(given.pop("source"), given.pop("image_store"), given.pop("driver"), files_from="tar",
                       layer_blobs=blobs, **given)
    inv = Inventory(meta, {name: get(name) for name in ("images", "layers", "image_layers", "history",
                                                        "containers", "files", "skipped")})
    inv.cache["layer_blob_open"] = {cid: layer.open for cid, layer in todo.items() if layer.open is not None}
    return inv


def _frames(images: list[ImageEntry], reads: _Reads, progress: bool | None, blobs: dict) -> dict[str, pd.DataFrame]:
    import pandas as pd

    from ..frames import schema
    from ._reader import fill_layer_counts, metadata_frames

    chains: dict[str, list[str]] = {}
    todo = reads.todo
    parents: dict[str, str | None] = {}
    image_rows, il_rows, hist_rows = [], [], []
    for img in images:
        diff_ids = [l.diff_id for l in img.layers]
        chain = chain_ids(diff_ids)
        chains[img.config_digest] = chain
        for pos, cid in enumerate(chain):
            parents[cid] = chain[pos - 1] if pos else None
        hist_rows += history_rows(img.config, len(chain), image_id=img.config_digest)
        il_rows += image_layer_rows(img.config, img.config_digest, chain, layer_diff_ids=diff_ids)
        cfg = img.config
        image_rows.append({"image_id": img.config_digest, "tags": sorted(img.tags), "digests": sorted(img.digests),
                           "created": parse_time(cfg.get("created")), "architecture": cfg.get("architecture"),
                           "os": cfg.get("os"), "layer_count": len(chain), "size": 0, "shared_size": 0,
                           "unique_size": 0, "container_count": 0, "parent": img.parent, "intermediate": False})

    read = reads.results(progress)
    files, size = _files_and_sizes(read)
    skipped = [s for r in read.values() if r[3] is not None for s in (r[3] if isinstance(r[3], list) else [r[3]])]
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
    out["skipped"] = schema.coerce(pd.DataFrame(skipped, columns=schema.columns("skipped")), "skipped") if skipped \
        else schema.empty("skipped")
    return out


class _Reads:
    """Every layer of ``todo`` read once, in a pool of ``workers`` threads started at once (largest
    blob first: the longest read starts first and the small ones fill in beside it, rather than a big
    layer late in the manifest running alone at the end). Each gives (files rows, Docker's size,
    compression of the blob) by chain ID."""

    def __init__(self, todo: dict[str, LayerBlob], workers: int):
        self.todo = todo
        self._futures: dict = {}
        self._done: dict | None = None
        items = sorted(todo.items(), key=lambda item: -(item[1].size or 0))
        if not items:
            return
        pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(items))), thread_name_prefix="layerlab-layer")
        self._futures = {cid: pool.submit(_read_one, cid, layer) for cid, layer in items}
        pool.shutdown(wait=False)  # the threads end when the reads are done

    def results(self, progress: bool | None) -> dict[str, tuple[pd.DataFrame, int, str]]:
        """Wait for every read (a bar shows them as they end); then the first error met, in the order
        the reads started, is raised."""
        if self._done is None:
            from concurrent.futures import as_completed

            if progress is False or not self._futures:  # tqdm is imported only to be shown (a script's startup counts)
                bar = _NoBar()
            else:
                from ..display import progress_bar

                bar = progress_bar(total=len(self._futures), desc="reading layers", unit="layer", progress=progress,
                                   leave=False)
            try:
                for _ in as_completed(self._futures.values()):
                    bar.update()
            finally:
                bar.close()
            for f in self._futures.values():
                f.result()  # raises the read's error
            self._done = {cid: self._futures[cid].result() for cid in self.todo}  # in the images' order again
        return self._done


def _read_one(cid: str, layer: LayerBlob) -> tuple[pd.DataFrame | FileRows, int | None, str, dict | None]:
    """A layer's (files frame, Docker's size, compression, skipped record or None); a small layer's
    rows are left unframed (size None), to be framed with the others (:func:`_files_and_sizes`)."""
    from ._reader import docker_size

    try:
        got = layer.read(cid)
    except LayerSkipped as e:  # left out on purpose (a foreign layer not fetched): no rows, said why
        import warnings

        warnings.warn(f"layerlab: skipped layer {cid}: {e.reason} ({layer.where})", stacklevel=2)
        got = LayerRead(FileRows(cid), None, None, 0, 0, "none")
        return got.rows.frame(release=True), 0, "none", {"what": "layer", "id": cid, "path": layer.where,
                                                         "reason": e.reason}
    if got.diff_id is not None and got.diff_id != layer.diff_id:
        raise diff_id_mismatch(layer.where, got.diff_id, layer.diff_id, got.ended_diff_id)
    got.rows.layer_id = cid
    refused = [{"what": "layer", "id": cid, "path": layer.where, "reason": reason} for _, reason in got.rows.refused]
    if refused:
        import warnings

        for r in refused:
            warnings.warn(f"layerlab: skipped an entry of layer {cid}: {r['reason']} ({layer.where})", stacklevel=2)
    if len(got.rows) < FRAME_ALONE:
        return got.rows, None, got.compression, refused or None
    files = got.rows.frame(release=True)  # here, beside the other reads, not after them
    return files, docker_size(files), got.compression, refused or None


def _files_and_sizes(read: dict) -> tuple[pd.DataFrame, dict[str, int]]:
    """The files frame of every layer read (in order) and each layer's Docker size: the runs of small
    layers left unframed are framed a run at a time (:func:`frame_layers`), not a layer at a time."""
    from ._reader import docker_sizes
    from .layerfiles.rows import frame_layers

    frames, size, run = [], {}, []

    def frame_run():
        merged = frame_layers(run)
        size.update(docker_sizes(merged))
        frames.append(merged)
        run.clear()

    for cid, r in read.items():
        got, layer_size = r[0], r[1]
        if layer_size is None:
            run.append(got)
            size[cid] = 0  # a layer without rows: not in its run's frame
            continue
        if run:
            frame_run()
        frames.append(got)
        size[cid] = layer_size
    if run:
        frame_run()
    files = concat_files(frames)
    return files, size


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def layer_blobs(inv: Inventory) -> pd.DataFrame:
    """Per layer of an archive, layout or registry image: the blob as stored (digest, size, media type,
    compression: gzip, zstd or none) beside the uncompressed ``size`` Docker counts."""
    import pandas as pd

    blobs = inv.meta.get("layer_blobs") or {}
    rows = [{"layer_id": cid, **b} for cid, b in blobs.items()]
    df = pd.DataFrame(rows, columns=["layer_id", "diff_id", "digest", "size", "media_type", "compression"])
    df = df.rename(columns={"size": "blob_size", "digest": "blob_digest"})
    sizes = dict(zip(inv.layers["layer_id"], inv.layers["size"]))
    df["size"] = df["layer_id"].map(sizes).astype("Int64")
    df["blob_size"] = df["blob_size"].astype("Int64")
    return df
