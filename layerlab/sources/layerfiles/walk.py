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
import pyarrow as pa

from ...frames import schema
from .._reader import check_inside, open_noatime, scandir
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
if getattr(_fastwalk, "MTIME_UNIT", None) != "us":  # a stale build (nanoseconds) would give wrong times
    _fastwalk = None


def walk_layer(root: str | os.PathLike, layer_id: str, convention: str = "overlay", *, use_c: bool = True,
               frame: bool = True, checked: bool = False, walked: tuple | None = None) -> pd.DataFrame | WalkedLayer:
    """The files frame rows of the layer stored in directory ``root``.

    Written for speed (this is the inventory's hot loop): one ``fstatat`` per entry, in C when the
    extension is built (``use_c``) and with the GIL released, so layers are walked on several cores
    at once (``walk_layers``); the frame is then built column-wise with numpy and Arrow from the
    walker's packed buffers, with no Python object per entry.
    ``frame=False``: the layer's columns, to be framed with other layers' (:func:`frame_walked`).
    ``checked``: the caller has found no symbolic link on the way to ``root`` from the root it was
    confined to (a data root's layers: ``DataRoot._refuse_symlinks``), so it is not resolved again.
    ``walked``: the C walker's result for ``root`` in this convention, walked already (docker.early).
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown whiteout convention {convention!r}; known: {CONVENTIONS}")
    overlay = convention == "overlay"
    scan = _scan_c if use_c and _fastwalk is not None else _scan
    if not checked:
        check_inside(root)  # the walk never follows a link below it; none on the way to it may leave the root
    found = _Walked(*walked) if walked is not None else scan(os.fsencode(root), overlay, convention != "plain")
    columns = _files_columns(layer_id, found, overlay)
    return frame_walked([columns]) if frame else columns


class WalkedLayer:
    """A walked layer's columns of the files frame (the rows kept), not yet a frame: a pandas frame
    costs about a millisecond whatever its rows, so many small layers are framed together. A plain
    layer (see ``_is_plain``) keeps the walker's packed result instead (``found``, columns None):
    frame_walked makes the columns of a run of them at once, as one layer's (a tenth of a
    millisecond a layer less, 40 ms of a scan of 407 small layers)."""

    __slots__ = ("layer_id", "columns", "disk_bytes", "found", "overlay")

    def __init__(self, layer_id: str, columns: dict | None, disk_bytes: int, found: _Walked | None = None,
                 overlay: bool = True):
        self.layer_id, self.columns, self.disk_bytes = layer_id, columns, disk_bytes
        self.found, self.overlay = found, overlay

    def __len__(self) -> int:
        return len(self.found.stats) if self.columns is None else len(self.columns["size"])


def frame_walked(parts: list[WalkedLayer]) -> pd.DataFrame:
    """One files frame of walked layers, in order: the rows ``concat_files`` of a frame per layer
    gives (a layer without rows has no category either)."""
    parts = [p for p in parts if len(p)] or parts[:1]
    ids, counts = [p.layer_id for p in parts], [len(p) for p in parts]
    cols = {"layer_id": pd.Categorical.from_codes(np.repeat(np.arange(len(ids), dtype=np.int64), counts),
                                                  categories=ids)}
    total = sum(counts)
    chunks = _column_chunks(parts)  # (columns, rows) of each layer, or of each run of plain layers
    for name in chunks[0][0]:
        arrays = [c[name] for c, _ in chunks]
        if name in _MADE_ONCE and all(a is None for a in arrays):  # left for here: one array, not one a layer
            cols[name] = _MADE_ONCE[name](total)
            continue
        if name in _MADE_ONCE:
            arrays = [_MADE_ONCE[name](n) if a is None else a for (_, n), a in zip(chunks, arrays)]
        if len(arrays) == 1:
            cols[name] = arrays[0]
        elif isinstance(arrays[0], np.ndarray):
            cols[name] = np.concatenate(arrays)
        elif len({a.dtype for a in arrays}) == 1:
            cols[name] = type(arrays[0])._concat_same_type(arrays)
        else:
            cols[name] = pd.concat([pd.Series(a) for a in arrays], ignore_index=True)
    cols["mtime"] = schema.times_from_us(cols["mtime"])
    return pd.DataFrame({c: cols[c] for c in schema.columns("files")})


def _column_chunks(parts: list[WalkedLayer]) -> list[tuple[dict, int]]:
    """The columns of ``parts`` in order, as (columns, rows): a layer's own, or one set for each run
    of plain layers (their packed results joined and made columns at once)."""
    chunks, run = [], []

    def plain_run():
        joined = _plain_columns(run)
        if joined is None:  # a name that is not UTF-8: each layer's columns, which escape it
            chunks.extend((_files_columns(p.layer_id, p.found, p.overlay, plain=False).columns, len(p)) for p in run)
        else:
            chunks.append((joined, sum(len(p) for p in run)))
        run.clear()

    for p in parts:
        if p.columns is None:
            run.append(p)
            continue
        if run:
            plain_run()
        chunks.append((p.columns, len(p)))
    if run:
        plain_run()
    return chunks


def _is_plain(w: _Walked, overlay: bool) -> bool:
    """A walk whose columns are its stat fields, names and link targets as they are: no hard links,
    no ``.wh.`` names, no overlay whiteout devices, no backslash to escape (most layers)."""
    return not (len(w.inodes) or len(w.named) or (overlay and len(w.rdevs))
                or b"\\" in w.path_data or b"\\" in w.link_data)


def _plain_columns(parts: list[WalkedLayer]) -> dict | None:
    """The files columns of plain layers' walks (``_is_plain``) made at once, as ``_files_columns``
    makes one layer's; None when a name or link target is not UTF-8."""
    walks = [p.found for p in parts]
    rows = np.cumsum([0] + [len(w.stats) for w in walks])
    n = int(rows[-1])
    stats = np.concatenate([w.stats for w in walks]) if len(walks) > 1 else walks[0].stats
    code, size, mode, uid, gid, mtime, disk = _stat_columns(stats)
    opaque = [w.opaque + start for w, start in zip(walks, rows[:-1].tolist()) if len(w.opaque)]
    if opaque:
        code[np.concatenate(opaque)] = _CODE["opaque"]
    path_data, path_off = _joined(walks, "path_data", "path_off")
    link_data, link_off = _joined(walks, "link_data", "link_off")
    link_index = np.concatenate([w.link_index + start for w, start in zip(walks, rows[:-1].tolist())])
    valid = np.zeros(n, dtype=bool)
    valid[link_index] = True
    lengths = np.zeros(n, dtype=np.int64)
    lengths[link_index] = np.diff(link_off)
    try:
        paths = _strings(n, path_data, path_off, type=pa.string())
        links = _strings(n, link_data, np.concatenate([[0], np.cumsum(lengths)]), valid)
    except pa.ArrowInvalid:
        return None
    return {
        "path": pd.arrays.ArrowExtensionArray(paths),
        "path_raw": None,
        "kind": pd.Categorical.from_codes(code, dtype=_KIND_DTYPE),
        "size": size,
        "mode": mode,
        "uid": uid,
        "gid": gid,
        "mtime": mtime,
        "link_target": pd.arrays.ArrowStringArray(links),
        "disk_usage": pd.arrays.IntegerArray(disk, np.zeros(n, dtype=bool)),
        "sha256": None,
    }


