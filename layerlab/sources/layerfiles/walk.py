"""A layer's files from walking its directory, in each driver's whiteout convention.

Of a hard-linked inode, the first path in the order Docker's tar writer visits them (depth first,
names sorted bytewise within each directory) is the ``file`` row and later ones are ``hardlink``
rows pointing at it, exactly as in the layer's tar.
"""

from __future__ import annotations

import os
import stat
from array import array

import numpy as np
import pandas as pd

from ...frames import schema
from .._reader import open_noatime, scandir
from .rows import FileRows, arrow_strings, exact_paths, whiteout_name

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


try:  # the C walker (layerlab/sources/layerfiles/_fastwalk.c), built when the package is installed
    from . import _fastwalk
except ImportError:  # no compiler at install time: the Python walk below gives the same rows
    _fastwalk = None


def walk_layer(root: str | os.PathLike, layer_id: str, convention: str = "overlay", *, use_c: bool = True) -> pd.DataFrame:
    """The files frame rows of the layer stored in directory ``root``.

    Written for speed (this is the inventory's hot loop): one ``fstatat`` per entry, in C when
    the extension is built (``use_c``), everything else computed column-wise afterwards with numpy.
    (Walking subtrees in worker processes was measured too: no faster on 2 cores, more memory.)
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown whiteout convention {convention!r}; known: {CONVENTIONS}")
    overlay = convention == "overlay"
    scan = _scan_c if use_c and _fastwalk is not None else _scan
    return _files_frame(layer_id, scan(os.fsencode(root), overlay, convention != "plain"), overlay)


def _scan_c(root_b: bytes, overlay: bool, markers: bool) -> tuple:
    """``_scan`` done by the C walker: the same tuple."""
    stats, paths, links, opaque, named, inodes, rdevs = _fastwalk.walk(root_b, overlay, markers)
    return paths, _columns(stats), links, opaque, named, inodes, rdevs


_COLUMNS = ("mode", "size", "uid", "gid", "mtime", "blocks")


def _columns(stats) -> dict[str, np.ndarray]:
    """The int64 stat fields of every entry, one after the other (``_COLUMNS``), as columns."""
    table = np.frombuffer(stats, dtype=np.int64).reshape(-1, len(_COLUMNS)) if len(stats) else np.zeros((0, len(_COLUMNS)), np.int64)
    return {c: table[:, j] for j, c in enumerate(_COLUMNS)}


def _scan(root_b: bytes, overlay: bool, markers: bool) -> tuple:
    """Walk the tree at ``root_b``. Returns (paths, {column: int64 array}, links, opaque, named,
    inodes, rdevs).

    Stat fields go straight into int64 arrays: keeping the stat objects would cost ~800 bytes an entry.
    """
    readlink, fsencode = os.readlink, os.fsencode
    paths: list[str] = []
    stats = array("q")  # _COLUMNS of every entry, one after the other
    add_stat = stats.extend
    links: dict[int, str] = {}
    inodes: dict[int, tuple[int, int]] = {}  # regular files with several links: (dev, ino)
    rdevs: dict[int, int] = {}  # character devices
    opaque: list[int] = []
    named: list[int] = []  # entries named .wh.*
    dirs = [(root_b, "", None)]
    while dirs:
        dir_b, prefix, index = dirs.pop()
        # Listing through a directory fd makes every stat an fstatat() relative to it, as find's
        # fts does, instead of resolving the whole path again for each entry.
        fd = _open_dir(dir_b)
        prefix += "/"
        if overlay and index is not None and _is_opaque(fd):
            opaque.append(index)
        try:
            with os.scandir(fd) as it:
                for entry in it:
                    st = entry.stat(follow_symlinks=False)
                    name = entry.name  # str, decoded with surrogateescape
                    i = len(paths)
                    paths.append(prefix + name)
                    m = st.st_mode
                    add_stat((m, st.st_size, st.st_uid, st.st_gid, st.st_mtime_ns, st.st_blocks))
                    fmt = m >> 12
                    if fmt == 8:
                        if st.st_nlink > 1:
                            inodes[i] = (st.st_dev, st.st_ino)
                    elif fmt == 4:
                        dirs.append((dir_b + b"/" + fsencode(name), paths[i], i))
                    elif fmt == 10:
                        links[i] = readlink(name, dir_fd=fd)
                    elif fmt == 2:
                        rdevs[i] = st.st_rdev
                    if markers and name.startswith(".wh."):
                        named.append(i)
        finally:
            os.close(fd)
    return paths, _columns(stats), links, opaque, named, inodes, rdevs


def _open_dir(path_b: bytes) -> int:
    return open_noatime(path_b, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)


_FMT_KIND = np.array(["file"] * 16, dtype=object)
for _fmt, _kind in _KIND.items():
    _FMT_KIND[_fmt >> 12] = _kind
_NAT = np.iinfo(np.int64).min


def _files_frame(layer_id: str, chunk: tuple, overlay: bool) -> pd.DataFrame:
    paths, cols, links, opaque, named, inodes, rdevs = chunk
    n = len(paths)
    st_mode = cols["mode"]
    fmt = st_mode >> 12
    kind = _FMT_KIND[fmt]
    size = np.where(fmt == 8, cols["size"], 0)
    mode = st_mode & 0o7777
    uid, gid, mtime = cols["uid"], cols["gid"], cols["mtime"].copy()
    disk = cols["blocks"] * 512
    no_disk = np.zeros(n, dtype=bool)
    link = np.full(n, None, dtype=object)
    for i, target in links.items():
        link[i] = target
    keep = np.ones(n, dtype=bool)
    whiteout = np.zeros(n, dtype=bool)
    if overlay:
        for i, rdev in rdevs.items():
            whiteout[i] = rdev == 0  # overlay whiteout: char device 0/0
    # Hard links: the first path in walk order (Docker's tar order) is the file, the rest link to it.
    if inodes:
        groups: dict[tuple[int, int], list[int]] = {}
        for i, key in inodes.items():
            groups.setdefault(key, []).append(i)
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
            what, path = whiteout_name(paths[i], fuse_marker=overlay)
            keep[i] = what == "whiteout"
            if what == "opaque":
                j = index.get(path)
                if j is not None:
                    opaque.append(j)
            elif what == "whiteout":
                paths[i] = path
                whiteout[i] = True
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
            "path": arrow_strings(paths),
            "path_raw": pd.Series(raw if raw is not None else [None] * n, dtype=object),
            "kind": arrow_strings(kind),
            "size": size,
            "mode": mode,
            "uid": uid,
            "gid": gid,
            "mtime": pd.to_datetime(mtime, unit="ns", utc=True) if n else pd.Series([], dtype=schema.TIME),
            "link_target": arrow_strings(link),
            "disk_usage": pd.arrays.IntegerArray(disk, no_disk),
            "sha256": pd.Series(pd.NA, index=range(n), dtype=schema.STRING),
        }
    )
    return df if keep.all() else df[keep].reset_index(drop=True)


def _is_opaque(fd: int) -> bool:
    """Whether the open directory ``fd`` carries overlay's opaque xattr: one listxattr (most
    directories have none) rather than a getxattr per attribute name."""
    try:
        names = os.listxattr(fd)
    except OSError:
        return False
    for attr in OVERLAY_OPAQUE_XATTRS:
        if attr.decode() in names:
            try:
                if os.getxattr(fd, attr) == b"y":
                    return True
            except OSError:
                pass
    return False


def disk_usage(root: str | os.PathLike) -> int:
    """Allocated bytes under ``root`` (each inode once, directories included)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    stack = [os.fsencode(root)]
    while stack:
        d = stack.pop()
        with scandir(d) as it:
            for e in it:
                st = e.stat(follow_symlinks=False)
                if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
                    key = (st.st_dev, st.st_ino)
                    if key in seen:
                        continue
                    seen.add(key)
                total += st.st_blocks * 512
                if stat.S_ISDIR(st.st_mode):
                    stack.append(os.path.join(d, os.fsencode(e.name)))
    return total


def stat_tree(root: str | os.PathLike) -> dict[str, os.stat_result]:
    """lstat of every entry under ``root`` (root itself excluded), by absolute path."""
    out: dict[str, os.stat_result] = {}
    stack = [(os.fsencode(root), "")]
    while stack:
        dir_b, prefix = stack.pop()
        with scandir(dir_b) as it:
            for e in it:
                st = e.stat(follow_symlinks=False)
                path = prefix + "/" + os.fsdecode(e.name)
                out[path] = st
                if stat.S_ISDIR(st.st_mode):
                    stack.append((os.path.join(dir_b, os.fsencode(e.name)), path))
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
