"""Tar header blocks into entry metadata, shared by tar-split and tar archives.

The 512-byte ustar/GNU block is parsed by the standard library (``tarfile.TarInfo.frombuf``); what is
added here is applying PAX and GNU long-name records that precede it, which tarfile only does while
reading a whole archive stream.
"""

from __future__ import annotations

import os
import posixpath
import tarfile
from dataclasses import dataclass

BLOCK = 512

KIND_BY_TYPE = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.CONTTYPE: "file",
    tarfile.GNUTYPE_SPARSE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "char",
    tarfile.BLKTYPE: "block",
    tarfile.FIFOTYPE: "fifo",
}
EXTENSION_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)


@dataclass
class Header:
    name: str
    kind: str
    size: int
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    linkname: str
    devmajor: int
    devminor: int
    #: bytes of content that follow the header in the archive (for a sparse file, its stored data
    #: and map, not its size); what a reader skips to reach the next header.
    data_size: int = 0


def _decode(raw: bytes) -> str:
    return os.fsdecode(raw.rstrip(b"\0"))


def parse_pax(data: bytes) -> dict[bytes, bytes]:
    """PAX extended header records (``"%d key=value\\n"``) as raw bytes."""
    records: dict[bytes, bytes] = {}
    pos = 0
    while pos < len(data) and data[pos] != 0:
        space = data.index(b" ", pos)
        length = int(data[pos:space])
        if length <= 0:
            break
        record = data[space + 1 : pos + length - 1]  # drop the trailing newline
        key, _, value = record.partition(b"=")
        records[key] = value
        pos += length
    return records


#: Entry types the fast path reads (everything but sparse files and extension headers).
_FAST_TYPES = frozenset(b"01234567\0")


class _Slow(Exception):
    pass


def _octal(field: bytes) -> int:
    if field[0] & 0x80:  # base-256 (GNU) numbers: left to tarfile
        raise _Slow
    return int(field.split(b"\0", 1)[0].strip() or b"0", 8)


def fast_header(block: bytes) -> Header | None:
    """One plain header block (no PAX or GNU records before it) read as ``tarfile.TarInfo.frombuf``
    reads it, with the fields sliced out directly: frombuf's generic decoding was most of the time
    of a layer of many small files. None when the block needs frombuf (a bad unsigned checksum,
    base-256 numbers, a sparse or extension type)."""
    if block[156] not in _FAST_TYPES:
        return None
    try:
        if _octal(block[148:156]) != sum(block) - sum(block[148:156]) + 256:
            return None  # a signed checksum or a damaged block: frombuf decides
        typ = block[156:157]
        name = block[:100].split(b"\0", 1)[0]
        prefix = block[345:500].split(b"\0", 1)[0]
        if typ == tarfile.AREGTYPE and name.endswith(b"/"):
            typ = tarfile.DIRTYPE
        if typ == tarfile.DIRTYPE:
            name = name.rstrip(b"/")
        if prefix:
            name = prefix + b"/" + name
        size = _octal(block[124:136])
        dev = (_octal(block[329:337]), _octal(block[337:345])) if typ in (tarfile.CHRTYPE, tarfile.BLKTYPE) else (0, 0)
        return Header(os.fsdecode(name), KIND_BY_TYPE.get(typ, "file"), size, _octal(block[100:108]) & 0o7777,
                      _octal(block[108:116]), _octal(block[116:124]), _octal(block[136:148]) * 1_000_000_000,
                      os.fsdecode(block[157:257].split(b"\0", 1)[0]), dev[0], dev[1], size)
    except (_Slow, ValueError):
        return None


