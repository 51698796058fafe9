"""A layer's files from its ``tar-split.json.gz``: names, sizes and headers, no filesystem access.

Format (docs/formats.md, "tar-split"): gzip of JSON lines; type 2 segments carry raw archive bytes (the previous
file's padding, extension headers, then the entry's own header block); type 1 entries name a file
and its size. The header of a file is at the end of the segments read since the previous file.
"""

from __future__ import annotations

import base64
import io
import os
import tarfile
import zlib

from ...untrusted import load_json
from .._reader import open_regular
from .rows import FileRows
from .tarheader import BLOCK, clean_path, climbs_out, parse_headers


#: The most lines a tar-split may hold: two a file (its header segment, its entry), so some six
#: million files, past any real layer; a 60-million-line file is refused, not parsed for minutes.
MAX_LINES = 12_000_000
#: The most raw header bytes between two entries (a PAX header of a long name is a few KiB).
PENDING_LIMIT = 16 << 20

#: The longest tar-split line read (its lines are JSON objects of a few hundred bytes; headers of
#: long names a few KiB): a longer one is damage, and reading it whole could exhaust memory.
LINE_LIMIT = 16 << 20


def read_tarsplit(path: str | os.PathLike, layer_id: str, refused: list | None = None) -> FileRows:
    """Rows of the files frame for one layer, from its tar-split file at ``path``.

    Names are rooted and cleaned as Docker's extraction does; an entry whose name climbs above
    the layer's root (``../../etc/shadow``) is one Docker refuses to extract: it is left out and,
    when ``refused`` is a list, ``(name, reason)`` is appended to it.
    """
    rows = FileRows(layer_id)
    pending = bytearray()
    prev_size = 0
    with open_regular(path, limit=None) as raw, io.BufferedReader(_OneGzipMember(raw), 1 << 16) as fh:
        if os.fstat(raw.fileno()).st_size == 0:  # even an empty layer's tar-split holds the end blocks
            raise ValueError("the tar-split file is empty (0 bytes)")
        lines = 0
        while True:
            line = fh.readline(LINE_LIMIT)
            if not line:
                break
            lines += 1
            if lines > MAX_LINES:
                raise ValueError(f"more than {MAX_LINES} lines (some {MAX_LINES // 2} files); no real layer has "
                                 "that many: the file is damaged or hostile, and is not read further")
            if len(line) >= LINE_LIMIT and not line.endswith(b"\n"):
                raise ValueError(f"a line longer than {LINE_LIMIT} bytes (the file is damaged)")
            entry = load_json(line)
            if not isinstance(entry, dict):
                raise ValueError(f"a line that is not a JSON object ({line[:40]!r})")
            kind = entry.get("type")
            if kind == 2 and type(kind) is int:
                payload = _field(entry, "payload", str, line)
                if payload:
                    pending += base64.b64decode(payload, validate=True)
                    if len(pending) > PENDING_LIMIT:
                        raise ValueError(f"more than {PENDING_LIMIT} bytes of raw segments before an entry "
                                         "(the file is damaged)")
                continue
            if kind != 1 or type(kind) is not int:
                raise ValueError(f"an entry of unknown type {kind!r} ({line[:60]!r})")
            size = _field(entry, "size", int, line) or 0
            if not 0 <= size <= 1 << 50:  # past 1 PiB no disk holds it; a layer's sum must stay in int64
                raise ValueError(f"an entry whose size is {size} ({line[:60]!r})")
            raw_name = _field(entry, "name_raw", str, line)
            name = (os.fsdecode(base64.b64decode(raw_name, validate=True)) if raw_name
                    else _field(entry, "name", str, line) or "")
            start = (-prev_size) % BLOCK  # skip the previous file's padding
            header = parse_headers(bytes(pending[start:]))
            pending.clear()
            prev_size = size
            if header is None:  # a PAX global header shows up as an entry of its own
                continue
            path_ = clean_path(name)
            if climbs_out(name):
                if refused is not None:
                    refused.append((name,
                                    f"tar entry {name!r} climbs above the layer root (Docker refuses to extract it); "
                                    "left out"))
                continue
            link = None
            if header.kind == "symlink":
                link = header.linkname
            elif header.kind == "hardlink":
                if climbs_out(header.linkname):  # refused whatever its own name (even the root's)
                    if refused is not None:
                        refused.append((name,
                                        f"hard link {name!r} points above the layer root ({header.linkname!r}); left "
                                        "out"))
                    continue
                link = clean_path(header.linkname)
            if path_ == "/":
                continue
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


class _OneGzipMember(io.RawIOBase):
    """The decompressed bytes of a file holding exactly one gzip member, as Docker writes a tar-split.
    ``gzip.GzipFile`` reads members one after another as one stream: a second member (the first one
    again) would double every file of the layer, so it is refused (ValueError), not read."""

    def __init__(self, raw):
        self._raw = raw
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._out = b""
        self._at = 0  # how much of _out was handed out (no slicing: a chunk is copied once)
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self._at >= len(self._out):
            if self._ended:
                return 0
            if self._z.eof:
                self._check_rest(self._z.unused_data)
                self._ended = True
                return 0
            data = self._z.unconsumed_tail or self._raw.read(1 << 16)
            if not data:
                raise EOFError("the tar-split's gzip stream ends before its end (truncated)")
            self._out, self._at = self._z.decompress(data, 1 << 20), 0
        n = min(len(buffer), len(self._out) - self._at)
        buffer[:n] = memoryview(self._out)[self._at:self._at + n]
        self._at += n
        return n

    def _check_rest(self, rest: bytes) -> None:
        while rest:
            if rest.strip(b"\0"):  # zeros after the member are padding, as gzip tools allow
                raise ValueError("a second gzip stream follows the first (the same entries again?); a "
                                 "tar-split is one gzip stream: the file is damaged or was altered")
            rest = self._raw.read(1 << 16)


def _field(entry: dict, key: str, kind: type, line: bytes):
    """``entry[key]`` if absent, null or of JSON type ``kind``; else a ValueError naming the line."""
    value = entry.get(key)
    if value is not None and (type(value) is not kind):
        raise ValueError(f"an entry whose {key!r} is {type(value).__name__} {value!r:.40}, not "
                         f"{'a number' if kind is int else 'a string'} ({line[:60]!r})")
    return value


# tarfile.HeaderError: a header block that does not parse (an old-GNU sparse extension block, damage).
TARSPLIT_ERRORS = (OSError, EOFError, zlib.error, ValueError, KeyError, tarfile.HeaderError)
