"""A layer blob (a tar, gzip or zstd compressed or not) read as a stream into rows of the files frame.

Only headers are parsed (``tarheader.parse_headers``, shared with tar-split); file contents are
skipped. The blob is read once, in large chunks, and hashed as it goes, so the digest it was named
by (and the diff ID of its uncompressed tar) can be checked without a second read; a compressed
blob is decompressed as it streams. An uncompressed layer in a file is read headers only, seeking
past contents (``read_layer_file`` hashes it in a second thread meanwhile; ``read_layer_unverified``
does not hash it). The C header walk ``_tarscan`` reads the plain entries (of a file, or of the
chunks of a stream) where it is built; the Python parser reads the rest. Nothing is written anywhere.

Hand-written rather than ``tarfile`` in stream mode: tarfile builds a TarInfo per member and copies
every member's contents through its own buffers, which is several times slower for layers of many
small files, and it cannot hash the compressed bytes it reads.
"""

from __future__ import annotations

import hashlib
import io
import os
import queue
import tarfile
import threading
import zlib
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ...errors import ArchiveError, LayerDigestMismatch
from .rows import FileRows
from .tarheader import BLOCK, EXTENSION_TYPES, KIND_BY_TYPE, clean_path, climbs_out, parse_headers

try:  # ISA-L's inflate (the isal package, a dependency): about 3x zlib's speed on layer blobs
    from isal import isal_zlib as _inflate
except ImportError:
    _inflate = zlib

try:  # the C header walk (layerlab/sources/_tarscan.c), built when the package is installed
    from . import _tarscan
    if getattr(_tarscan, "MTIME_UNIT", None) != "us":  # a stale build (nanoseconds) would give wrong times
        raise ImportError("stale _tarscan build")
except ImportError:  # no compiler at install time: the Python parser reads every entry
    _tarscan = None

CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
#: A zstd skippable frame starts with 0x184D2A5? (little-endian): pzstd puts one before each frame,
#: zstd:chunked keeps its table of contents and tar-split in them.
_SKIPPABLE_TAIL = b"\x2a\x4d\x18"
_EXTENSION_FLAGS = frozenset(t[0] for t in EXTENSION_TYPES)
_SPARSE = tarfile.GNUTYPE_SPARSE[0]
_WITH_DATA = b"07\x00S"
_KNOWN = b"0123456S7\x00"


@dataclass
class LayerRead:
    """What reading one layer blob gave: its rows, the digests of its bytes, its sizes (digests are
    None when an uncompressed blob was read headers only, :func:`read_layer_unverified`)."""

    rows: FileRows
    blob_digest: str | None  # sha256 of the blob's bytes as stored (compressed, if it was)
    diff_id: str | None  # sha256 of the uncompressed tar
    blob_size: int
    tar_size: int
    compression: str  # "gzip", "zstd" or "none"
    # what the tar would hash to with the end-of-archive blocks GNU tar writes (None if not hashed)
    ended_diff_id: str | None = None


