"""A layer's files from walking its directory, in each driver's whiteout convention.

The walk visits entries in the order Docker's tar writer does (depth first, names sorted bytewise
within each directory), so the first path of a hard-linked inode is the ``file`` row and later ones
are ``hardlink`` rows pointing at it, exactly as in the layer's tar.
"""

from __future__ import annotations

import os
import stat

from .entries import FileRows

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


def walk_layer(root: str | os.PathLike, layer_id: str, convention: str = "overlay") -> FileRows:
    """Rows of the files frame for the layer stored in directory ``root``."""
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown whiteout convention {convention!r}; known: {CONVENTIONS}")
    rows = FileRows(layer_id)
    add = rows.add if convention == "plain" else rows.add_named
    overlay = convention == "overlay"
    seen_inodes: dict[tuple[int, int], str] = {}
    root_b = os.fsencode(root)
    # Depth-first with an explicit stack of sorted directory listings (pre-order, like filepath.Walk).
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
        fmt = stat.S_IFMT(st.st_mode)
        kind = _KIND.get(fmt, "file")
        mode = st.st_mode & 0o7777
        if kind == "dir":
            if overlay and _is_opaque(full):
                rows.mark_opaque(path)
            add(path, "dir", 0, mode, st.st_uid, st.st_gid, st.st_mtime_ns, None, st.st_blocks * 512)
            stack.append((full, path, _listing(full)))
            continue
        if kind == "char" and overlay and st.st_rdev == 0:
            rows.add(path, "whiteout", 0, 0, st.st_uid, st.st_gid, None)
            continue
        link = None
        size = 0
        disk = st.st_blocks * 512
        if kind == "file":
            size = st.st_size
            if st.st_nlink > 1:
                key = (st.st_dev, st.st_ino)
                first = seen_inodes.get(key)
                if first is None:
                    seen_inodes[key] = path
                else:
                    kind, size, link, disk = "hardlink", 0, first, None
        elif kind == "symlink":
            link = os.fsdecode(os.readlink(full))
        add(path, kind, size, mode, st.st_uid, st.st_gid, st.st_mtime_ns, link, disk)
    return rows


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
