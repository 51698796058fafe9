"""``oci:DIR[:REF]`` and ``oci-archive:PATH[:REF]``: OCI image layouts (from ``skopeo copy``, ``buildx
--output type=oci``, ``umoci``) as an Inventory.

A layout is ``oci-layout``, ``index.json`` and content-addressed ``blobs/<alg>/<hex>``. The index
lists image manifests or further indexes (one per platform); each manifest names a config and its
layer blobs, which may be gzip, zstd or not compressed. Every blob read is checked against the
digest it is named by. ``REF`` picks the index entries whose ``org.opencontainers.image.ref.name``
(or ``io.containerd.image.name``) is REF; ``platform`` (``os/arch[/variant]``) picks platforms.
Attestations and other artifacts in an index (buildx writes provenance manifests) are left out.
"""

from __future__ import annotations

import os

from ..errors import ArchiveError, ImageNotFound
from ..oci.manifest import (CONFIG_TYPES, IMAGE_NAME, IMAGE_TYPES, INDEX_TYPES, LAYER_TYPES, OCI_INDEX, OCI_MANIFEST,
                            REF_NAME, platform_wanted)
from .blobstore import (DirStore, blob_name, foreign_blob, layer_blob, not_an_image, open_tar_store, read_json_blob,
                        verified)
from .foreign import check_choice, foreign_urls
from .imageset import ImageEntry, build_inventory



def images_from_layout(store, *, ref: str | None = None, platform: str | None = None,
                       foreign_layers: str = "fetch") -> list[ImageEntry]:
    """The images an OCI layout's index.json reaches (optionally only those named ``ref``)."""
    if not store.has("oci-layout") and not store.has("index.json"):
        raise ArchiveError(f"{store.path} is not an OCI image layout: it has no oci-layout or index.json; "
                           "expected a layout made by `skopeo copy ... oci:DIR` or `buildx --output type=oci`",
                           path=store.path)
    index = read_json_blob(store.read_bytes("index.json"), store.where("index.json"), "an OCI image index")
    entries = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(entries, list):
        raise ArchiveError(f"{store.where('index.json')} has no manifests list; expected an OCI image index",
                           path=store.path)
    names = [((e.get("annotations") or {}).get(IMAGE_NAME) or (e.get("annotations") or {}).get(REF_NAME))
             for e in entries]
    if ref is not None:
        picked = [(e, n) for e, n in zip(entries, names)
                  if n == ref or (e.get("annotations") or {}).get(REF_NAME) == ref or e.get("digest") == ref]
        if not picked:
            known = sorted({n for n in names if n})
            raise ImageNotFound(f"{store.path} has no image named {ref!r}; it has: "
                                f"{', '.join(known) or 'no named images'}",
                                ref=ref)
    else:
        picked = list(zip(entries, names))
    images: list[ImageEntry] = []
    for entry, name in picked:
        _collect(store, entry, [name] if name else [], platform, images, depth=0, foreign_layers=foreign_layers)
    if not images:
        raise ImageNotFound(f"{store.path} holds no image" + (f" for platform {platform}" if platform else ""),
                            ref=ref)
    return images