def _joined(walks: list[_Walked], data: str, offsets: str) -> tuple[bytes, np.ndarray]:
    """The packed strings ``data`` of several walks as one (data, offsets)."""
    blobs = [getattr(w, data) for w in walks]
    starts = np.cumsum([0] + [len(b) for b in blobs])
    offs = [getattr(w, offsets)[:-1] + start for w, start in zip(walks, starts[:-1].tolist())]
    return b"".join(blobs), np.concatenate([*offs, starts[-1:]])


class _Walked:
    """One walk's packed columns (see _fastwalk.c): int64 numpy arrays and bytes."""

    __slots__ = ("stats", "path_data", "path_off", "link_index", "link_data", "link_off", "opaque", "named", "inodes",
                 "rdevs")

    def __init__(self, stats, path_data, path_off, link_index, link_data, link_off, opaque, named, inodes, rdevs):
        ints = lambda b, width=1: (np.frombuffer(b, dtype=np.int64).reshape(-1, width) if width > 1  # noqa: E731
                                   else np.frombuffer(b, dtype=np.int64))
        self.stats = ints(stats, len(_COLUMNS))
        self.path_data, self.path_off = path_data, ints(path_off)
        self.link_index, self.link_data, self.link_off = ints(link_index), link_data, ints(link_off)
        self.opaque, self.named = ints(opaque), ints(named)
        self.inodes, self.rdevs = ints(inodes, 3), ints(rdevs, 2)

    def path(self, i: int) -> bytes:
        return self.path_data[self.path_off[i]:self.path_off[i + 1]]


