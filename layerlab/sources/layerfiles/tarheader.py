"""Tar header blocks into entry metadata, shared by tar-split and tar archives.

The 512-byte ustar/GNU block is parsed by the standard library (``tarfile.TarInfo.frombuf``); what is
added here is applying PAX and GNU long-name records that precede it, which tarfile only does while
reading a whole archive stream, and as Go's archive/tar (docker's reader) applies them where tarfile
and GNU tar read otherwise (docs/formats.md, "Tar headers: whose reading layerlab follows").
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
EXTENSION_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME,
                   tarfile.GNUTYPE_LONGLINK)


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
    # a GNU long name or link is a C string: it ends at its first NUL (as GNU tar, tarfile and Go read it)
    return os.fsdecode(raw.split(b"\0", 1)[0])


def _go_int(value: bytes, what: str) -> int:
    """A decimal number as Go's ``strconv.ParseInt(s, 10, 64)`` reads it (an optional sign, then
    digits only: no spaces, underscores or empty string, which Python's ``int`` would take)."""
    digits = value[1:] if value[:1] in (b"+", b"-") else value
    if not digits or not digits.isdigit() or not digits.isascii():
        raise ValueError(f"the PAX {what} record {value[:40]!r} is no decimal number (docker's reader, Go's "
                         "archive/tar, refuses the header)")
    n = int(value)
    if not _INT64_MIN <= n <= _INT64_MAX:
        raise ValueError(f"the PAX {what} record {value[:40]!r} is out of range (docker's reader, Go's archive/tar, "
                         "refuses the header)")
    return n


#: PAX records whose value is a name: a NUL in one makes Go refuse the header (in others, in the key).
_PAX_NAMES = (b"path", b"linkpath", b"uname", b"gname")


def parse_pax(data: bytes) -> dict[bytes, bytes]:
    """PAX extended header records (``"%d key=value\\n"``) as raw bytes, checked as Go's archive/tar
    (docker's reader) checks them: a record it refuses is a ValueError here. Hand-written: tarfile
    applies records to a TarInfo while reading a whole archive, and is more lenient than Go."""
    records: dict[bytes, bytes] = {}
    sparse: list[bytes] = []  # GNU sparse 0.0 offset/numbytes pairs: Go checks their order
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            raise ValueError("a PAX record without a length (docker's reader, Go's archive/tar, refuses the header)")
        length = _go_int(data[pos:space], "record length")
        end = pos + length
        if length < 5 or end > len(data) or end <= space + 1 or data[end - 1:end] != b"\n":
            raise ValueError(f"a PAX record of a wrong length ({length}) (docker's reader, Go's archive/tar, "
                             "refuses the header)")
        key, eq, value = data[space + 1 : end - 1].partition(b"=")
        if not eq or not key or (b"\0" in value if key in _PAX_NAMES else b"\0" in key):
            raise ValueError(f"a PAX record {key[:40]!r} that is malformed or holds a NUL byte (docker's reader, "
                             "Go's archive/tar, refuses the header)")
        if key in (b"GNU.sparse.offset", b"GNU.sparse.numbytes"):
            if key != (b"GNU.sparse.offset", b"GNU.sparse.numbytes")[len(sparse) % 2] or b"," in value:
                raise ValueError("GNU sparse 0.0 records out of order (docker's reader, Go's archive/tar, refuses "
                                 "the header)")
            sparse.append(value)
        records[key] = value
        pos = end
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
            # As Go's archive/tar (docker's reader) reads them: the last PAX header before an entry is
            # the one that counts (GNU tar agrees; tarfile merges them); a global header is an entry
            # of its own (docker ignores it), so nothing read before it carries past it.
            if info.type in (tarfile.XHDTYPE, tarfile.SOLARIS_XHDTYPE):
                pax = parse_pax(data)
            elif info.type == tarfile.XGLTYPE:
                parse_pax(data)
                pax, longname, longlink = {}, None, None
            elif info.type == tarfile.GNUTYPE_LONGNAME:
                longname = _decode(data)
            elif info.type == tarfile.GNUTYPE_LONGLINK:
                longlink = _decode(data)
            continue
        header = _header(info, block, pax, longname, longlink)
        pax, longname, longlink = {}, None, None
    return header


def _header(info: tarfile.TarInfo, block: bytes, pax, longname, longlink) -> Header:
    name, link = info.name, info.linkname
    mtime_ns = int(info.mtime) * 1_000_000_000
    uid, gid, size = info.uid, info.gid, info.size
    if pax:  # as Go's mergePAX: an empty value keeps the header's
        if pax.get(b"path"):
            name = os.fsdecode(pax[b"path"])
        if pax.get(b"linkpath"):
            link = os.fsdecode(pax[b"linkpath"])
        for key in (b"atime", b"ctime"):  # not kept, but Go refuses a header with a bad one
            if pax.get(key):
                _pax_time_ns(pax[key], key.decode())
        if pax.get(b"mtime"):
            mtime_ns = _pax_time_ns(pax[b"mtime"])
        if pax.get(b"uid"):
            uid = _go_int(pax[b"uid"], "uid")
        if pax.get(b"gid"):
            gid = _go_int(pax[b"gid"], "gid")
        if pax.get(b"size"):
            size = _go_int(pax[b"size"], "size")
    # a GNU long name or link wins over a PAX path, in whichever order they come (as Go reads them;
    # GNU tar takes the PAX path): an empty one keeps the name there is
    if longname:
        name = longname
    if longlink:
        link = longlink
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
    return Header(name, kind, size, info.mode & 0o7777, uid, gid, mtime_ns, link, info.devmajor, info.devminor,
                  data_size)


_INT64_MIN, _INT64_MAX, _UINT32_MAX = -(1 << 63), (1 << 63) - 1, (1 << 32) - 1


def _pax_time_ns(value: bytes, what: str = "mtime") -> int:
    """A PAX time ("sec[.frac]") in ns, as Go's ``parsePAXTime`` reads it: whole seconds as
    ``ParseInt`` takes them, then digits only, truncated to nanoseconds; a sign applies to both."""
    sec, dot, frac = value.partition(b".")
    seconds = _go_int(sec, what)
    if frac and not (frac.isdigit() and frac.isascii()):
        raise ValueError(f"the PAX {what} record {value[:40]!r} is no time (docker's reader, Go's archive/tar, "
                         "refuses the header)")
    ns = int((frac + b"000000000")[:9]) if frac else 0
    return seconds * 1_000_000_000 + (-ns if sec.startswith(b"-") else ns)


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