def _collect(store, desc: dict, tags: list[str], platform: str | None, out: list[ImageEntry], depth: int,
             foreign_layers: str = "fetch") -> None:
    what = store.where("index.json")
    media = desc.get("mediaType") or ""
    if (desc.get("annotations") or {}).get("vnd.docker.reference.type") == "attestation-manifest":
        return
    if (desc.get("platform") or {}).get("architecture") == "unknown":  # buildkit's attestations, however annotated
        return
    if not platform_wanted(platform, desc.get("platform")):
        return
    data = verified(store, desc, what)
    doc = read_json_blob(data, store.where(blob_name(desc["digest"], what, store)), "an image manifest or index")
    media = doc.get("mediaType") or media or (OCI_INDEX if "manifests" in doc else OCI_MANIFEST)
    if media in INDEX_TYPES:
        if depth > 4:
            raise ArchiveError(f"{what}: indexes nested more than 4 deep", path=store.path)
        for child in doc.get("manifests") or []:
            _collect(store, child, tags, platform, out, depth + 1, foreign_layers)
        return
    if media not in IMAGE_TYPES:
        raise ArchiveError(f"{store.where(blob_name(desc['digest'], what, store))}: unknown manifest media type "
                           f"{media!r}; expected an OCI or Docker image manifest or index", path=store.path)
    config_desc = doc.get("config") or {}
    if config_desc.get("mediaType") not in CONFIG_TYPES:
        return  # an artifact (signature, SBOM, ...), not an image
    mname = store.where(blob_name(desc["digest"], what, store))
    raw = verified(store, config_desc, mname)
    config = read_json_blob(raw, store.where(blob_name(config_desc["digest"], mname, store)), "an image config")
    # The index entry's platform decides, as containerd and skopeo choose (and docker:// here): the
    # config's own is asked only of an entry that names none.
    if not desc.get("platform") and not platform_wanted(platform,
                                                        {"os": config.get("os"),
                                                         "architecture": config.get("architecture"),
                                                          "variant": config.get("variant")}):
        return
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    layers = doc.get("layers") or []
    if len(layers) != len(diff_ids):
        raise ArchiveError(f"{mname}: the manifest names {len(layers)} layers but its config has {len(diff_ids)} "
                           "diff IDs; the image is damaged", path=store.path)
    blobs = []
    for layer, did in zip(layers, diff_ids):
        lmedia = layer.get("mediaType") or ""
        if lmedia not in LAYER_TYPES:
            raise ArchiveError(f"{mname}: layer {layer.get('digest')} has the unknown media type {lmedia!r}; "
                               f"expected one of {', '.join(sorted(LAYER_TYPES))}", path=store.path)
        name = blob_name(layer.get("digest"), mname, store)
        urls = foreign_urls(layer, lmedia)
        if urls and not store.has(name):  # a foreign layer skopeo left out of the layout: from its urls
            blobs.append(foreign_blob(store, name, did, layer, urls, foreign_layers))
            continue
        blobs.append(layer_blob(store, name, did, digest=layer.get("digest"), size=layer.get("size"),
                                media_type=lmedia))
    out.append(ImageEntry(config_desc["digest"], config, blobs, tags=list(tags)))


def split_ref(spec: str) -> tuple[str, str | None]:
    """``PATH[:REF]`` as skopeo splits it, at the first colon (a REF such as ``app:1`` has its own);
    a PATH that exists whole is taken as given."""
    if os.path.exists(spec) or ":" not in spec:
        return spec, None
    path, _, ref = spec.partition(":")
    return path, ref or None


def open_layout(path, *, ref: str | None = None, platform: str | None = None, workers: int | None = None,
                progress: bool | None = None, verify: bool = True, hash_files: bool = False,
                foreign_layers: str = "fetch"):
    """Open an OCI image layout directory as an Inventory (``ref`` picks named images; default all).
    ``verify=False`` reads uncompressed layers headers only (see ``archive.open_archive``);
    ``foreign_layers``: "fetch" or "skip" a foreign layer the layout lacks (sources/foreign.py)."""
    check_choice(foreign_layers)
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise ArchiveError(f"{path} is not a directory; an OCI layout is a directory with oci-layout and index.json "
                           f"(for a tar of one use oci-archive:{path})", path=path)
    store = DirStore(path, verify, hash_files)
    images = images_from_layout(store, ref=ref, platform=platform, foreign_layers=foreign_layers)
    meta = {"source": f"oci:{path}" + (f":{ref}" if ref else ""), "image_store": "oci", "driver": None}
    return build_inventory(images, meta, workers=workers, progress=progress)


def open_oci_archive(path, *, ref: str | None = None, platform: str | None = None, workers: int | None = None,
                     progress: bool | None = None, verify: bool = True, hash_files: bool = False,
                     foreign_layers: str = "fetch"):
    """Open a tar of an OCI image layout (``skopeo copy ... oci-archive:PATH``) as an Inventory."""
    check_choice(foreign_layers)
    path = os.fspath(path)
    store = open_tar_store(path, progress, verify, hash_files)
    if not store.has("index.json"):
        raise not_an_image(path)
    images = images_from_layout(store, ref=ref, platform=platform, foreign_layers=foreign_layers)
    meta = {"source": f"oci-archive:{path}", "image_store": "oci-archive", "driver": None}
    return build_inventory(images, meta, workers=workers, progress=progress)
