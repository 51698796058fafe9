"""A layer's files from walking its directory, in each driver's whiteout convention.

Of a hard-linked inode, the first path in the order Docker's tar writer visits them (depth first,
names sorted bytewise within each directory) is the ``file`` row and later ones are ``hardlink``
rows pointing at it, exactly as in the layer's tar.
"""

from __future__ import annotations

import multiprocessing
import os
import stat
from concurrent.futures import ProcessPoolExecutor
from operator import attrgetter

import numpy as np
import pandas as pd

from ..frames import schema
from .entries import FileRows, exact_paths

OVERLAY_OPAQUE_XATTRS = (b"trusted.overlay.opaque", b"user.overlay.opaque")

_KIND = {
    stat.S_IFREG: "file",
    stat.S_IFDIR: "dir",
    stat.S_IFLNK: "symlink",
    stat.S_IFCHR: "char",
    stat.S_IFBLK: "block",
    stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
}

#: Conventions: "overlay" (char device 0/0 whiteouts, opaque xattr, and ``.wh.`` files as
#: fuse-overlayfs keeps them in pulled layers), "aufs" (``.wh.`` files only), "plain" (no markers:
#: a vfs or btrfs directory holds a full filesystem).
CONVENTIONS = ("overlay", "aufs", "plain")


