"""Content digests of files in two sources, for comparing an image of one with an image of another.

``hashing.identical_groups`` reads only files that share their size with another file of the same
inventory (it looks for twins). Comparing two sources needs the digest of each side's file even
when nothing else has its size, so these are read whole, from each source's own layer directories.
"""

from __future__ import annotations

import hashlib
import os

import pandas as pd

from ...sources._reader import open_noatime
from ..hashing import content_dirs

CHUNK = 1 << 20


def _digest(path: bytes) -> str | None:
    try:
        fd = open_noatime(path)
    except OSError:
        return None
    h = hashlib.sha256()
    try:
        while True:
            data = os.read(fd, CHUNK)
            if not data:
                return h.hexdigest()
            h.update(data)
    except OSError:
        return None
    finally:
        os.close(fd)


def file_digests(inv, rows: pd.DataFrame, *, progress=None, desc: str = "hashing") -> dict[tuple[str, str], str]:
    """SHA-256 per (layer_id, path) of ``rows`` (files rows), read from ``inv``'s data root.

    Rows whose layer has no readable directory, or whose file cannot be read, get no entry.
    """
    dirs = content_dirs(inv)
    raw = rows["path_raw"] if "path_raw" in rows.columns else pd.Series([None] * len(rows), index=rows.index)
    todo = [(l, p, r, int(s)) for l, p, r, s in zip(rows["layer_id"], rows["path"], raw, rows["size"]) if l in dirs]
    out = {}
    from ...display import progress_bar

    with progress_bar(total=sum(s for *_, s in todo), unit="B", unit_scale=True, desc=desc, leave=False,
                      progress=progress, skip=not todo) as bar:
        for layer_id, path, path_raw, size in todo:
            name = path_raw if isinstance(path_raw, bytes) else os.fsencode(path)
            d = _digest(dirs[layer_id] + name)
            if d is not None:
                out[(layer_id, path)] = d
            bar.update(size)
    return out
