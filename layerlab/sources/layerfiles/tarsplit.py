"""A layer's files from its ``tar-split.json.gz``: names, sizes and headers, no filesystem access.

Format (docs/formats.md, "tar-split"): gzip of JSON lines; type 2 segments carry raw archive bytes (the previous
file's padding, extension headers, then the entry's own header block); type 1 entries name a file
and its size. The header of a file is at the end of the segments read since the previous file.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import tarfile
import zlib

from .rows import FileRows
from .tarheader import BLOCK, clean_path, parse_headers


def read_tarsplit(path: str | os.PathLike, layer_id: str) -> FileRows:
    """Rows of the files frame for one layer, from its tar-split file at ``path``."""
    rows = FileRows(layer_id)
    pending = bytearray()
    prev_size = 0
    with gzip.open(path, "rb") as fh:
        for line in fh:
            entry = json.loads(line)
            if entry["type"] == 2:
                payload = entry.get("payload")
                if payload:
                    pending += base64.b64decode(payload)
                continue
            size = entry.get("size") or 0
            raw_name = entry.get("name_raw")
            name = os.fsdecode(base64.b64decode(raw_name)) if raw_name else entry.get("name", "")
            start = (-prev_size) % BLOCK  # skip the previous file's padding
            header = parse_headers(bytes(pending[start:]))
            pending.clear()
            prev_size = size
            if header is None:  # a PAX global header shows up as an entry of its own
                continue
            path_ = clean_path(name)
            if path_ == "/":
                continue
            link = None
            if header.kind == "symlink":
                link = header.linkname
            elif header.kind == "hardlink":
                link = clean_path(header.linkname)
            rows.add_named(
                path_,
                header.kind,
                size if header.kind == "file" else 0,
                header.mode,
                header.uid,
                header.gid,
                header.mtime_ns,
                link,
            )
    return rows


# tarfile.HeaderError: a header block that does not parse (an old-GNU sparse extension block, damage).
TARSPLIT_ERRORS = (OSError, EOFError, zlib.error, ValueError, KeyError, tarfile.HeaderError)