def parse_headers(raw: bytes) -> Header | None:
    """Parse consecutive header blocks in ``raw`` (extension headers, then the entry's own header).

    Returns the last entry's metadata with PAX/GNU records applied, or None if ``raw`` holds no
    entry header (only padding or end-of-archive blocks).
    """
    pax: dict[bytes, bytes] = {}
    longname = longlink = None
    pos = 0
    header = None
    while pos + BLOCK <= len(raw):
        block = raw[pos : pos + BLOCK]
        pos += BLOCK
        if block.count(0) == BLOCK:
            continue
        if not pax and longname is None and longlink is None:
            fast = fast_header(block)
            if fast is not None:
                header = fast
                continue
        info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        if info.type in EXTENSION_TYPES:
            data = raw[pos : pos + info.size]
            pos += -(-info.size // BLOCK) * BLOCK
            if info.type in (tarfile.XHDTYPE, tarfile.SOLARIS_XHDTYPE):
                pax.update(parse_pax(data))
            elif info.type == tarfile.GNUTYPE_LONGNAME:
                longname = _decode(data)
            elif info.type == tarfile.GNUTYPE_LONGLINK:
                longlink = _decode(data)
            continue  # a global header (g) carries no entry of its own
        header = _header(info, block, pax, longname, longlink)
        pax, longname, longlink = {}, None, None
    return header


def _header(info: tarfile.TarInfo, block: bytes, pax, longname, longlink) -> Header:
    name = longname if longname is not None else info.name
    link = longlink if longlink is not None else info.linkname
    mtime_ns = int(info.mtime) * 1_000_000_000
    uid, gid, size = info.uid, info.gid, info.size
    if pax:
        if b"path" in pax:
            name = os.fsdecode(pax[b"path"])
        if b"linkpath" in pax:
            link = os.fsdecode(pax[b"linkpath"])
        if b"mtime" in pax:
            mtime_ns = _pax_time_ns(pax[b"mtime"])
        if b"uid" in pax:
            uid = int(pax[b"uid"])
        if b"gid" in pax:
            gid = int(pax[b"gid"])
        if b"size" in pax:
            size = int(pax[b"size"])
    data_size = size
    if info.type == tarfile.GNUTYPE_SPARSE:  # old GNU sparse: the real size is in the header block
        size = tarfile.nti(block[483:495])
    if pax and (b"GNU.sparse.realsize" in pax or b"GNU.sparse.size" in pax):  # PAX sparse 0.x / 1.0
        size = int(pax.get(b"GNU.sparse.realsize") or pax[b"GNU.sparse.size"])
        if b"GNU.sparse.name" in pax:
            name = os.fsdecode(pax[b"GNU.sparse.name"])
    kind = KIND_BY_TYPE.get(info.type, "file")
    # PAX records and base-256 fields hold numbers of any size; the files frame holds int64 sizes and
    # uint32 IDs (what Linux holds; Go's archive/tar refuses a negative size), and Go reads int64
    # seconds of mtime, so a number past those is a damaged header, not a crash. (An mtime past the
    # frame's years 1 to 9999 is NaT there.)
    for field, value, low, high in (("size", size, 0, _INT64_MAX), ("size", data_size, 0, _INT64_MAX),
                                    ("uid", uid, 0, _UINT32_MAX), ("gid", gid, 0, _UINT32_MAX),
                                    ("mtime", mtime_ns // 1_000_000_000, _INT64_MIN, _INT64_MAX)):
        if not low <= value <= high:
            raise ValueError(f"the header's {field} ({value}) is out of range ({low} to {high})")
    return Header(name, kind, size, info.mode & 0o7777, uid, gid, mtime_ns, link, info.devmajor, info.devminor, data_size)


_INT64_MIN, _INT64_MAX, _UINT32_MAX = -(1 << 63), (1 << 63) - 1, (1 << 32) - 1


def _pax_time_ns(value: bytes) -> int:
    sec, _, frac = value.decode().partition(".")
    ns = int(sec) * 1_000_000_000
    if frac:
        ns += int((frac + "000000000")[:9]) * (-1 if sec.startswith("-") else 1)
    return ns


def clean_path(name: str) -> str:
    """A tar member name as an absolute, normalised path (``./etc/`` -> ``/etc``).

    Rooted and cleaned as Docker's extraction does: ``..`` cannot climb above ``/``
    (``../../etc/shadow`` -> ``/etc/shadow``); ``climbs_out`` tells such names apart.
    """
    path = "/" + name.lstrip("/")
    if path.startswith("/./"):
        path = path[2:]
    path = path.rstrip("/") or "/"
    if "/./" in path or "//" in path or path.endswith("/.") or "/.." in path:
        path = posixpath.normpath(path)
        if path.startswith("//"):  # normpath keeps a leading double slash (POSIX allows it a meaning)
            path = "/" + path.lstrip("/")
    return path


def climbs_out(name: str) -> bool:
    """True if the tar member name ``name`` would climb above the extraction root with ``..``.

    Docker's extraction joins the name to the layer directory and refuses the entry (a breakout
    error) when the result lies outside it.
    """
    depth = 0
    for part in name.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False
