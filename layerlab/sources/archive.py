"""``docker-archive:PATH``: the output of ``docker save`` (plain or gzip/zstd-compressed) as an Inventory.

Both forms Docker writes are read through their ``manifest.json`` (one entry per image: ``Config``,
``RepoTags``, ``Layers``): the classic one (``<id>/layer.tar``, a layer shared by several images
stored once and linked from the others) and the OCI-layout one of Docker 25+ (``blobs/sha256/<hex>``
beside ``index.json`` and ``oci-layout``). A tar holding only an OCI layout (``oci-archive:``) is read
by ``ocilayout``. Layers are read straight out of the archive (``blobstore``), never extracted.
"""

from __future__ import annotations

import hashlib
import os
import posixpath

from ..errors import ArchiveError, LayerDigestMismatch
from ..oci.config import config_problem
from .blobstore import foreign_blob, layer_blob, named_digest, not_an_image, open_tar_store, read_json_blob
from .foreign import foreign_urls
from .imageset import ImageEntry, build_inventory

#: The most images one archive's manifest.json may list (each is read and framed: 100k entries would
#: keep a machine busy for hours).
MAX_IMAGES = 10_000


def images_from_manifest(store, manifest: list, foreign_layers: str = "fetch") -> list[ImageEntry]:
    """The images of a ``docker save`` manifest.json (both forms) with their layers in ``store``."""
    what = store.where("manifest.json")
    if not isinstance(manifest, list):
        raise ArchiveError(f"{what} is not a list of images; expected `docker save` output", path=store.path)
    if len(manifest) > MAX_IMAGES:
        raise ArchiveError(f"{what} lists {len(manifest)} images, more than the {MAX_IMAGES} layerlab reads from "
                           "one archive; it is damaged or hostile (save fewer images per archive)", path=store.path)
    images = []
    for entry in manifest:
        if not isinstance(entry, dict) or "Config" not in entry or "Layers" not in entry:
            raise ArchiveError(f"{what}: an entry lacks Config or Layers; expected `docker save` output",
                               path=store.path)
        problem = _entry_problem(entry)
        if problem:
            raise ArchiveError(f"{what}: an entry's {problem}; expected `docker save` output (the archive is "
                               "damaged)", path=store.path)
        config_name = entry["Config"]
        raw = store.read_bytes(config_name)
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        named = named_digest(config_name) or _classic_config_digest(config_name)
        if named and named != digest:
            raise LayerDigestMismatch(f"{store.where(config_name)}: the config hashes to {digest}, not {named} as it "
                                      "is named; the archive is damaged, and is not analysed", path=store.path)
        config = read_json_blob(raw, store.where(config_name), "an image config")
        problem = config_problem(config)
        if problem:
            raise ArchiveError(f"{store.where(config_name)}: {problem}; expected an image config (the archive is "
                               "damaged)", path=store.path)
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
        layers = entry.get("Layers") or []
        if len(layers) != len(diff_ids):
            raise ArchiveError(f"{what}: image {digest[:19]} names {len(layers)} layers but its config has "
                               f"{len(diff_ids)} diff IDs; the archive is damaged", path=store.path)
        sources = entry.get("LayerSources") or {}
        blobs = []
        for name, did in zip(layers, diff_ids):
            desc = sources.get(did) if isinstance(sources, dict) else None
            urls = foreign_urls(desc, (desc or {}).get("mediaType"))
            if urls and not store.has(name):  # a foreign layer docker save left out: from its urls
                blobs.append(foreign_blob(store, name, did, desc, urls, foreign_layers))
            else:
                blobs.append(layer_blob(store, name, did))
        images.append(ImageEntry(digest, config, blobs, tags=list(entry.get("RepoTags") or []),
                                 parent=entry.get("Parent") or None))
    return images


def _entry_problem(entry: dict) -> str | None:
    """What is wrong with the JSON types of a manifest.json entry (None when nothing), as Docker
    writes them: Config a string, Layers and RepoTags lists of strings, LayerSources an object,
    Parent a string. ``"RepoTags": "app:1"`` would otherwise become five one-character tags."""
    for key, kind in (("Config", str), ("Layers", list), ("RepoTags", list), ("LayerSources", dict), ("Parent", str)):
        value = entry.get(key)
        if value is not None and not isinstance(value, kind):
            wanted = "a string" if kind is str else "an array" if kind is list else "an object"
            return f"{key} is a JSON {type(value).__name__}, not {wanted}"
    for key in ("Layers", "RepoTags"):
        if not all(isinstance(v, str) for v in entry.get(key) or []):
            return f"{key} holds something other than strings"
    return None


def _classic_config_digest(name: str) -> str | None:
    base = posixpath.basename(name)
    if base.endswith(".json") and len(base) == 69 and all(c in "0123456789abcdef" for c in base[:64]):
        return "sha256:" + base[:64]
    return None


def open_archive(path, *, ref: str | None = None, platform: str | None = None, workers: int | None = None,
                 progress: bool | None = None, verify: bool = True, transport: str = "docker-archive",
                 hash_files: bool = False, foreign_layers: str = "fetch", read_layout=None):
    """Open a ``docker save`` archive (or a tar of an OCI layout) as an Inventory of the contract's frames.

    ``path`` may be plain, gzip or zstd compressed. Every image in it is read; a layer several images
    share is read once. Nothing is extracted: layers are read from the archive as streams, every
    layer is checked against its digest, and a mismatch refuses the archive (LayerDigestMismatch).
    ``verify=False`` reads the uncompressed layers of a plain archive headers only, seeking past
    file contents as ``tar -t`` does: faster for layers of big files, but a damaged layer is then
    noticed only if its tar structure breaks (configs and compressed layers are still checked).
    ``ref`` and ``platform`` select images of an OCI layout's index (``oci-archive:PATH:REF``).
    ``hash_files``: every regular file gets its SHA-256 (``files.sha256``), hashed as its layer streams.
    ``foreign_layers``: "fetch" (default) or "skip" a foreign layer the archive does not hold (docker
    save leaves them out, naming their urls in ``LayerSources``): sources/foreign.py.
    ``read_layout``: how to read a tar holding an OCI layout and no manifest.json (``ocilayout.images_from_layout``,
    passed by the dispatcher, transports.py, so that this reader does not depend on the layout reader).
    """
    from .foreign import check_choice

    check_choice(foreign_layers)
    path = os.fspath(path)
    store = open_tar_store(path, progress, verify, hash_files)
    meta = {"source": f"{transport}:{path}", "image_store": transport, "driver": None}
    if store.has("manifest.json") and transport == "docker-archive":
        manifest = read_json_blob(store.read_bytes("manifest.json"), store.where("manifest.json"),
                                  "`docker save`'s manifest.json")
        images = images_from_manifest(store, manifest, foreign_layers)
    elif store.has("index.json") and read_layout is not None:
        images = read_layout(store, ref=ref, platform=platform, foreign_layers=foreign_layers)
    elif store.has("index.json"):
        raise ArchiveError(f"{path} holds an OCI layout, not `docker save` output; open it as oci-archive:{path}",
                           path=path)
    else:
        raise not_an_image(path)
    return build_inventory(images, meta, workers=workers, progress=progress)
