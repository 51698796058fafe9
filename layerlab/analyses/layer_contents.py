"""The bytes of chosen files of a layer, from wherever the source keeps the layer.

A data root (graphdriver, containerd, containers-storage) keeps each layer as a directory: a file is
opened beneath it one component at a time with ``O_NOFOLLOW`` (a symlink in the layer is never
followed, so nothing outside the layer is read), ``O_NONBLOCK`` (a FIFO is refused, never waited on)
and ``O_NOATIME``, and refused unless ``fstat`` says it is a regular file. An archive or OCI layout
keeps each layer as a tar blob: the blob is read once for all the files wanted of it (an
uncompressed blob seeking past the rest; a compressed one streamed). Nothing is ever written.

Each wanted file gets its bytes, or a ``Missing`` saying why it could not be read.
"""

from __future__ import annotations

import os
import stat
import tarfile
from dataclasses import dataclass

from ..sources._reader import open_beneath, open_noatime
from ..sources.layerfiles.tarheader import BLOCK, EXTENSION_TYPES, clean_path, fast_header, parse_headers
from .hashing import content_dirs, hash_source

#: How a file is wanted: its first ``limit`` bytes ("bytes"), or an ELF's Go build info ("go").
WHOLE = "bytes"
GO = "go"


@dataclass(frozen=True)
class Missing:
    reason: str


@dataclass(frozen=True)
class Want:
    how: str = WHOLE
    limit: int = 64 << 20


def readable(inv) -> tuple[bool, str]:
    """Whether layer contents of ``inv`` can be read, and if not, why."""
    if inv.cache.get("layer_blob_open"):
        return True, ""
    ok, why = hash_source(inv)
    if ok:
        return True, ""
    if inv.meta.get("files_from") == "tar":
        return False, "this source's layers cannot be reopened (a compressed archive or a registry image): " \
                      "save the image uncompressed (`docker save -o x.tar`) or copy it to an OCI layout"
    return False, why.replace("for hashing", "for package databases")


def read_layer(inv, layer_id: str, wants: dict[str, Want]) -> dict[str, bytes | Missing]:
    """``{path: bytes or Missing}`` for the files ``wants`` names in layer ``layer_id``."""
    opener = (inv.cache.get("layer_blob_open") or {}).get(layer_id)
    if opener is not None:
        return _from_tar(opener, wants)
    base = content_dirs(inv).get(layer_id)
    if base is None:
        return {p: Missing(readable(inv)[1] or f"layer {layer_id[:19]} has no readable directory") for p in wants}
    return {p: _from_dir(base, p, w) for p, w in wants.items()}


# -- directories -------------------------------------------------------------------------------

def _open_beneath(base: bytes, path: str) -> int:
    """An fd of ``base`` + ``path``, every component opened with O_NOFOLLOW under the one before."""
    fd = open_noatime(base, os.O_RDONLY | os.O_DIRECTORY)
    parts = [p for p in os.fsencode(path).split(b"/") if p]
    if not parts:
        return fd  # the layer's own folder: the caller refuses it as not a regular file
    try:
        return open_beneath(fd, parts, os.O_NONBLOCK)
    finally:
        os.close(fd)


def _from_dir(base: bytes, path: str, want: Want) -> bytes | Missing:
    try:
        fd = _open_beneath(base, path)
    except OSError as e:
        return Missing(f"cannot open it in the layer ({e.strerror}; a symlink is not followed)")
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return Missing("not a regular file (a FIFO, device or directory is never read)")
        with os.fdopen(os.dup(fd), "rb") as f:
            return _take(f, st.st_size, want)
    except OSError as e:
        return Missing(f"cannot read it ({e.strerror})")
    finally:
        os.close(fd)


# -- tar blobs ---------------------------------------------------------------------------------

def _decompressed(raw):
    """(file object of the uncompressed tar, seekable?) for a blob as stored."""
    head = raw.read(4)
    raw.seek(0) if raw.seekable() else None
    if head[:2] == b"\x1f\x8b":
        try:
            from isal import igzip as gzip_module  # ISA-L: about 3x zlib's inflate speed
        except ImportError:
            import gzip as gzip_module
        return gzip_module.GzipFile(fileobj=raw), False
    if head == b"\x28\xb5\x2f\xfd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(raw), False
    return raw, raw.seekable()


