"""Collecting: read a data root where it lies and write it as a ``.layerlab`` snapshot."""

from __future__ import annotations


def scan(root: str, out: str, driver: str | None = None, *, files: str = "auto", hash: bool = False, progress: bool | None = None) -> str:
    """Read a data root and write it as a ``.layerlab`` snapshot at ``out``; returns the snapshot path.

    With ``hash``, files that have an identical twin get their ``sha256`` (only files sharing a size
    are read), so content comparisons still work on the snapshot without the data root.
    """
    from .analyses.hashing import fill_sha256
    from .frames.snapshot import check_output
    from .sources.docker.dataroot import open_root

    check_output(out)  # a bad -o is refused before a long scan, not after
    inv = open_root(root, driver, files=files, progress=progress)
    if hash:
        hashed = fill_sha256(inv, progress=progress)
        if hashed is not None:
            inv.meta["hashed"] = hashed
    return inv.save(out)
