"""Collecting: read a data root where it lies and write it as a ``.layerlab`` snapshot."""

from __future__ import annotations


def scan(root: str, out: str, driver: str | None = None, *, files: str = "auto", hash: bool = False, progress: bool | None = None,
         platform: str | None = None) -> str:
    """Read a data root (or an image archive, layout or registry image: anything ``open_source``
    takes) and write it as a ``.layerlab`` snapshot at ``out``; returns the snapshot path.

    With ``hash``, files that have an identical twin get their ``sha256`` (only files sharing a size
    are read), so content comparisons still work on the snapshot without the data root. ``out`` may
    be an fsspec URL (``s3://bucket/prefix/host.layerlab``). A data root's snapshot records this
    machine's hostname and machine ID, so that a fleet of snapshots (``layerlab.fleet``) tells hosts apart.
    """
    from .frames.host import identity
    from .frames.snapshot import check_output
    from .sources import open_source
    from .sources.docker.dataroot import open_root
    from .sources.transports import is_transport, sniff

    check_output(out)  # a bad -o is refused before a long scan, not after
    if is_transport(str(root)) or sniff(str(root)):
        inv = open_source(str(root), progress=progress, platform=platform)
    else:
        inv = open_root(root, driver, files=files, progress=progress)
        inv.meta.update(identity())
    if hash:
        from .analyses.hashing import fill_sha256  # only here: the analyses take a while to import

        hashed = fill_sha256(inv, progress=progress)
        if hashed is not None:
            inv.meta["hashed"] = hashed
    return inv.save(out)
