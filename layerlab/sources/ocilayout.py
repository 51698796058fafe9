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
from ..oci.config import config_problem
from ..oci.manifest import (CONFIG_TYPES, IMAGE_NAME, IMAGE_TYPES, INDEX_TYPES, LAYER_TYPES, OCI_INDEX, OCI_MANIFEST,
                            REF_NAME, platform_wanted)
from .blobstore import (DirStore, blob_name, foreign_blob, layer_blob, not_an_image, open_tar_store, read_json_blob,
                        verified)
from .foreign import check_choice, foreign_urls
from .imageset import ImageEntry, build_inventory

#: The most manifests and indexes one layout may reach: an index of 300 entries, each an index of
#: 300, ... (a fan-out of 300^3) is refused, not read 27 million times.
MAX_MANIFESTS = 10_000
#: The image-layout versions read (image-spec: "1.0.0"; a later 1.x keeps the layout's shape).
LAYOUT_MAJOR = "1"


def descriptor_problem(desc) -> str | None:
    """Why ``desc`` is not an OCI descriptor layerlab can rely on, or None: an object whose digest is
    a string, size a JSON integer >= 0, and mediaType, annotations, platform of their types."""
    if not isinstance(desc, dict):
        return f"a descriptor is a JSON {type(desc).__name__}, not an object"
    size = desc.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return f"descriptor {str(desc.get('digest'))[:80]!r} has size {str(size)[:40]!r}, not a non-negative integer"
    if not isinstance(desc.get("digest"), str):
        return f"a descriptor's digest is {str(desc.get('digest'))[:40]!r}, not a string"
    if not isinstance(desc.get("mediaType"), (str, type(None))):
        return f"descriptor {desc['digest'][:80]!r} has a mediaType that is not a string"
    annotations = desc.get("annotations")
    if annotations is not None and not (isinstance(annotations, dict)
                                        and all(isinstance(v, str) for v in annotations.values())):
        return f"descriptor {desc['digest'][:80]!r} has annotations that are not an object of strings"
    platform = desc.get("platform")
    if platform is not None and not (isinstance(platform, dict) and all(
            isinstance(platform.get(k), (str, type(None))) for k in ("os", "architecture", "variant"))):
        return f"descriptor {desc['digest'][:80]!r} has a platform that is not an object of strings"
    return None


def _check_descriptor(desc, what: str, store) -> dict:
    problem = descriptor_problem(desc)
    if problem:
        raise ArchiveError(f"{what}: {problem}; the layout is damaged", path=store.path)
    return desc


def _check_size(store, name: str, desc: dict, got: int | None) -> None:
    """A descriptor's size is checked against the blob it names (image-spec: they must be equal), so
    a wrong size is never recorded as the blob's."""
    if got is not None and got != desc["size"]:
        raise ArchiveError(f"{store.where(name)} holds {got} bytes but its descriptor says {desc['size']}; the "
                           "layout is damaged or was altered, and is not analysed", path=store.path)


def _verified(store, desc: dict, what: str) -> bytes:
    """The blob ``desc`` names, its descriptor checked and its size and digest verified."""
    _check_descriptor(desc, what, store)
    data = verified(store, desc, what)
    _check_size(store, blob_name(desc["digest"], what, store), desc, len(data))
    return data


def _check_layout_version(store) -> None:
    """The ``oci-layout`` file must say which layout version this is, and one layerlab reads."""
    what = store.where("oci-layout")
    if not store.has("oci-layout"):
        raise ArchiveError(f"{what} is missing: an OCI image layout has an oci-layout file naming its version "
                           "(image-spec); make the layout again with `skopeo copy ... oci:DIR`", path=store.path)
    doc = read_json_blob(store.read_bytes("oci-layout", limit=1 << 16), what,
                         'an object {"imageLayoutVersion": "1.0.0"}')
    version = doc.get("imageLayoutVersion") if isinstance(doc, dict) else None
    if not isinstance(version, str) or version.split(".")[0] != LAYOUT_MAJOR or len(version.split(".")) != 3:
        raise ArchiveError(f"{what} gives the layout version {str(version)[:40]!r}; layerlab reads image layouts "
                           f"of version {LAYOUT_MAJOR}.x.y (image-spec 1.0.0)", path=store.path)


