"""A small read-only reader of bbolt (etcd-io/bbolt) database files, such as containerd's meta.db.

No well-kept Python reader of bbolt exists, so this one is hand-written from the format as bbolt's
own source lays it out (``internal/common/{page,meta,bucket}.go``, ``db.go``, ``bucket.go``):

- The file is a sequence of pages of ``page_size`` bytes. Each page starts with a 16-byte header
  (``id`` u64, ``flags`` u16, ``count`` u16, ``overflow`` u32); a page with ``overflow`` n spans
  n + 1 pages on disk.
- Pages 0 and 1 are meta pages (magic 0xED0CDAED, version 2, FNV-64a checksum of the first 56
  bytes). The valid one with the highest transaction id is current: bbolt writes the other one on
  each commit, so a torn write leaves the previous state readable.
- The meta names the root bucket's page. Branch pages hold (key, child page) elements; leaf pages
  hold (flags, key, value) elements. A leaf element with the bucket flag is a nested bucket whose
  value is a 16-byte header (root page, sequence); a root page of 0 means the bucket is *inline*:
  its single leaf page follows the header inside the value itself.
- Integers are stored in the writer's native byte order; every platform containerd runs on is
  little-endian, and a big-endian file is recognised by its byte-swapped magic and read too.

Reading is strictly read-only: the file is opened ``O_RDONLY`` (with ``O_NOATIME`` where allowed),
never locked (bbolt writers take ``flock``; an outside reader that locked it could make containerd
fail with EBUSY), and read whole into memory. A live writer may commit while the copy is made, so
the meta pages are read again afterwards and the copy retried if two or more commits landed
meanwhile: bbolt frees the pages of transaction N in commit N+1 and reuses them from commit N+2 on
(when no reader is registered, as ours is not), so until then the copy holds N's tree intact.

Usage::

    db = DB("/var/lib/containerd/io.containerd.metadata.v1.bolt/meta.db")
    images = db.bucket("v1", "moby", "images")
    for name, image in images.buckets():
        print(name, image.bucket("target").get("digest"))
"""

from __future__ import annotations

import os
import stat
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass

from ...errors import BoltError

MAGIC = 0xED0CDAED
VERSION = 2
PAGE_HEADER_SIZE = 16
ELEMENT_SIZE = 16  # branch and leaf page elements are both 16 bytes
BUCKET_HEADER_SIZE = 16
META_SIZE = 64
META_CHECKSUM_OFFSET = 56

BRANCH_PAGE = 0x01
LEAF_PAGE = 0x02
META_PAGE = 0x04
FREELIST_PAGE = 0x10
BUCKET_LEAF_FLAG = 0x01

# bbolt nests buckets and pages; anything deeper than this is a cycle in a corrupt file.
_MAX_DEPTH = 64
_COPY_RETRIES = 20


def _fnv64a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h ^= byte
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


@dataclass(frozen=True)
class Meta:
    """One meta page: which transaction it describes and where that transaction's tree starts."""

    page: int
    page_size: int
    flags: int
    root: int
    sequence: int
    freelist: int
    high_water_mark: int
    txid: int


def _as_key(name: bytes | str) -> bytes:
    return name.encode() if isinstance(name, str) else bytes(name)


def _parse_meta(buf: bytes, offset: int, order: str, page: int) -> tuple[Meta | None, str]:
    """The meta stored at ``offset``, or None and why it is not valid."""
    start = offset + PAGE_HEADER_SIZE
    raw = buf[start : start + META_SIZE]
    if len(raw) < META_SIZE:
        return None, f"meta page {page} is cut short"
    magic, version, page_size, flags = struct.unpack_from(order + "4I", raw, 0)
    if magic != MAGIC:
        return None, f"meta page {page} has no bbolt magic"
    if version != VERSION:
        return None, f"meta page {page} has format version {version}, not {VERSION}"
    (checksum,) = struct.unpack_from(order + "Q", raw, META_CHECKSUM_OFFSET)
    if checksum != _fnv64a(raw[:META_CHECKSUM_OFFSET]):
        return None, f"meta page {page} fails its checksum"
    root, sequence, freelist, hwm, txid = struct.unpack_from(order + "5Q", raw, 16)
    return Meta(page, page_size, flags, root, sequence, freelist, hwm, txid), ""


def _byte_order(head: bytes) -> str:
    if len(head) >= PAGE_HEADER_SIZE + 4:
        (magic,) = struct.unpack_from(">I", head, PAGE_HEADER_SIZE)
        if magic == MAGIC:
            return ">"
    return "<"


