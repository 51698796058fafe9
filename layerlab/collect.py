"""Collecting: read a data root where it lies and write it as a ``.layerlab`` snapshot."""

from __future__ import annotations

from .errors import FLAG, OPTIONAL_TEXT, PATH, PROGRESS, TEXT, expects


@expects(root=PATH, out=PATH, driver=OPTIONAL_TEXT, files=TEXT, hash=FLAG, progress=PROGRESS, platform=OPTIONAL_TEXT,
         foreign_layers=TEXT, packages=FLAG)
def scan(root: str, out: str, driver: str | None = None, *, files: str = "auto", hash: bool = False,
         progress: bool | None = None,
         platform: str | None = None, foreign_layers: str = "fetch", packages: bool = False) -> str:
    """Read a data root (or an image archive, layout or registry image: anything ``open_source``
    takes) and write it as a ``.layerlab`` snapshot at ``out``; returns the snapshot path.

    With ``hash``, files that have an identical twin get their ``sha256`` (only files sharing a size
    are read), so content comparisons still work on the snapshot without the data root; for an image
    read from its layer tars (an archive, a layout, a registry) every regular file gets it, hashed as
    the tar streams. ``out`` may
    be an fsspec URL (``s3://bucket/prefix/host.layerlab``). A data root's snapshot records this
    machine's hostname and machine ID, so that a fleet of snapshots (``layerlab.fleet``) tells hosts apart.
    ``foreign_layers``: "fetch" or "skip" an image's foreign layers (``open_source``).
    """
    return scan_with_inventory(root, out, driver, files=files, hash=hash, progress=progress, platform=platform,
                   foreign_layers=foreign_layers, packages=packages)[0]


def scan_with_inventory(root: str, out: str, driver: str | None = None, *, files: str = "auto", hash: bool = False,
            progress: bool | None = None, platform: str | None = None, foreign_layers: str = "fetch",
            packages: bool = False):
    """:func:`scan` (arguments checked by it or by the CLI), and the Inventory it wrote: the
    snapshot's path and its frames in memory, so ``layerlab scan`` counts its summary line without
    reading the snapshot back."""
    from .frames.host import identity
    from .frames.snapshot import check_output
    from .sources import open_source
    from .sources.docker.dataroot import open_root
    from .sources.containers_storage.location import PREFIX, is_containers_storage
    from .sources.transports import is_transport, sniff

    check_output(out)  # a bad -o is refused before a long scan, not after
    if str(root).startswith(PREFIX) or is_containers_storage(str(root)):
        # podman's store is a store on this host, as a data root is: its files are hashed in place.
        from .sources.containers_storage.store import open_location

        inv = open_location(str(root), driver, files=files, progress=progress)
        inv.meta.update(identity())
    elif is_transport(str(root)) or sniff(str(root)):
        # Every byte of the layer tars is read anyway: each regular file is hashed as its tar streams.
        inv = open_source(str(root), progress=progress, platform=platform, hash_files=hash,
                          foreign_layers=foreign_layers)
        if hash:
            inv.meta["hashed"] = int(inv.files["sha256"].notna().sum())
    else:
        inv = open_root(root, driver, files=files, progress=progress)
        inv.meta.update(identity())
    if hash and "hashed" not in inv.meta:
        from .analyses.hashing import fill_sha256  # only here: the analyses take a while to import

        hashed = fill_sha256(inv, progress=progress)
        if hashed is not None:
            inv.meta["hashed"] = hashed
    if packages:  # read while the layers are here: the snapshot keeps packages and package_changes
        inv.packages  # noqa: B018
    return inv.save(out), inv