def images_from_layout(store, *, ref: str | None = None, platform: str | None = None,
                       foreign_layers: str = "fetch") -> list[ImageEntry]:
    """The images an OCI layout's index.json reaches (optionally only those named ``ref``)."""
    if not store.has("oci-layout") and not store.has("index.json"):
        raise ArchiveError(f"{store.path} is not an OCI image layout: it has no oci-layout or index.json; "
                           "expected a layout made by `skopeo copy ... oci:DIR` or `buildx --output type=oci`",
                           path=store.path)
    _check_layout_version(store)
    index = read_json_blob(store.read_bytes("index.json"), store.where("index.json"), "an OCI image index")
    entries = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(entries, list):
        raise ArchiveError(f"{store.where('index.json')} has no manifests list; expected an OCI image index",
                           path=store.path)
    for e in entries:
        _check_descriptor(e, store.where("index.json"), store)
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
             foreign_layers: str = "fetch", seen: list | None = None) -> None:
    what = store.where("index.json")
    seen = seen if seen is not None else [0]
    seen[0] += 1
    if seen[0] > MAX_MANIFESTS:
        raise ArchiveError(f"{what}: the index reaches more than {MAX_MANIFESTS} manifests and indexes; a layout "
                           "this large is damaged or hostile, and is not read", path=store.path)
    _check_descriptor(desc, what, store)
    media = desc.get("mediaType") or ""
    if (desc.get("annotations") or {}).get("vnd.docker.reference.type") == "attestation-manifest":
        return
    if (desc.get("platform") or {}).get("architecture") == "unknown":  # buildkit's attestations, however annotated
        return
    if not platform_wanted(platform, desc.get("platform")):
        return
    data = _verified(store, desc, what)
    doc = read_json_blob(data, store.where(blob_name(desc["digest"], what, store)), "an image manifest or index")
    if not isinstance(doc, dict) or not isinstance(doc.get("mediaType"), (str, type(None))):
        raise ArchiveError(f"{store.where(blob_name(desc['digest'], what, store))} is not a JSON object with a "
                           "string mediaType; expected an image manifest or index", path=store.path)
    media = doc.get("mediaType") or media or (OCI_INDEX if "manifests" in doc else OCI_MANIFEST)
    if media in INDEX_TYPES:
        if depth > 4:
            raise ArchiveError(f"{what}: indexes nested more than 4 deep", path=store.path)
        children = doc.get("manifests") or []
        if not isinstance(children, list):
            raise ArchiveError(f"{store.where(blob_name(desc['digest'], what, store))}: manifests is not a list; "
                               "expected an image index", path=store.path)
        for child in children:
            _collect(store, child, tags, platform, out, depth + 1, foreign_layers, seen)
        return
    if media not in IMAGE_TYPES:
        raise ArchiveError(f"{store.where(blob_name(desc['digest'], what, store))}: unknown manifest media type "
                           f"{media!r}; expected an OCI or Docker image manifest or index", path=store.path)
    mname = store.where(blob_name(desc["digest"], what, store))
    config_desc = doc.get("config") or {}
    layers = doc.get("layers") or []
    if not isinstance(config_desc, dict) or not isinstance(layers, list):
        raise ArchiveError(f"{mname}: config is not an object or layers not a list; expected an image manifest",
                           path=store.path)
    if config_desc.get("mediaType") not in CONFIG_TYPES:
        return  # an artifact (signature, SBOM, ...), not an image
    raw = _verified(store, config_desc, mname)
    config = read_json_blob(raw, store.where(blob_name(config_desc["digest"], mname, store)), "an image config")
    problem = config_problem(config)
    if problem:
        raise ArchiveError(f"{store.where(blob_name(config_desc['digest'], mname, store))}: {problem}; expected an "
                           "image config", path=store.path)
    # The index entry's platform decides, as containerd and skopeo choose (and docker:// here): the
    # config's own is asked only of an entry that names none.
    if not desc.get("platform") and not platform_wanted(platform,
                                                        {"os": config.get("os"),
                                                         "architecture": config.get("architecture"),
                                                          "variant": config.get("variant")}):
        return
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    if len(layers) != len(diff_ids):
        raise ArchiveError(f"{mname}: the manifest names {len(layers)} layers but its config has {len(diff_ids)} "
                           "diff IDs; the image is damaged", path=store.path)
    blobs = []
    for layer, did in zip(layers, diff_ids):
        _check_descriptor(layer, mname, store)
        lmedia = layer.get("mediaType") or ""
        if lmedia not in LAYER_TYPES:
            raise ArchiveError(f"{mname}: layer {layer.get('digest')} has the unknown media type {lmedia!r}; "
                               f"expected one of {', '.join(sorted(LAYER_TYPES))}", path=store.path)
        name = blob_name(layer.get("digest"), mname, store)
        urls = foreign_urls(layer, lmedia)
        if urls and not store.has(name):  # a foreign layer skopeo left out of the layout: from its urls
            blobs.append(foreign_blob(store, name, did, layer, urls, foreign_layers))
            continue
        _check_size(store, name, layer, store.size(name))
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