def walk_layer(root: str | os.PathLike, layer_id: str, convention: str = "overlay", *, parallel: bool = False) -> pd.DataFrame:
    """The files frame rows of the layer stored in directory ``root``.

    Written for speed (this is the inventory's hot loop): one ``lstat`` per entry in the loop,
    everything else computed column-wise afterwards with numpy. With ``parallel``, subtrees below
    the second level are walked by worker processes, one per core (for big layers).
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown whiteout convention {convention!r}; known: {CONVENTIONS}")
    overlay = convention == "overlay"
    markers = convention != "plain"
    start = [(os.fsencode(root), "", 0)]
    workers = len(os.sched_getaffinity(0)) if parallel else 1
    if workers < 2:
        return _frame(layer_id, _merge([_scan(start, overlay, markers)]), overlay)
    head = _scan(start, overlay, markers, max_depth=2)
    pending = head[-1]
    # Round-robin batches, several per worker, so one deep subtree does not leave a core idle.
    batches = [pending[i :: workers * 4] for i in range(min(len(pending), workers * 4))]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        chunks = list(pool.map(_scan_batch, batches, [overlay] * len(batches), [markers] * len(batches)))
    return _frame(layer_id, _merge([head, *chunks]), overlay)


_FIELDS = ("st_mode", "st_size", "st_uid", "st_gid", "st_mtime_ns", "st_blocks", "st_nlink", "st_dev", "st_ino", "st_rdev")


def _scan(dirs: list, overlay: bool, markers: bool, max_depth: int | None = None) -> tuple:
    """Walk from ``dirs`` [(dir bytes, path, depth)]; directories at ``max_depth`` are returned
    unvisited. Returns (paths, {stat field: int64 array}, links, opaque, named, pending)."""
    lstat, listdir, readlink, decode = os.lstat, os.listdir, os.readlink, bytes.decode
    paths: list[str] = []
    stats: list[os.stat_result] = []
    links: dict[int, str] = {}
    opaque: list[int] = []
    named: list[int] = []  # entries named .wh.*
    pending: list[tuple[bytes, str, int]] = []
    dirs = list(dirs)
    while dirs:
        dir_b, prefix, depth = dirs.pop()
        below = pending if max_depth is not None and depth + 1 >= max_depth else dirs
        for name in listdir(dir_b):
            full = dir_b + b"/" + name
            st = lstat(full)
            path = prefix + "/" + decode(name, "utf-8", "surrogateescape")  # os.fsdecode, inlined
            fmt = st.st_mode >> 12
            if fmt == 4:
                below.append((full, path, depth + 1))
                if overlay and _is_opaque(full):
                    opaque.append(len(paths))
            elif fmt == 10:
                links[len(paths)] = decode(readlink(full), "utf-8", "surrogateescape")
            if markers and name.startswith(b".wh."):
                named.append(len(paths))
            paths.append(path)
            stats.append(st)
    n = len(stats)
    cols = {f: np.fromiter(map(attrgetter(f), stats), np.int64, n) for f in _FIELDS}
    return paths, cols, links, opaque, named, pending


def _scan_batch(batch: list, overlay: bool, markers: bool) -> tuple:
    return _scan(batch, overlay, markers)


def _merge(chunks: list[tuple]) -> tuple:
    """One chunk from several: paths and columns concatenated, indices shifted."""
    if len(chunks) == 1:
        return chunks[0][:5]
    paths: list[str] = []
    links: dict[int, str] = {}
    opaque: list[int] = []
    named: list[int] = []
    for p, _, lk, op, nm, _ in chunks:
        base = len(paths)
        paths.extend(p)
        links.update((base + i, t) for i, t in lk.items())
        opaque.extend(base + i for i in op)
        named.extend(base + i for i in nm)
    cols = {f: np.concatenate([c[1][f] for c in chunks]) for f in _FIELDS}
    return paths, cols, links, opaque, named


_FMT_KIND = np.array(["file"] * 16, dtype=object)
for _fmt, _kind in _KIND.items():
    _FMT_KIND[_fmt >> 12] = _kind
_NAT = np.iinfo(np.int64).min


def _frame(layer_id: str, chunk: tuple, overlay: bool) -> pd.DataFrame:
    paths, cols, links, opaque, named = chunk
    n = len(paths)
    st_mode = cols["st_mode"]
    fmt = st_mode >> 12
    kind = _FMT_KIND[fmt]
    size = np.where(fmt == 8, cols["st_size"], 0)
    mode = st_mode & 0o7777
    uid, gid, mtime = cols["st_uid"], cols["st_gid"], cols["st_mtime_ns"].copy()
    disk = cols["st_blocks"] * 512
    no_disk = np.zeros(n, dtype=bool)
    link = np.full(n, None, dtype=object)
    for i, target in links.items():
        link[i] = target
    keep = np.ones(n, dtype=bool)
    whiteout = np.zeros(n, dtype=bool)
    if overlay:
        whiteout = (fmt == 2) & (cols["st_rdev"] == 0)  # overlay whiteout: char device 0/0
    # Hard links: the first path in walk order (Docker's tar order) is the file, the rest link to it.
    multi = np.flatnonzero((fmt == 8) & (cols["st_nlink"] > 1))
    if len(multi):
        groups: dict[tuple[int, int], list[int]] = {}
        dev, ino = cols["st_dev"], cols["st_ino"]
        for i in multi:
            groups.setdefault((int(dev[i]), int(ino[i])), []).append(i)
        for members in groups.values():
            if len(members) < 2:
                continue
            members.sort(key=lambda i: os.fsencode(paths[i]).split(b"/"))
            first = paths[members[0]]
            for i in members[1:]:
                kind[i], size[i], link[i], no_disk[i] = "hardlink", 0, first, True
    if named or opaque:
        index = {p: i for i, p in enumerate(paths)} if named else {}
        for i in named:
            parent, _, base = paths[i].rpartition("/")
            base_b = os.fsencode(base)
            keep[i] = False
            # fuse-overlayfs marks an opaque directory with both .wh..wh..opq and its own .wh..opq
            if base_b == b".wh..wh..opq" or (overlay and base_b == b".wh..opq"):
                j = index.get(parent or "/")
                if j is not None:
                    opaque.append(j)
            elif base_b in (b".wh..wh.plnk", b".wh..wh.aufs", b".wh..wh.orph") and parent == "":
                pass  # aufs bookkeeping in the branch root
            elif base_b == b".wh.":
                raise ValueError(f"invalid bare whiteout {paths[i]!r}")
            else:
                paths[i] = parent + "/" + base[4:]
                whiteout[i] = keep[i] = True
        for i in opaque:
            kind[i] = "opaque"
    if whiteout.any():
        kind[whiteout] = "whiteout"
        mode[whiteout] = size[whiteout] = 0
        mtime[whiteout] = _NAT
        link[whiteout] = None
        no_disk |= whiteout
    paths, raw = exact_paths(paths)
    if links:
        targets, _ = exact_paths([t for t in link if t is not None])
        link[np.not_equal(link, None)] = targets
    df = pd.DataFrame(
        {
            "layer_id": pd.Series(layer_id, index=range(n), dtype=schema.STRING),
            "path": pd.array(paths, dtype=schema.STRING),
            "path_raw": pd.Series(raw if raw is not None else [None] * n, dtype=object),
            "kind": pd.array(kind, dtype=schema.STRING),
            "size": size,
            "mode": mode,
            "uid": uid,
            "gid": gid,
            "mtime": pd.to_datetime(mtime, unit="ns", utc=True) if n else pd.Series([], dtype=schema.TIME),
            "link_target": pd.array(link, dtype=schema.STRING),
            "disk_usage": pd.arrays.IntegerArray(disk, no_disk),
            "sha256": pd.Series(pd.NA, index=range(n), dtype=schema.STRING),
        }
    )
    return df if keep.all() else df[keep].reset_index(drop=True)


def _listing(dir_b: bytes) -> list[bytes]:
    # Reversed so that list.pop() yields names in ascending byte order.
    return sorted(os.listdir(dir_b), reverse=True)


def _is_opaque(path_b: bytes) -> bool:
    for attr in OVERLAY_OPAQUE_XATTRS:
        try:
            if os.getxattr(path_b, attr, follow_symlinks=False) == b"y":
                return True
        except OSError:
            pass
    return False


def disk_usage(root: str | os.PathLike) -> tuple[int, int]:
    """Allocated bytes (each inode once, directories included) and entry count under ``root``."""
    total = 0
    count = 0
    seen: set[tuple[int, int]] = set()
    stack = [os.fsencode(root)]
    while stack:
        d = stack.pop()
        with os.scandir(d) as it:
            for e in it:
                st = e.stat(follow_symlinks=False)
                count += 1
                if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
                    key = (st.st_dev, st.st_ino)
                    if key in seen:
                        continue
                    seen.add(key)
                total += st.st_blocks * 512
                if stat.S_ISDIR(st.st_mode):
                    stack.append(e.path)
    return total, count


def stat_tree(root: str | os.PathLike) -> dict[str, os.stat_result]:
    """lstat of every entry under ``root`` by absolute path, in walk order (root itself excluded)."""
    out: dict[str, os.stat_result] = {}
    root_b = os.fsencode(root)
    stack = [(root_b, "", _listing(root_b))]
    while stack:
        dir_b, prefix, entries = stack[-1]
        if not entries:
            stack.pop()
            continue
        name = entries.pop()
        full = dir_b + b"/" + name
        path = prefix + "/" + os.fsdecode(name)
        st = os.lstat(full)
        out[path] = st
        if stat.S_ISDIR(st.st_mode):
            stack.append((full, path, _listing(full)))
    return out


def _same_time(a: os.stat_result, b: os.stat_result) -> bool:
    # Docker's sameFsTime: equal seconds, and equal nanoseconds unless either side lacks them.
    sa, na = divmod(a.st_mtime_ns, 1_000_000_000)
    sb, nb = divmod(b.st_mtime_ns, 1_000_000_000)
    return sa == sb and (na == nb or na == 0 or nb == 0)


def compare_trees(lower: str | os.PathLike, upper: str | os.PathLike, layer_id: str) -> tuple[FileRows, int]:
    """A layer's changes from two full copies (vfs, btrfs), as Docker's naive diff finds them.

    Returns the rows (added/modified entries, ``whiteout`` rows for deletions) and the changes'
    size as ``docker ps -s`` reports it (regular file and symlink bytes, hard links once).
    """
    old = stat_tree(lower)
    new = stat_tree(upper)
    changed: set[str] = set()
    deleted: list[str] = []
    for path, st in new.items():
        o = old.get(path)
        if o is None:
            changed.add(path)
        elif (
            o.st_mode != st.st_mode
            or o.st_uid != st.st_uid
            or o.st_gid != st.st_gid
            or o.st_rdev != st.st_rdev
            or (not stat.S_ISDIR(st.st_mode) and (not _same_time(o, st) or o.st_size != st.st_size))
        ):
            changed.add(path)
    for path in old:
        parent = path.rsplit("/", 1)[0]
        if path not in new and (parent == "" or parent in new):
            deleted.append(path)
    # A changed entry's parent directories are part of the diff too (they carry its permissions).
    for path in list(changed) + deleted:
        parent = path.rsplit("/", 1)[0]
        while parent and parent not in changed:
            changed.add(parent)
            parent = parent.rsplit("/", 1)[0]
    rows = FileRows(layer_id)
    seen: dict[tuple[int, int], str] = {}
    size = 0
    gone = set(deleted)
    for path in sorted(list(changed) + deleted, key=lambda p: os.fsencode(p).split(b"/")):
        if path in gone:
            st = old[path]
            rows.add(path, "whiteout", 0, 0, st.st_uid, st.st_gid, None)
            continue
        st = new[path]
        kind = _KIND.get(stat.S_IFMT(st.st_mode), "file")
        link, fsize, disk = None, 0, st.st_blocks * 512
        if kind == "file":
            fsize = st.st_size
            if st.st_nlink > 1:
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    kind, fsize, link, disk = "hardlink", 0, seen[key], None
                else:
                    seen[key] = path
            size += fsize
        elif kind == "symlink":
            link = os.fsdecode(os.readlink(os.path.join(os.fsencode(upper), os.fsencode(path.lstrip("/")))))
            size += st.st_size
        rows.add(path, kind, fsize, st.st_mode & 0o7777, st.st_uid, st.st_gid, st.st_mtime_ns, link, disk)
    return rows, size