def _read_metas(path: str, buf: bytes) -> Meta:
    """The current meta: the valid one of the two with the highest txid (bbolt ``DB.meta``)."""
    order = _byte_order(buf)
    problems = []
    meta0, why0 = _parse_meta(buf, 0, order, 0)
    candidates = [meta0] if meta0 else []
    if why0:
        problems.append(why0)
    # Page 1 sits one page in; with page 0 unreadable the page size is unknown, so try the sizes
    # bbolt itself tries (1 KiB .. 16 MiB).
    sizes = [meta0.page_size] if meta0 else [1024 << i for i in range(15)]
    for size in sizes:
        meta1, why1 = _parse_meta(buf, size, order, 1)
        if meta1:
            candidates.append(meta1)
            break
    else:
        problems.append(why1 if meta0 else "meta page 1 not found at any page size")
    if not candidates:
        raise BoltError(
            f"{path} is not a readable bbolt database ({'; '.join(problems)}); "
            "check that it is a containerd/bbolt .db file and not truncated",
            path=path,
        )
    return max(candidates, key=lambda m: m.txid)


def _open_flags() -> list[int]:
    # O_NONBLOCK: a FIFO in place of the file must not block the open (it is refused below).
    base = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    noatime = getattr(os, "O_NOATIME", 0)
    # O_NOATIME keeps reading from touching access times, but only the owner (or root) may use it.
    return [base | noatime, base] if noatime else [base]


def _check_regular(fd: int, path: str) -> None:
    """Refuse a FIFO, a device (a symlink to /dev/zero) or a directory: never wait, never read forever."""
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        what = "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
        raise BoltError(f"{path} is {what}, not a bbolt file; the store is damaged", path=path)


def _read_file(path: str) -> bytes:
    last: OSError | None = None
    for flags in _open_flags():
        try:
            fd = os.open(path, flags)
        except PermissionError as exc:
            last = exc
            continue
        try:
            _check_regular(fd, path)
            chunks = []
            while chunk := os.read(fd, 1 << 24):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)
    assert last is not None
    raise last