_EXTENSION_FLAGS = frozenset(t[0] for t in EXTENSION_TYPES)


def _walk_seekable(f, wants: dict[str, Want], out: dict) -> None:
    """The wanted members of an uncompressed tar in a seekable file: headers read with the header
    parser the files frame is built with (tarfile builds a TarInfo a member: several times slower),
    contents seeked past."""
    pos, ext = 0, b""
    while len(out) < len(wants):
        f.seek(pos)
        block = f.read(BLOCK)
        if len(block) < BLOCK:
            raise tarfile.ReadError("the layer tar ends inside a header")
        if block.count(0) == BLOCK:
            break
        if block[156] in _EXTENSION_FLAGS:  # PAX or GNU records: kept for the entry's own header
            size = int(block[124:136].split(b"\0", 1)[0].strip() or b"0", 8)
            data = f.read(-(-size // BLOCK) * BLOCK)
            ext += block + data
            pos += BLOCK + len(data)
            continue
        header = (fast_header(block) if not ext else None) or parse_headers(ext + block)
        ext = b""
        if header is None:
            raise tarfile.ReadError("an unreadable tar header")
        pos += BLOCK
        path = clean_path(header.name)
        want = wants.get(path)
        if want is not None:
            if header.kind != "file":
                out[path] = Missing("not a regular file (a FIFO, device or link is never read)")
            else:
                out[path] = _take(_Slice(f, pos, header.size), header.size, want)
        pos += -(-header.data_size // BLOCK) * BLOCK


class _Slice:
    """``read``/``seek`` over ``size`` bytes of ``f`` from ``start`` (one member's contents)."""

    def __init__(self, f, start: int, size: int):
        self._f, self._start, self._size, self._pos = f, start, size, 0

    def read(self, n: int = -1) -> bytes:
        n = self._size - self._pos if n < 0 else max(0, min(n, self._size - self._pos))
        self._f.seek(self._start + self._pos)
        data = self._f.read(n)
        self._pos += len(data)
        return data

    def seek(self, pos: int) -> None:
        self._pos = pos


def _from_tar(opener, wants: dict[str, Want]) -> dict[str, bytes | Missing]:
    out: dict[str, bytes | Missing] = {}
    try:
        raw = opener()
    except OSError as e:
        return {p: Missing(f"cannot open the layer blob ({e})") for p in wants}
    try:
        tar_file, seekable = _decompressed(raw)
        if seekable:
            _walk_seekable(tar_file, wants, out)
            return _fill(out, wants)
        with tarfile.open(fileobj=tar_file, mode="r:" if seekable else "r|", errors="surrogateescape") as tf:
            for m in tf:
                path = clean_path(m.name)
                want = wants.get(path)
                if want is None:
                    continue
                if not m.isreg():
                    out[path] = Missing("not a regular file (a FIFO, device or link is never read)")
                    continue
                f = tf.extractfile(m)
                out[path] = _take(f, m.size, want, seekable)
                if len(out) == len(wants) and seekable:
                    break
    except (tarfile.TarError, EOFError, OSError, ValueError) as e:
        reason = f"the layer blob could not be read to the end ({e})"
        out.update({p: Missing(reason) for p in wants if p not in out})
    finally:
        raw.close()
    return _fill(out, wants)


def _fill(out: dict, wants: dict) -> dict:
    for p in wants:
        out.setdefault(p, Missing("not found in the layer blob"))
    return out


def _take(f, size: int, want: Want, seekable: bool = True) -> bytes | Missing:
    if want.how == GO:
        from .package_dbs import elf_section

        head = f.read(64)
        if not seekable:  # a stream: what follows is read in order, so read the file whole
            if head[:4] != b"\x7fELF" or size > want.limit:
                return b""
            data = head + f.read(size - 64)
            found = elf_section(data[:64], lambda off, n: data[off:off + n])
            return data[found[0]:found[0] + min(found[1], 1 << 20)] if found else b""

        def read_at(off: int, n: int) -> bytes:
            f.seek(off)
            return f.read(n)

        found = elf_section(head, read_at)
        return read_at(found[0], min(found[1], 1 << 20)) if found else b""
    if size > want.limit:
        return Missing(f"{size} bytes, more than the {want.limit} read for a package database")
    data = f.read(want.limit + 1)
    return data if len(data) <= want.limit else Missing(f"more than {want.limit} bytes")
