"""Sources: each reads one kind of image storage into the contract's frames (an Inventory)."""

from __future__ import annotations

import os

from ..errors import (FLAG, OPTIONAL_TEXT, PROGRESS, DataRootPermissionError, Expect, LayerlabError, NotADataRoot,
                      check_argument)

_FOREIGN = Expect("'fetch' or 'skip'", test=lambda v: v in ("fetch", "skip"))


def open_source(source=None, *, driver: str | None = None, progress: bool | None = None,
                platform: str | None = None, verify: bool = True, hash_files: bool = False,
                foreign_layers: str = "fetch"):
    """An Inventory from whatever ``source`` names: None or "sample" (the bundled sample),
    "sample:<driver>", a ``.layerlab`` snapshot, a data root (Docker's, containerd's, or podman's
    containers-storage: a graph root or ``containers-storage:[DRIVER@ROOT]REF``), an image archive or layout
    (``docker-archive:PATH``, ``oci:DIR[:REF]``, ``oci-archive:PATH[:REF]``, or a bare path recognised
    by content), a registry image (``docker://REF``; ``platform`` defaults to this host's), or an
    Inventory (returned as is). Layer blobs are checked against their digests; ``verify=False``
    reads uncompressed local layers headers only (faster, unchecked), and does not hash a registry
    image's uncompressed tars (its blobs are still checked). ``hash_files``: for an image read
    from its layer tars (archives, layouts, registries), every regular file gets its SHA-256
    (``files.sha256``), hashed as the tar streams; a data root's files are hashed by
    ``layerlab.scan(..., hash=True)`` instead. ``foreign_layers``: "fetch" (default) reads a foreign
    layer an image names by ``urls`` from them (checked, no credential sent), "skip" leaves it out
    and lists it in the ``skipped`` frame."""
    from .transports import is_transport, open_transport, sniff

    for name, value, expect in (("driver", driver, OPTIONAL_TEXT), ("progress", progress, PROGRESS),
                                ("platform", platform, OPTIONAL_TEXT), ("verify", verify, FLAG),
                                ("hash_files", hash_files, FLAG), ("foreign_layers", foreign_layers, _FOREIGN)):
        check_argument("open_source", name, value, expect)
    # A transport (or a bare path to an archive or a layout, sniffed by content; never a snapshot, a
    # data root or the bundled sample's names) is opened before pandas is imported, and before the
    # other readers are: its reader starts reading the layers first, so the import overlaps the
    # reading (sources/imageset.py).
    text = os.fspath(source) if isinstance(source, (str, os.PathLike)) else None
    if isinstance(text, str):
        if is_transport(text):
            return open_transport(text, platform=platform, progress=progress, verify=verify, hash_files=hash_files,
                                  foreign_layers=foreign_layers)
        kind = None if text == "sample" or text.startswith("sample:") else sniff(text)
        if kind is not None:
            return open_transport(f"{'oci' if kind == 'oci' else 'docker-archive'}:{text}", platform=platform,
                                  progress=progress, verify=verify, hash_files=hash_files,
                                  foreign_layers=foreign_layers)
    from ..frames.inventory import OPTIONAL_SOURCE, Inventory

    check_argument("open_source", "source", source, OPTIONAL_SOURCE)
    if isinstance(source, Inventory):
        return source
    if source is not None:
        source = os.fspath(source)
    from .sample import sample

    if source is None or source == "sample":
        return sample()
    if source.startswith("sample:"):
        return sample(source.split(":", 1)[1])
    try:
        return _open_path(source, driver, progress)
    except PermissionError as e:
        if isinstance(e, LayerlabError):
            raise
        # a folder the user may not list or enter (a 0710 /var/lib/docker): said, never a traceback
        from ._reader import SCAN_HINT

        raise DataRootPermissionError(f"permission denied reading {e.filename or source}; {SCAN_HINT}",
                                      path=str(e.filename or source)) from None


def _open_path(source: str, driver, progress):
    from ..frames.snapshot import is_snapshot
    from ..frames.snapshot_load import load
    from .docker.dataroot import open_root

    if is_snapshot(source):
        return load(source)
    if source.endswith(".layerlab"):
        return load(source)  # gives the snapshot error (missing or incomplete)
    if not os.path.exists(source):
        raise NotADataRoot(
            f"{source} does not exist; give a Docker data root, a containers-storage root, a .layerlab snapshot, or "
            "'sample'", path=source
        )
    from .containers_storage.location import is_containers_storage

    if is_containers_storage(source):
        from .containers_storage.store import open_containers_storage

        return open_containers_storage(source, driver, progress=progress)
    return open_root(source, driver, progress=progress)