class DB:
    """A read-only, in-memory snapshot of one bbolt file.

    ``DB(path)`` reads the file once; ``bucket(*names)`` walks nested buckets from the root.
    Keys and values are ``bytes``; names may be given as ``str`` (UTF-8) or ``bytes``.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = os.fspath(path)
        try:
            for attempt in range(_COPY_RETRIES):
                data = _read_file(self.path)
                meta = _read_metas(self.path, data)
                # The pages of transaction N are freed by commit N+1 and can be reused from commit
                # N+2 on, so the copy holds N's tree intact unless two commits landed meanwhile.
                head = _read_head(self.path, 2 * meta.page_size)
                if _read_metas(self.path, head).txid <= meta.txid + 1:
                    break
                time.sleep(0.01 * attempt)
            else:
                raise BoltError(
                    f"{self.path} kept changing while it was read ({_COPY_RETRIES} tries); "
                    "read a copy, or retry when the writer is idle",
                    path=self.path,
                )
        except FileNotFoundError as exc:
            raise BoltError(f"{self.path} does not exist", path=self.path) from exc
        except IsADirectoryError as exc:
            raise BoltError(f"{self.path} is a directory, not a bbolt file", path=self.path) from exc
        except PermissionError as exc:
            raise BoltError(
                f"{self.path} is not readable by this user ({exc.strerror}); run as root or read a copy",
                path=self.path,
            ) from exc
        self._data = data
        self._order = _byte_order(data)
        self.meta = meta
        self.page_size = meta.page_size
        self.txid = meta.txid
        if self.page_size < PAGE_HEADER_SIZE + META_SIZE:
            raise BoltError(f"{self.path}: implausible page size {self.page_size}", path=self.path)
        # bbolt grows the file before a commit uses new pages, so a shorter file was cut off.
        if len(data) < meta.high_water_mark * meta.page_size:
            raise BoltError(
                f"{self.path} is truncated: {len(data)} bytes, but its transaction {meta.txid} uses "
                f"{meta.high_water_mark} pages of {meta.page_size} bytes; copy the file again",
                path=self.path,
            )
        self.root = Bucket(self, (), meta.root, None, meta.sequence)

    def __repr__(self) -> str:
        return f"DB({self.path!r}, txid={self.txid}, page_size={self.page_size})"

    def bucket(self, *names: bytes | str) -> Bucket | None:
        """The nested bucket at ``names`` from the root, or None if any level is missing."""
        return self.root.bucket(*names)

    def buckets(self) -> Iterator[tuple[bytes, Bucket]]:
        """Top-level buckets, in key order."""
        return self.root.buckets()

    # -- page access ------------------------------------------------------------------------
    def _corrupt(self, what: str) -> BoltError:
        return BoltError(
            f"{self.path} is corrupt or truncated: {what}; copy the file again or check it with "
            "`bbolt check`",
            path=self.path,
        )

    def _page(self, pgid: int) -> memoryview:
        """The bytes of page ``pgid`` including its overflow pages."""
        start = pgid * self.page_size
        if pgid < 2 or start + PAGE_HEADER_SIZE > len(self._data):
            raise self._corrupt(f"page {pgid} lies outside the file ({len(self._data)} bytes)")
        page_id, _flags, _count, overflow = struct.unpack_from(self._order + "QHHI", self._data, start)
        if page_id != pgid:
            raise self._corrupt(f"page {pgid} identifies itself as page {page_id}")
        end = start + (overflow + 1) * self.page_size
        if end > len(self._data):
            raise self._corrupt(f"page {pgid} with {overflow} overflow pages runs past the end of the file")
        return memoryview(self._data)[start:end]


class Bucket:
    """One bucket: plain (key, value) pairs and nested buckets, both in key order."""

    def __init__(self, db: DB, names: tuple[bytes, ...], root: int, inline: memoryview | None, sequence: int):
        self._db = db
        self.names = names
        self.root_page = root
        self._inline = inline
        self.sequence = sequence

    def __repr__(self) -> str:
        return f"<Bucket {'/'.join(n.decode(errors='replace') for n in self.names) or '(root)'}>"

    # -- walking ----------------------------------------------------------------------------
    def _elements(self) -> Iterator[tuple[bytes, bytes, bool]]:
        """(key, value, is_bucket) for every leaf element, in key order."""
        if self._inline is not None:
            yield from self._leaf(self._inline, "inline page")
            return
        yield from self._walk(self.root_page, 0)

    def _walk(self, pgid: int, depth: int) -> Iterator[tuple[bytes, bytes, bool]]:
        if depth > _MAX_DEPTH:
            raise self._db._corrupt(f"pages nest deeper than {_MAX_DEPTH} levels under page {pgid}")
        page = self._db._page(pgid)
        flags, count = struct.unpack_from(self._db._order + "HH", page, 8)
        if flags == LEAF_PAGE:
            yield from self._leaf(page, f"page {pgid}")
        elif flags == BRANCH_PAGE:
            for child in self._branch_children(page, count, pgid):
                yield from self._walk(child, depth + 1)
        else:
            raise self._db._corrupt(f"page {pgid} of bucket {self!r} has type {flags:#x}, not branch or leaf")

    def _branch_children(self, page: memoryview, count: int, pgid: int) -> list[int]:
        return [child for _key, child in self._branch(page, count, pgid)]

    def _branch(self, page: memoryview, count: int, pgid: int) -> list[tuple[bytes, int]]:
        """(first key, child page) of each element of a branch page."""
        order = self._db._order
        if PAGE_HEADER_SIZE + count * ELEMENT_SIZE > len(page):
            raise self._db._corrupt(f"branch page {pgid} claims {count} elements")
        out = []
        for i in range(count):
            at = PAGE_HEADER_SIZE + i * ELEMENT_SIZE
            pos, ksize, child = struct.unpack_from(order + "IIQ", page, at)
            if at + pos + ksize > len(page):
                raise self._db._corrupt(f"element {i} of branch page {pgid} runs past its page")
            out.append((bytes(page[at + pos : at + pos + ksize]), child))
        return out

    def _find(self, want: bytes) -> tuple[bytes, bool] | None:
        """(value, is_bucket) for ``want``, descending branch pages by key (bbolt's cursor seek)."""
        if self._inline is not None:
            leaf = self._inline
            where = "inline page"
        else:
            pgid, depth = self.root_page, 0
            while True:
                page = self._db._page(pgid)
                flags, count = struct.unpack_from(self._db._order + "HH", page, 8)
                if flags != BRANCH_PAGE:
                    leaf, where = page, f"page {pgid}"
                    break
                elements = self._branch(page, count, pgid)
                if not elements:
                    return None
                # The child to follow is the last one whose first key is <= want.
                pgid = elements[0][1]
                for first_key, child in elements:
                    if first_key > want:
                        break
                    pgid = child
                depth += 1
                if depth > _MAX_DEPTH:
                    raise self._db._corrupt(f"pages nest deeper than {_MAX_DEPTH} levels")
        for key, value, is_bucket in self._leaf(leaf, where):
            if key == want:
                return value, is_bucket
            if key > want:
                return None
        return None

    def _leaf(self, page: memoryview, where: str) -> Iterator[tuple[bytes, bytes, bool]]:
        order = self._db._order
        flags, count = struct.unpack_from(order + "HH", page, 8)
        if flags != LEAF_PAGE:
            raise self._db._corrupt(f"{where} of bucket {self!r} has type {flags:#x}, not leaf")
        if PAGE_HEADER_SIZE + count * ELEMENT_SIZE > len(page):
            raise self._db._corrupt(f"leaf {where} claims {count} elements")
        for i in range(count):
            at = PAGE_HEADER_SIZE + i * ELEMENT_SIZE
            eflags, pos, ksize, vsize = struct.unpack_from(order + "4I", page, at)
            # pos is measured from the element itself, not from the page start.
            kstart = at + pos
            vend = kstart + ksize + vsize
            if vend > len(page):
                raise self._db._corrupt(f"element {i} of leaf {where} runs past its page")
            key = bytes(page[kstart : kstart + ksize])
            value = bytes(page[kstart + ksize : vend])
            yield key, value, bool(eflags & BUCKET_LEAF_FLAG)

    def _child(self, key: bytes, value: bytes) -> Bucket:
        if len(value) < BUCKET_HEADER_SIZE:
            raise self._db._corrupt(f"bucket {key!r} in {self!r} has a {len(value)}-byte header")
        root, sequence = struct.unpack_from(self._db._order + "QQ", value, 0)
        inline = memoryview(value)[BUCKET_HEADER_SIZE:] if root == 0 else None
        if inline is not None and len(inline) < PAGE_HEADER_SIZE:
            raise self._db._corrupt(f"inline bucket {key!r} in {self!r} is cut short")
        return Bucket(self._db, self.names + (key,), root, inline, sequence)

    # -- public API -------------------------------------------------------------------------
    def entries(self) -> Iterator[tuple[bytes, bytes | Bucket]]:
        """Every entry in key order: a value's bytes, or a nested Bucket."""
        for key, value, is_bucket in self._elements():
            yield key, (self._child(key, value) if is_bucket else value)

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """The plain (key, value) pairs, in key order; nested buckets are left out."""
        for key, value, is_bucket in self._elements():
            if not is_bucket:
                yield key, value

    __iter__ = items

    def buckets(self) -> Iterator[tuple[bytes, Bucket]]:
        """The nested buckets as (name, Bucket), in key order."""
        for key, value, is_bucket in self._elements():
            if is_bucket:
                yield key, self._child(key, value)

    def keys(self) -> Iterator[bytes]:
        for key, _value, _is_bucket in self._elements():
            yield key

    def get(self, key: bytes | str, default: bytes | None = None) -> bytes | None:
        """The value stored under ``key``; ``default`` if absent or if ``key`` is a bucket."""
        found = self._find(_as_key(key))
        if found is None or found[1]:
            return default
        return found[0]

    def bucket(self, *names: bytes | str) -> Bucket | None:
        """The nested bucket at ``names`` below this one, or None if any level is missing."""
        current: Bucket | None = self
        for name in names:
            want = _as_key(name)
            found = current._find(want)
            if found is None or not found[1]:
                return None
            current = current._child(want, found[0])
        return current

    def pages(self) -> Iterator[tuple[int, str, int]]:
        """(page id, "branch"/"leaf", overflow count) of every page of this bucket's own tree,
        depth first; nothing for an inline bucket. For inspection and tests."""
        if self._inline is not None:
            return
        stack = [(self.root_page, 0)]
        while stack:
            pgid, depth = stack.pop()
            if depth > _MAX_DEPTH:
                raise self._db._corrupt(f"pages nest deeper than {_MAX_DEPTH} levels under page {pgid}")
            page = self._db._page(pgid)
            flags, count, overflow = struct.unpack_from(self._db._order + "HHI", page, 8)
            if flags == BRANCH_PAGE:
                yield pgid, "branch", overflow
                stack += [(child, depth + 1) for child in reversed(self._branch_children(page, count, pgid))]
            else:
                yield pgid, "leaf", overflow

    def to_dict(self) -> dict[bytes, bytes | dict]:
        """The whole bucket as nested dicts (values bytes, sub-buckets dicts): small buckets only."""
        return {k: (v.to_dict() if isinstance(v, Bucket) else v) for k, v in self.entries()}

    def __contains__(self, key: bytes | str) -> bool:
        return self._find(_as_key(key)) is not None

    def __len__(self) -> int:
        return sum(1 for _ in self._elements())


def _read_head(path: str, size: int) -> bytes:
    for flags in _open_flags():
        try:
            fd = os.open(path, flags)
        except PermissionError:
            continue
        try:
            _check_regular(fd, path)
            return os.pread(fd, size, 0)
        finally:
            os.close(fd)
    return b""