def _scan_c(root_b: bytes, overlay: bool, markers: bool) -> _Walked:
    return _Walked(*_fastwalk.walk(root_b, overlay, markers))


_COLUMNS = ("mode", "size", "uid", "gid", "mtime", "blocks")  # mtime in microseconds, floored


def _pack(items: list[bytes]) -> tuple[bytes, bytes]:
    """Byte strings as (data, int64 offsets), as the C walker packs them."""
    lengths = np.fromiter((len(b) for b in items), dtype=np.int64, count=len(items))
    return b"".join(items), np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64).tobytes()


def _scan(root_b: bytes, overlay: bool, markers: bool) -> _Walked:
    """Walk the tree at ``root_b`` in Python: the C walker's result, in the same order.

    Stat fields go straight into int64 arrays: keeping the stat objects would cost ~800 bytes an entry.
    """
    readlink = os.readlink
    paths: list[bytes] = []
    stats = array("q")  # _COLUMNS of every entry, one after the other
    add_stat = stats.extend
    link_index, links = array("q"), []
    inodes = array("q")  # regular files with several links: index, dev, ino
    rdevs = array("q")  # character devices: index, rdev
    opaque, named = array("q"), array("q")  # named: entries named .wh.*
    dirs = [(root_b, b"", -1)]
    while dirs:
        dir_b, prefix, index = dirs.pop()
        # Listing through a directory fd makes every stat an fstatat() relative to it, as find's
        # fts does, instead of resolving the whole path again for each entry.
        fd = _open_dir(dir_b)
        prefix += b"/"
        if overlay and index >= 0 and _is_opaque(fd):
            opaque.append(index)
        try:
            with os.scandir(fd) as it:
                for entry in it:
                    st = entry.stat(follow_symlinks=False)
                    name = os.fsencode(entry.name)
                    i = len(paths)
                    paths.append(prefix + name)
                    m = st.st_mode
                    add_stat((m, st.st_size, st.st_uid, st.st_gid, st.st_mtime_ns // 1000, st.st_blocks))
                    fmt = m >> 12
                    if fmt == 8:
                        if st.st_nlink > 1:
                            inodes.extend((i, st.st_dev, st.st_ino))
                    elif fmt == 4:
                        dirs.append((dir_b + b"/" + name, paths[i], i))
                    elif fmt == 10:
                        link_index.append(i)
                        links.append(readlink(name, dir_fd=fd))
                    elif fmt == 2:
                        rdevs.extend((i, st.st_rdev))
                    if markers and name.startswith(b".wh."):
                        named.append(i)
        finally:
            os.close(fd)
    path_data, path_off = _pack(paths)
    link_data, link_off = _pack(links)
    return _Walked(stats.tobytes(), path_data, path_off, link_index.tobytes(), link_data, link_off, opaque.tobytes(),
                   named.tobytes(), inodes.tobytes(), rdevs.tobytes())


def _open_dir(path_b: bytes) -> int:
    return open_noatime(path_b, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)


#: kind's category code of each file type (st_mode >> 12)
_FMT_CODE = np.zeros(16, dtype=np.int8)
for _fmt, _kind in _KIND.items():
    _FMT_CODE[_fmt >> 12] = schema.FILE_KINDS.index(_kind)
_CODE = {k: np.int8(i) for i, k in enumerate(schema.FILE_KINDS)}
_NAT = np.iinfo(np.int64).min


def _stat_columns(stats: np.ndarray) -> tuple:
    """What a walk's stat fields give as they are: the kind codes by file type, size (a regular file's;
    0 otherwise), mode (permission bits), uid, gid, mtime (microseconds) and disk bytes; each array its own."""
    fmt = stats[:, 0] >> 12
    return (_FMT_CODE[fmt], np.where(fmt == 8, stats[:, 1], 0), (stats[:, 0] & 0o7777).astype(np.uint16),
            stats[:, 2].astype(np.uint32), stats[:, 3].astype(np.uint32), stats[:, 4].copy(), stats[:, 5] * 512)


def _files_columns(layer_id: str, w: _Walked, overlay: bool, plain: bool = True) -> WalkedLayer:
    """A walk's files columns; a plain walk's are left to frame_walked (``plain``: allowed)."""
    if plain and _is_plain(w, overlay):
        return WalkedLayer(layer_id, None, int(w.stats[:, 5].sum()) * 512, w, overlay)
    n = len(w.stats)
    code, size, mode, uid, gid, mtime, disk = _stat_columns(w.stats)
    no_disk = np.zeros(n, dtype=bool)
    keep = np.ones(n, dtype=bool)
    whiteout = np.zeros(n, dtype=bool)
    if overlay and len(w.rdevs):
        whiteout[w.rdevs[:, 0][w.rdevs[:, 1] == 0]] = True  # overlay whiteout: char device 0/0
    hard: dict[int, bytes] = {}  # index -> the path a hard link points to
    # Hard links: the first path in walk order (Docker's tar order) is the file, the rest link to it.
    if len(w.inodes):
        order = np.lexsort((w.inodes[:, 2], w.inodes[:, 1]))
        keys = w.inodes[order, 1:]
        starts = np.flatnonzero(np.r_[True, (keys[1:] != keys[:-1]).any(axis=1)])
        for members in np.split(w.inodes[order, 0], starts[1:]):
            if len(members) < 2:
                continue
            members = sorted(members.tolist(), key=lambda i: w.path(i).split(b"/"))
            for i in members[1:]:
                hard[i] = w.path(members[0])
        if hard:
            idx = np.fromiter(hard, dtype=np.int64, count=len(hard))
            code[idx], size[idx], no_disk[idx] = _CODE["hardlink"], 0, True
    renamed: dict[int, str] = {}
    opaque = w.opaque.tolist()
    if len(w.named):
        index = None
        for i in w.named.tolist():
            what, path = whiteout_name(os.fsdecode(w.path(i)), fuse_marker=overlay)
            keep[i] = what == "whiteout"
            if what == "opaque":
                if index is None:
                    index = {w.path(j): j for j in range(n)}
                j = index.get(os.fsencode(path))
                if j is not None:
                    opaque.append(j)
            elif what == "whiteout":
                renamed[i] = path
                whiteout[i] = True
    if opaque:
        code[opaque] = _CODE["opaque"]
    if whiteout.any():
        code[whiteout] = _CODE["whiteout"]
        mode[whiteout] = size[whiteout] = 0
        mtime[whiteout] = _NAT
        no_disk |= whiteout
    paths, raw = _path_column(w, renamed)
    link = _link_column(w, n, hard, whiteout)
    columns = {
        "path": paths,
        "path_raw": raw,
        "kind": pd.Categorical.from_codes(code, dtype=_KIND_DTYPE),
        "size": size,
        "mode": mode,
        "uid": uid,
        "gid": gid,
        "mtime": mtime,  # microseconds: made times once the layers are together
        "link_target": link,
        "disk_usage": pd.arrays.IntegerArray(disk, no_disk),
        "sha256": None,  # all null: made by frame_walked (_MADE_ONCE)
    }
    if not keep.all():
        columns = {name: None if column is None else column[keep] for name, column in columns.items()}
    return WalkedLayer(layer_id, columns, int(disk[keep & ~no_disk].sum()))


_KIND_DTYPE = pd.CategoricalDtype(list(schema.FILE_KINDS))


def _strings(n: int, data: bytes, offsets: np.ndarray, valid: np.ndarray | None = None,
             type=pa.large_string()) -> pa.Array:
    """An Arrow string array over packed UTF-8 (``offsets``: n + 1 int64), without a copy of the data
    (large_string, which pandas' Arrow strings use anyway; ``pa.string()`` for paths, whose offsets
    are then made int32); ArrowInvalid if a value is not valid UTF-8."""
    bitmap = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
    if pa.types.is_string(type):
        if offsets[-1] >= 1 << 31:  # over 2 GiB of text: not in 32-bit offsets
            raise pa.ArrowInvalid("too much text for 32-bit offsets")
        offsets = offsets.astype(np.int32)
    arr = pa.Array.from_buffers(type, n, [bitmap, pa.py_buffer(offsets), pa.py_buffer(data)],
                                null_count=-1 if valid is not None else 0)
    arr.validate(full=True)  # UTF-8, checked at C speed
    return arr


def _path_column(w: _Walked, renamed: dict[int, str]):
    """The path and path_raw columns: packed bytes straight into Arrow when all are UTF-8, none
    renamed and no backslash needs escaping (the usual case), else through Python strings."""
    n = len(w.path_off) - 1
    if not renamed and b"\\" not in w.path_data:
        try:
            return pd.arrays.ArrowExtensionArray(_strings(n, w.path_data, w.path_off, type=pa.string())), None
        except pa.ArrowInvalid:
            pass
    paths = [os.fsdecode(w.path(i)) for i in range(n)]
    for i, p in renamed.items():
        paths[i] = p
    paths, raw = exact_paths(paths)
    raw_col = pd.array(raw, dtype=pd.ArrowDtype(pa.binary())) if raw is not None else None
    return schema.path_strings(paths), raw_col


def _no_raw(n: int):
    return pd.arrays.ArrowExtensionArray(pa.nulls(n, pa.binary()))


#: Columns a walked layer may leave as None (all null), made by frame_walked for all the layers at
#: once: two pandas arrays a layer cost as much as the rest of a small layer's columns.
_MADE_ONCE = {
    "path_raw": _no_raw,
    "sha256": lambda n: pd.arrays.ArrowStringArray(pa.nulls(n, pa.large_string())),
}


def _link_column(w: _Walked, n: int, hard: dict[int, bytes], whiteout: np.ndarray):
    """link_target: symlink targets (packed by the walker) and hard links' first paths."""
    lengths = np.zeros(n, dtype=np.int64)
    valid = np.zeros(n, dtype=bool)
    data = w.link_data
    if hard:  # merge the hard links' targets into the symlinks' packed ones (few rows)
        items = {int(i): w.link_data[w.link_off[k]:w.link_off[k + 1]] for k, i in enumerate(w.link_index)}
        items.update(hard)
        order = sorted(items)
        data = b"".join(items[i] for i in order)
        idx = np.array(order, dtype=np.int64)
        lengths[idx] = [len(items[i]) for i in order]
    else:
        idx = w.link_index
        lengths[idx] = np.diff(w.link_off)
    valid[idx] = True
    valid &= ~whiteout
    if whiteout[idx].any():  # a whiteout keeps no target: drop its bytes
        return arrow_strings([os.fsdecode(data[o:o + ln]) if v else None for o, ln, v in
                              zip(np.concatenate([[0], np.cumsum(lengths)])[:-1], lengths, valid)])
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    try:
        if b"\\" in data:  # escaped by exact_paths below, as paths are
            raise pa.ArrowInvalid("a backslash to escape")
        return pd.arrays.ArrowStringArray(_strings(n, data, offsets, valid))
    except pa.ArrowInvalid:  # a target that is not UTF-8: \xNN escapes, as for paths
        targets = [os.fsdecode(data[offsets[i]:offsets[i + 1]]) for i in range(n) if valid[i]]
        targets, _ = exact_paths(targets)
        out = np.full(n, None, dtype=object)
        out[valid] = targets
        return arrow_strings(list(out))


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


def disk_usage(root: str | os.PathLike, check: bool = True) -> int:
    """Allocated bytes under ``root`` (each inode once, directories included). ``check=False``: a
    folder the caller found to be no symbolic link, below one already checked (as ``scandir``)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    if check:
        check_inside(root)
    stack = [os.fsencode(root)]
    while stack:
        d = stack.pop()
        with scandir(d, check=False) as it:  # subfolders are never symbolic links (lstat)
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
    check_inside(root)
    stack = [(os.fsencode(root), "")]
    while stack:
        dir_b, prefix = stack.pop()
        with scandir(dir_b, check=False) as it:  # subfolders are never symbolic links (lstat)
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