def compression_of(head: bytes) -> str:
    """The compression of a blob from its first bytes: ``gzip``, ``zstd`` or ``none``."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if is_zstd(head):
        return "zstd"
    return "none"


def is_zstd(head: bytes) -> bool:
    """True when ``head`` starts a zstd stream: a zstd frame, or a skippable frame (pzstd, zstd:chunked)."""
    return head.startswith(ZSTD_MAGIC) or (len(head) >= 4 and head[0] & 0xF0 == 0x50 and head[1:4] == _SKIPPABLE_TAIL)


def _chunks(read: Callable[[int], bytes]) -> Iterator[bytes]:
    while True:
        chunk = read(CHUNK)
        if not chunk:
            return
        yield chunk


class _Hashed:
    """Chunks of a stream, hashed (unless ``hash`` is False) and counted on the way through."""

    def __init__(self, chunks: Iterator[bytes], hash: bool = True):
        self._chunks = chunks
        self.sha = hashlib.sha256() if hash else None
        self.size = 0

    def __iter__(self):
        sha = self.sha
        for chunk in self._chunks:
            if sha is not None:
                sha.update(chunk)
            self.size += len(chunk)
            yield chunk

    @property
    def digest(self) -> str:
        return "sha256:" + self.sha.hexdigest()

    def digest_if_ended(self) -> str:
        """The digest with the end-of-archive blocks and record padding GNU tar writes after the
        last entry (zeros up to the next 10 KiB record, at least two blocks) appended."""
        pad = -self.size % RECORD
        sha = self.sha.copy()
        sha.update(bytes(pad if pad >= 2 * BLOCK else pad + RECORD))
        return "sha256:" + sha.hexdigest()


#: GNU tar writes whole records of 20 blocks, zero-padded after its two end-of-archive blocks.
RECORD = 20 * BLOCK


def diff_id_mismatch(what: str, got: str, expected: str, ended: str | None) -> LayerDigestMismatch:
    """The error for a layer whose tar does not hash to its config's diff ID. A tar that would,
    had it its end-of-archive blocks, is what containers/storage's zstd:chunked writer made before
    its fix of December 2023 (it dropped them and kept the original tar's diff ID): say so."""
    if ended is not None and ended == expected:
        return LayerDigestMismatch(
            f"{what}: the uncompressed layer hashes to {got}, not {expected} as the image config says: its tar "
            "ends without the end-of-archive blocks that would make it hash so, as zstd:chunked layers written by "
            "podman, buildah and skopeo before their fix of December 2023 do. Other clients refuse to pull it "
            "too; push the image again with a newer tool or another compression. The layer is not analysed",
            path=what)
    return LayerDigestMismatch(f"{what}: the uncompressed layer hashes to {got}, but the image config says "
                               f"{expected}; the layer is damaged or belongs to another image, and is not analysed",
                               path=what)


def _unzstd(chunks: Iterator[bytes], what: str) -> Iterator[bytes]:
    """zstd frames back to back (zstd:chunked and pzstd write many, with skippable frames between:
    those give no output), decompressed as they stream; a stream cut inside a frame is an ArchiveError.
    Frame by frame rather than ``read_across_frames=True``: that mode never reports the end of a
    frame, so it cannot tell a stream cut inside a frame from a whole one. (A stream cut exactly
    between frames is valid zstd: the tar walk or the digest check notices it.)"""
    try:
        import zstandard
    except ImportError:  # a dependency of layerlab: only a broken install lands here
        raise ArchiveError(f"{what} is zstd-compressed and the `zstandard` package is missing; "
                           "install it (pip install zstandard)", path=what) from None
    z = zstandard.ZstdDecompressor()
    yield from _members(chunks, z.decompressobj, what, "zstd")


class _IterFile:
    """``read(n)`` over an iterator of chunks: a decompressing stream handed to ``tarfile``."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks
        self._buf = b""
        self._pos = 0  # tarfile reads 10 KiB at a time: slicing the chunk at each read would copy it

    def read(self, n: int = -1) -> bytes:
        buf, pos = self._buf, self._pos
        if 0 <= n <= len(buf) - pos:
            self._pos = pos + n
            return buf[pos:pos + n]
        parts, have = [buf[pos:]], len(buf) - pos
        while n < 0 or have < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            parts.append(chunk)
            have += len(chunk)
        buf = b"".join(parts)
        n = len(buf) if n < 0 else min(n, len(buf))
        self._buf, self._pos = buf, n
        return buf[:n]


def unzstd_file(f, what: str) -> _IterFile:
    """The zstd stream in the file ``f`` (every frame; skippable frames skipped) as a file to read."""
    return _IterFile(_unzstd(_chunks(f.read), what))


class _Reader:
    """Hands out header blocks from a stream of chunks and skips file contents without copying them."""

    __slots__ = ("_chunks", "_buf", "_pos", "short")

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks
        self._buf = b""
        self._pos = 0
        self.short = 0  # after a take that found the stream ended: how many bytes were left

    def take(self, n: int) -> bytes | None:
        """The next ``n`` bytes, or None when the stream ends first."""
        buf, pos = self._buf, self._pos
        if len(buf) - pos >= n:
            self._pos = pos + n
            return buf[pos:pos + n]
        parts, have = [buf[pos:]], len(buf) - pos
        while have < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                self._buf, self._pos, self.short = b"", 0, have
                return None
            parts.append(chunk)
            have += len(chunk)
        buf = b"".join(parts)
        self._buf, self._pos = buf, n
        return buf[:n]

    def skip(self, n: int) -> bool:
        """Skip ``n`` bytes; False when the stream ends first."""
        have = len(self._buf) - self._pos
        if n <= have:
            self._pos += n
            return True
        n -= have
        self._buf, self._pos = b"", 0
        while n > 0:
            chunk = next(self._chunks, None)
            if chunk is None:
                return False
            if len(chunk) > n:
                self._buf, self._pos = chunk, n
                return True
            n -= len(chunk)
        return True

    def drain(self) -> None:
        """Read what is left (the end-of-archive padding), so the hash covers the whole blob."""
        for _ in self._chunks:
            pass


class _SeekReader:
    """The same for a seekable file holding an uncompressed tar: contents are seeked past, never read."""

    __slots__ = ("_f", "_pos", "_end", "short")

    def __init__(self, f, end: int):
        self._f = f
        self._pos = f.tell()  # kept here: BufferedReader.tell() is a syscall-priced call per entry
        self._end = end  # offset in ``f`` where the tar ends
        self.short = 0

    def take(self, n: int) -> bytes | None:
        if self._pos + n > self._end:
            self.short = self._end - self._pos
            return None
        data = self._f.read(n)
        self._pos += len(data)
        self.short = len(data)
        return data if len(data) == n else None

    def skip(self, n: int) -> bool:
        if self._pos + n > self._end:
            return False
        self._pos += n
        self._f.seek(self._pos)
        return True

    def drain(self) -> None:
        pass


def parse_tar(chunks: Iterator[bytes] | _SeekReader, rows: FileRows, what: str, *, hash_files: bool = False) -> None:
    """Append the entries of the tar stream ``chunks`` to ``rows``; ArchiveError if it is no tar or cut short.
    ``hash_files``: read each regular file's contents as they pass and keep their SHA-256 in ``rows``
    (by the Python parser: the C walk skips contents)."""
    if _tarscan is not None and not hash_files:
        if isinstance(chunks, _SeekReader):
            return _parse_seekable_c(chunks, rows, what)
        return _parse_stream_c(iter(chunks), rows, what)
    r = chunks if isinstance(chunks, _SeekReader) else _Reader(chunks)
    first = True
    while _entry(r, rows, what, first, hash_files):
        first = False


_KIND_CODE = {t[0]: k for t, k in KIND_BY_TYPE.items() if t != tarfile.GNUTYPE_SPARSE}


def _parse_seekable_c(r: _SeekReader, rows: FileRows, what: str) -> None:
    """The C header walk (``_tarscan``) over the plain entries, the Python parser for each other one."""
    fd = r._f.fileno()
    first = True
    while True:
        paths: list[str] = []
        links: list[str | None] = []
        pos, stopped, types, *nums = _tarscan.scan(fd, r._pos, r._end, [paths, links])
        first = first and pos == r._pos
        r._pos = pos
        r._f.seek(pos)
        if paths:
            _add_scanned(rows, paths, links, types, nums)
        if stopped == 1:  # end-of-archive
            return
        if not _entry(r, rows, what, first):
            return
        first = False


def _add_scanned(rows: FileRows, paths: list, links: list, types: bytes, nums: list[bytes]) -> None:
    packed = []
    for raw in nums:  # size, mode, uid, gid, mtime as native int64
        a = array("q")
        a.frombytes(raw)
        packed.append(a)
    rows.extend(paths, list(map(_KIND_CODE.__getitem__, types)), *packed, links)


#: How much of the next chunk is joined to an entry's headers cut by a chunk's end (more when they need it).
_JOIN = 1 << 16


def _parse_stream_c(it: Iterator[bytes], rows: FileRows, what: str) -> None:
    """The C header walk (``_tarscan.scan_buffer``) over a tar stream chunk by chunk, contents skipped
    by counting; the Python parser reads each entry the walk leaves to it."""
    buf, pos, first = b"", 0, True
    while True:
        # buf[pos:] holds no whole entry; pos may lie past buf's end (contents still to skip)
        chunk = next(it, None)
        if chunk is None:
            break
        if pos >= len(buf):
            buf, pos = chunk, pos - len(buf)
            if pos >= len(buf):
                continue
        else:  # an entry's headers are cut by the chunk's end: join them to the start of the next chunk
            carry = buf[pos:]
            paths: list[str] = []
            links: list[str | None] = []
            got, _, types, *nums = _tarscan.scan_buffer(carry + chunk[:_JOIN], 0, [paths, links])
            if paths:
                _add_scanned(rows, paths, links, types, nums)
            first = first and got == 0
            if got >= len(carry):  # past the cut: go on in the chunk itself
                buf, pos = chunk, got - len(carry)
            else:  # the headers need more than _JOIN bytes, or the Python parser: join it all
                buf, pos = carry + chunk, got
        while pos < len(buf):
            paths, links = [], []
            start = pos
            pos, stopped, types, *nums = _tarscan.scan_buffer(buf, pos, [paths, links])
            if paths:
                _add_scanned(rows, paths, links, types, nums)
            first = first and pos == start
            if stopped == 2:  # the next entry starts in, or after, the next chunk
                break
            if stopped == 1:  # end-of-archive: read the rest, so the hashes cover the whole blob
                for _ in it:
                    pass
                return
            r = _Reader(it)  # an entry for the Python parser, from pos on
            r._buf, r._pos = buf, pos
            if not _entry(r, rows, what, first):
                return
            buf, pos, first = r._buf, r._pos, False
    if pos < len(buf):  # the stream ends inside an entry's headers: the Python parser says how
        r = _Reader(iter(()))
        r._buf, r._pos = buf, pos
        while _entry(r, rows, what, first):
            first = False
    elif pos > len(buf):
        raise _truncated(what)


def _entry(r, rows: FileRows, what: str, first: bool, hash_files: bool = False) -> bool:
    """Read one entry (its extension records, header and skipped contents) into ``rows``; False at the end."""
    ext: list[bytes] = []
    while True:
        block = r.take(BLOCK)
        if block is None:
            # extension headers and then the end of the stream, exactly: Go's archive/tar (docker's
            # reader) ends the archive there, as GNU tar does; a part of a block is a cut-short one
            if ext and r.short:
                raise _truncated(what)
            break
        if block.count(0) == BLOCK:  # end-of-archive
            r.drain()
            block = None
            break
        flag = block[156]
        if flag not in _EXTENSION_FLAGS:
            break
        size = _size(block, what)
        data = r.take(-(-size // BLOCK) * BLOCK)
        if data is None:
            raise _truncated(what)
        ext.append(block)
        ext.append(data)
        first = False
    try:
        # at the end, extension headers with no entry after them are still read: records Go would
        # refuse are damage
        header = parse_headers(b"".join(ext) + (block or b"") if ext else block) if ext or block else None
    except (tarfile.HeaderError, ValueError) as e:
        if first:
            raise ArchiveError(f"{what} is not a tar archive (its first block is no tar header: {e}); "
                               "expected an image layer (a tar, gzip or zstd compressed)", path=what) from None
        raise ArchiveError(f"{what}: a damaged tar header after {len(rows)} entries ({e}); "
                           "the layer is corrupt", path=what) from None
    if block is None:
        return False
    if flag == _SPARSE and block[482]:  # old GNU sparse: more sparse map blocks follow the header
        while True:
            more = r.take(BLOCK)
            if more is None:
                raise _truncated(what)
            if not more[504]:
                break
    # Contents follow regular files and unknown types; links, devices, dirs and fifos have none
    # whatever their size field says (as tarfile and Go's archive/tar read them).
    digest = None
    padded = -(-header.data_size // BLOCK) * BLOCK
    if hash_files and header.kind == "file" and flag != _SPARSE and header.data_size == header.size:
        # the stored bytes are the file (a sparse entry stores only its data regions: no digest)
        digest = _hash_contents(r, header.data_size, what)
        padded -= header.data_size
    if padded and (flag in _WITH_DATA or flag not in _KNOWN):
        if not r.skip(padded):
            raise _truncated(what)
    # A name climbing above the layer root is one Docker refuses to extract (as the tar-split reader
    # of a data root refuses it): left out, and said so in the layer's `refused` (a skipped row).
    if climbs_out(header.name):
        rows.refused.append((header.name, f"tar entry {header.name!r} climbs above the layer root "
                                          "(Docker refuses to extract it); left out"))
        return True
    if header.kind == "hardlink" and climbs_out(header.linkname):
        rows.refused.append((header.name, f"hard link {header.name!r} points above the layer root "
                                          f"({header.linkname!r}); left out"))
        return True
    path = clean_path(header.name)
    if path == "/":
        return True
    kind = header.kind
    link = header.linkname if kind == "symlink" else clean_path(header.linkname) if kind == "hardlink" else None
    before = len(rows)
    rows.add_named(path, kind, header.size if kind == "file" else 0, header.mode, header.uid, header.gid,
                   header.mtime_ns, link)
    if digest is not None and len(rows) > before and rows.kind[-1] == "file":  # not a .wh. name
        rows.set_sha256(len(rows) - 1, digest)
    return True


def _hash_contents(r, size: int, what: str) -> str:
    """SHA-256 of the next ``size`` bytes of ``r`` (a file's contents), read a chunk at a time."""
    h = hashlib.sha256()
    while size > 0:
        data = r.take(min(CHUNK, size))
        if data is None:
            raise _truncated(what)
        h.update(data)
        size -= len(data)
    return h.hexdigest()


def _size(block: bytes, what: str) -> int:
    try:
        return tarfile.nti(block[124:136])
    except tarfile.InvalidHeaderError:
        raise ArchiveError(f"{what}: a damaged tar header (bad size field); the layer is corrupt", path=what) from None


def _truncated(what: str) -> ArchiveError:
    return ArchiveError(f"{what}: the layer tar ends in the middle of an entry (truncated); save or fetch "
                        "the image again", path=what)


def read_layer(read: Callable[[int], bytes], layer_id: str, what: str, *, blob_digest: str | None = None,
               diff_id: str | None = None, compression: str | None = None, hash_tar: bool = True,
               hash_files: bool = False) -> LayerRead:
    """Read one layer blob from ``read`` (a file's or a response's ``read``) into rows of the files frame.

    ``blob_digest`` and ``diff_id``, when given, are checked once the blob is read: a mismatch raises
    LayerDigestMismatch and the rows are never returned. ``compression`` is sniffed when not given.
    ``hash_tar=False`` does not hash the uncompressed tar of a compressed blob (its ``diff_id`` is
    then None, and cannot be checked); the blob itself is always hashed.
    ``what`` names the blob in messages (a file, a member of an archive, a URL). ``hash_files``: the
    rows get each regular file's SHA-256, hashed as its contents stream past (``sha256`` column).
    """
    raw = _Hashed(_chunks(read))
    it = iter(raw)
    head = next(it, b"")
    if compression is None:
        compression = compression_of(head)

    def source():
        if head:
            yield head
        yield from it

    if compression not in ("gzip", "zstd", "none"):
        raise ArchiveError(f"{what}: unknown layer compression {compression!r}; expected gzip, zstd or none", path=what)
    if diff_id and compression != "none" and not hash_tar:
        raise ValueError("a diff_id to check needs hash_tar=True")
    # The work is shared by threads a few chunks apart: one reads and hashes the blob, one inflates
    # it (a compressed blob), and this one hashes the tar and walks its headers (in C). Hashing and
    # inflating are C that releases the GIL, so they run on both cores; inflating is the longest
    # stage, so it has a thread to itself.
    tar = None
    if compression == "none":
        threads = [_Ahead(source())]
        tar_chunks = iter(threads[0])
    else:
        fetched = _Ahead(source())
        inflated = _Ahead(_gunzip(iter(fetched), what) if compression == "gzip" else _unzstd(iter(fetched), what))
        threads = [inflated, fetched]
        tar = _Hashed(iter(inflated), hash=hash_tar)
        tar_chunks = iter(tar)
    rows = FileRows(layer_id)
    try:
        try:
            try:
                parse_tar(tar_chunks, rows, what, hash_files=hash_files)
                for _ in tar_chunks:  # whatever follows the end-of-archive blocks, so the digests cover it
                    pass
            finally:
                for thread in threads:  # the consumer end first, so none waits on a stopped one
                    thread.stop()
        except (zlib.error, _inflate.error) as e:
            raise ArchiveError(f"{what}: the gzip stream is damaged ({e}); the layer is corrupt", path=what) from None
        except Exception as e:
            if type(e).__name__ == "ZstdError":
                raise ArchiveError(f"{what}: the zstd stream is damaged ({e}); the layer is corrupt",
                                   path=what) from None
            raise
    except ArchiveError:
        # A blob that fails to parse may simply not be the blob it is named as: say that, when so.
        expected = blob_digest or (diff_id if compression == "none" else None)
        if expected:
            for _ in it:
                pass
            if raw.digest != expected:
                raise LayerDigestMismatch(f"{what}: the blob hashes to {raw.digest}, not {expected} as it is "
                                          "named; it is damaged or was altered, and is not analysed",
                                          path=what) from None
        raise
    got_blob = raw.digest
    got_diff = got_blob if tar is None else tar.digest if hash_tar else None
    if blob_digest and blob_digest != got_blob:
        raise LayerDigestMismatch(f"{what}: the blob hashes to {got_blob}, not {blob_digest} as it is named; "
                                  "it is damaged or was altered, and is not analysed", path=what)
    hashed = raw if tar is None else tar if hash_tar else None
    ended = hashed.digest_if_ended() if hashed is not None else None
    if diff_id and diff_id != got_diff:
        raise diff_id_mismatch(what, got_diff, diff_id, ended)
    return LayerRead(rows, got_blob, got_diff, raw.size, tar.size if tar is not None else raw.size, compression, ended)


class _Ahead:
    """Runs a chain of chunk producers (reading, hashing, inflating: C work that releases the GIL) in
    a thread of its own, a few chunks ahead of the header parser, so both cores are used."""

    DEPTH = 8

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks
        self._queue: queue.Queue = queue.Queue(self.DEPTH)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="layerlab-read", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for chunk in self._chunks:
                while not self._stopped.is_set():
                    try:
                        self._queue.put(chunk, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stopped.is_set():
                    return
            item = None
        except BaseException as e:  # raised again in the reading thread
            item = e
        while not self._stopped.is_set():
            try:
                self._queue.put(("end", item), timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self):
        while True:
            try:
                chunk = self._queue.get(timeout=0.1)
            except queue.Empty:
                if self._stopped.is_set():  # stopped: nothing more will come
                    return
                continue
            if isinstance(chunk, tuple):
                if chunk[1] is not None:
                    raise chunk[1]
                return
            yield chunk

    def stop(self) -> None:
        """Stop the thread (the chain is then left where it was, for the caller to go on with)."""
        self._stopped.set()
        self._thread.join()


def _gunzip(chunks: Iterator[bytes], what: str) -> Iterator[bytes]:
    """gzip members back to back, decompressed as they stream; truncation is an ArchiveError."""
    yield from _members(chunks, lambda: _inflate.decompressobj(16 + zlib.MAX_WBITS), what, "gzip")


def _members(chunks: Iterator[bytes], new: Callable, what: str, name: str) -> Iterator[bytes]:
    """Members (gzip) or frames (zstd) back to back, each by a fresh decompressor from ``new()``,
    decompressed as they stream; input that ends inside one is an ArchiveError."""
    d = new()
    fed = False
    for chunk in chunks:
        while chunk:
            fed = True
            out = d.decompress(chunk)
            if out:
                yield out
            if d.eof:
                chunk = d.unused_data
                d = new()
                fed = False
            else:
                chunk = b""
    if fed:
        raise ArchiveError(f"{what}: the {name} stream ends early (truncated); save or fetch the image again",
                           path=what)


def read_layer_unverified(f, end: int, layer_id: str, what: str, *, hash_files: bool = False) -> LayerRead:
    """Read the layer blob in the seekable file ``f`` (from its position to offset ``end``) headers
    only, seeking past file contents, as ``tar -t`` does; its digests are not checked (they would need
    every byte). A compressed blob cannot be seeked in, so it is read in full, and checked, as by
    :func:`read_layer`."""
    start = f.tell()
    head = f.read(4)
    f.seek(start)
    compression = compression_of(head)
    if compression != "none" or hash_files:  # every byte is read anyway: checked too
        return read_layer(lambda n: f.read(max(0, min(n, end - f.tell()))), layer_id, what, hash_files=hash_files)
    rows = FileRows(layer_id)
    parse_tar(_SeekReader(f, end), rows, what)
    return LayerRead(rows, None, None, end - start, end - start, "none")


#: An uncompressed layer of a file up to this size is read whole into memory (and hashed and walked there).
SMALL_BLOB = 1 << 20


def read_layer_file(f, end: int, layer_id: str, what: str, *, blob_digest: str | None = None,
                    diff_id: str | None = None, hash_files: bool = False) -> LayerRead:
    """Read and check the layer blob in the seekable file ``f`` (from its position to offset ``end``).

    An uncompressed blob is hashed by a second thread reading it front to back while this one walks
    its headers (seeking past contents): the two run at once (hashlib and pread release the GIL),
    so checking costs about the hashing alone. A compressed blob is read as a stream (:func:`read_layer`).
    """
    start = f.tell()
    head = f.read(4)
    f.seek(start)
    if compression_of(head) != "none" or _tarscan is None or hash_files:
        return read_layer(lambda n: f.read(max(0, min(n, end - f.tell()))), layer_id, what,
                          blob_digest=blob_digest, diff_id=diff_id, hash_files=hash_files)
    if end - start <= SMALL_BLOB:  # read whole: a thread and a file reopened per layer cost more than it
        return read_layer_bytes(os.pread(f.fileno(), end - start, start), layer_id, what, blob_digest=blob_digest,
                                diff_id=diff_id)
    sha = hashlib.sha256()
    failed: list[BaseException] = []

    def hash_all():
        # A file description of its own (the same file, reopened through /proc where there is one):
        # the kernel keeps read-ahead state per description, and the header walk's jumps on the
        # shared one kept it from reading ahead of this front-to-back read.
        fd = f.fileno()
        try:
            own = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | getattr(os, "O_NOATIME", 0))
        except OSError:
            own = None
        try:
            if own is not None and ((a := os.fstat(own)).st_ino, a.st_dev) != ((b := os.fstat(fd)).st_ino, b.st_dev):
                os.close(own)  # not the same file after all: read the shared one
                own = None
            pos = start
            while pos < end:
                chunk = os.pread(fd if own is None else own, min(CHUNK, end - pos), pos)
                if not chunk:
                    break
                sha.update(chunk)
                pos += len(chunk)
        except BaseException as e:  # reported by the reading thread
            failed.append(e)
        finally:
            if own is not None:
                os.close(own)

    hasher = threading.Thread(target=hash_all, name="layerlab-hash", daemon=True)
    hasher.start()
    rows = FileRows(layer_id)
    try:
        parse_tar(_SeekReader(f, end), rows, what)
        error = None
    except ArchiveError as e:
        error = e
    hasher.join()
    if failed:
        raise failed[0]
    return _checked(rows, "sha256:" + sha.hexdigest(), error, end - start, what, blob_digest, diff_id)


def read_layer_bytes(data: bytes, layer_id: str, what: str, *, blob_digest: str | None = None,
                     diff_id: str | None = None, compression: str | None = None, hash_files: bool = False) -> LayerRead:
    """:func:`read_layer` of a blob held in memory: an uncompressed one is hashed and walked here, at
    once, without the threads a stream is read with (they cost more than a small layer's walk)."""
    if compression not in (None, "none") or compression_of(data[:4]) != "none" or _tarscan is None or hash_files:
        return read_layer(io.BytesIO(data).read, layer_id, what, blob_digest=blob_digest, diff_id=diff_id,
                          compression=compression, hash_files=hash_files)
    rows = FileRows(layer_id)
    try:
        parse_tar(iter((data,)), rows, what)
        error = None
    except ArchiveError as e:
        error = e
    return _checked(rows, "sha256:" + hashlib.sha256(data).hexdigest(), error, len(data), what, blob_digest, diff_id)


def _checked(rows: FileRows, got: str, error: ArchiveError | None, size: int, what: str, blob_digest: str | None,
             diff_id: str | None) -> LayerRead:
    """An uncompressed blob's read, once its digest is checked (a mismatch is said before a parse error)."""
    for expected, named in ((blob_digest, "as it is named"), (diff_id, "as its image config says")):
        if expected and expected != got:
            raise LayerDigestMismatch(f"{what}: the blob hashes to {got}, not {expected} {named}; it is damaged "
                                      "or was altered, and is not analysed", path=what)
    if error is not None:
        raise error
    return LayerRead(rows, got, got, size, size, "none")
