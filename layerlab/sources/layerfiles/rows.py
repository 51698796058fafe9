"""Rows of the files frame, collected column by column, and the one whiteout translation.

Every reader (a layer directory walk, a tar-split file, a tar archive) appends entries here; the
whiteout conventions (``.wh.<name>`` files, ``.wh..wh..opq`` markers) are translated in one place.
numpy, pandas and pyarrow are imported where the frame is built, not with the module: a layer can
then be read while they are still being imported (``imageset`` starts the reads first).
"""

from __future__ import annotations

import posixpath
import re
from array import array
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where a frame is built, not with the module
    import pandas as pd

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
# aufs bookkeeping entries in a branch root; not part of the image's filesystem.
AUFS_META = (".wh..wh.plnk", ".wh..wh.aufs", ".wh..wh.orph")
#: A layer of fewer rows is framed together with the other small ones once all are read (a frame has a
#: fixed cost, about a millisecond); a larger one is framed as soon as it is read.
FRAME_ALONE = 10_000
#: FileRows.mtime_us's value for "no time" (int64's minimum, NaT's; never a real time).
NO_TIME = -(1 << 63)


def _clamp_us(us: int) -> int:
    """``us`` where an int64 holds it, else NO_TIME (the frame keeps the years 1 to 9999; past them NaT)."""
    return us if NO_TIME < us < (1 << 63) else NO_TIME


def whiteout_name(path: str, fuse_marker: bool = False) -> tuple[str, str] | None:
    """What an entry named ``.wh.*`` at absolute ``path`` means: ``("opaque", directory)``,
    ``("whiteout", deleted path)``, or ``("skip", path)`` for aufs bookkeeping; None for any other
    name. ``fuse_marker``: fuse-overlayfs also marks an opaque directory with its own ``.wh..opq``."""
    base = posixpath.basename(path)
    if not base.startswith(WHITEOUT_PREFIX):
        return None
    parent = posixpath.dirname(path)
    if base == OPAQUE_MARKER or (fuse_marker and base == ".wh..opq"):
        return ("opaque", parent)
    if base in AUFS_META and parent == "/":
        return ("skip", path)  # aufs keeps its pseudo-link and whiteout-base dirs in the branch root
    if base == WHITEOUT_PREFIX:
        raise ValueError(f"invalid bare whiteout {path!r}")
    return ("whiteout", posixpath.join(parent, base[len(WHITEOUT_PREFIX):]))


class FileRows:
    """Column-wise accumulator for one layer's rows of the files frame."""

    __slots__ = ("layer_id", "path", "kind", "size", "mode", "uid", "gid", "mtime_us", "link", "blocks", "_opaque",
                 "_sha256", "refused")

    def __init__(self, layer_id: str):
        self.layer_id = layer_id
        self.path: list[str] = []
        self.kind: list[str] = []
        # Numbers packed (8 bytes a row, not a Python int each): most of a big layer's memory otherwise.
        self.size = array("q")
        self.mode = array("q")
        self.uid = array("q")
        self.gid = array("q")
        # Microseconds (the contract's unit), floored: int64 nanoseconds end in 1677 and 2262, a
        # reproducible build's tar may say year 1. NO_TIME for none (a whiteout).
        self.mtime_us = array("q")
        self.link: list[str | None] = []
        self.blocks: list[int | None] = []
        self._opaque: list[str] = []
        self._sha256: dict[int, str] = {}  # row -> hex digest, for files hashed as their tar streamed
        self.refused: list[tuple[str, str]] = []  # (name, reason) of entries left out (a name climbing out)

    def set_sha256(self, row: int, digest: str) -> None:
        """Record the SHA-256 (hex) of row ``row``'s contents."""
        self._sha256[row] = digest

    def add(self, path, kind, size, mode, uid, gid, mtime_ns, link=None, disk=None):
        self.path.append(path)
        self.kind.append(kind)
        self.size.append(size)
        self.mode.append(mode)
        self.uid.append(uid)
        self.gid.append(gid)
        self.mtime_us.append(NO_TIME if mtime_ns is None else _clamp_us(mtime_ns // 1000))
        self.link.append(link)
        self.blocks.append(disk)

    def add_named(self, path, kind, size, mode, uid, gid, mtime_ns, link=None, disk=None) -> None:
        """Add an entry as it is named in a tar or an aufs branch: ``.wh.`` names become whiteouts."""
        if "/.wh." not in path:  # the usual case, without the name taken apart
            self.add(path, kind, size, mode, uid, gid, mtime_ns, link, disk)
            return
        meaning = whiteout_name(path)
        if meaning is None:
            self.add(path, kind, size, mode, uid, gid, mtime_ns, link, disk)
        elif meaning[0] == "opaque":
            self._opaque.append(meaning[1])
        elif meaning[0] == "whiteout":
            self.add(meaning[1], "whiteout", 0, 0, uid, gid, None)

    def extend(self, paths, kinds, sizes, modes, uids, gids, mtimes_us, links) -> None:
        """Add many entries named as in a tar (columns of equal length; numbers as ``array("q")``,
        mtimes in microseconds), in order; ``.wh.`` names become whiteouts as in :meth:`add_named`."""
        # whiteout names looked for in all the names at once first (at C speed; NUL is in no name)
        named = [i for i, p in enumerate(paths) if "/.wh." in p] if "/.wh." in "\0".join(paths) else []
        if not named and not self.path:  # the usual case: a layer read in one go, taken as it is
            self.path, self.kind, self.size, self.mode, self.uid, self.gid = paths, kinds, sizes, modes, uids, gids
            self.mtime_us, self.link, self.blocks = mtimes_us, links, [None] * len(paths)
            return
        start = 0
        for stop in named + [len(paths)]:
            if stop > start:
                n = stop - start
                self.path += paths[start:stop]
                self.kind += kinds[start:stop]
                self.size += sizes[start:stop]
                self.mode += modes[start:stop]
                self.uid += uids[start:stop]
                self.gid += gids[start:stop]
                self.mtime_us += mtimes_us[start:stop]
                self.link += links[start:stop]
                self.blocks += [None] * n
            if stop < len(paths):
                self.add_named(paths[stop], kinds[stop], sizes[stop], modes[stop], uids[stop], gids[stop],
                               mtimes_us[stop] * 1000, links[stop])  # add_named takes nanoseconds
            start = stop + 1

    def __len__(self) -> int:
        return len(self.path)

    def _apply_opaque(self) -> None:
        """Turn the opaque markers met into their directories' kind (or rows of their own)."""
        if self._opaque:
            index = {p: i for i, p in enumerate(self.path)}
            for d in self._opaque:
                i = index.get(d)
                if i is None:  # a marker without its directory entry: keep the fact
                    self.add(d, "opaque", 0, 0, 0, 0, None)
                else:
                    self.kind[i] = "opaque"
            self._opaque = []

    def frame(self, release: bool = False, *, layers: tuple[list[str], list[int]] | None = None) -> pd.DataFrame:
        """The rows as a files frame (contract dtypes), opaque markers applied. ``release``: empty each
        list as soon as its column is built (lower peak memory; the rows cannot be framed again).
        ``layers``: the rows are several layers' (IDs and row counts, in order; see :func:`frame_layers`)."""
        import numpy as np
        import pandas as pd
        import pyarrow as pa

        from ...frames import schema

        self._apply_opaque()
        kinds = self.kind
        n = len(self.path)
        # Each list is emptied as soon as its column exists (with release), and the columns that need no
        # list come last, so the rows and the frame are not both whole in memory at once.
        cols = {}
        cols["path"], raw = path_column(self.path)
        if release:
            self.path = []
        cols["kind"] = kind_column(kinds)
        del kinds
        if release:
            self.kind = []
        for name in ("size", "mode", "uid", "gid"):
            values = np.frombuffer(getattr(self, name), dtype=np.int64) if n else np.zeros(0, np.int64)
            if name in ("uid", "gid"):  # uint32 here; the contract's categorical once the layers are together
                cols[name] = schema.narrow(values, schema.UINT32, f"a layer's {name}")
            else:
                dtype = schema.column("files", name).dtype
                cols[name] = values.copy() if dtype == schema.INT else schema.narrow(values, dtype, f"a layer's {name}")
            if release:
                setattr(self, name, array("q"))
        us = np.frombuffer(self.mtime_us, dtype=np.int64).copy() if n else np.zeros(0, np.int64)
        if release:
            self.mtime_us = array("q")
        cols["mtime"] = schema.times_from_us(us)  # NO_TIME is NaT
        del us
        cols["link_target"] = link_column(self.link)
        if release:
            self.link = []
        if self.blocks.count(None) == n:  # no sizes on disk (a tar): all null, without a look at each row
            cols["disk_usage"] = pd.arrays.IntegerArray(np.zeros(n, np.int64), np.ones(n, bool))
        else:
            cols["disk_usage"] = pd.array(self.blocks, dtype="Int64")
        if release:
            self.blocks = []
        if layers is None:
            cols["layer_id"] = layer_column(self.layer_id, n)
        else:
            ids, counts = layers
            cols["layer_id"] = pd.Categorical.from_codes(np.repeat(np.arange(len(ids)), counts), categories=ids)
        cols["path_raw"] = raw_column(raw, n)
        if self._sha256:
            digests = [None] * n
            for i, d in self._sha256.items():
                digests[i] = d
            cols["sha256"] = arrow_strings(digests)
        else:
            cols["sha256"] = pd.arrays.ArrowStringArray(pa.nulls(n, pa.large_string()))
        return pd.DataFrame({c: cols[c] for c in schema.columns("files")})


def frame_layers(parts: list[FileRows]) -> pd.DataFrame:
    """One files frame of several layers' rows, in order, as :func:`concat_files` of their frames would
    be, but built at once: a frame per layer costs pandas a millisecond or more however few its rows,
    which made an image of many small layers slow to read (400 layers of a few files took 3x the time
    of the same files in one layer). The parts are emptied as they are taken."""
    merged = FileRows("")
    ids, counts = [], []
    for part in parts:
        part._apply_opaque()
        n = len(part)
        if not n:  # concat_files drops empty frames: no category for the layer either
            continue
        start = len(merged)
        ids.append(part.layer_id)
        counts.append(n)
        for name in FileRows.__slots__:  # the columns: lists and packed numbers
            column = getattr(part, name)
            if isinstance(column, (list, array)) and name != "_opaque":
                getattr(merged, name).extend(column)
        merged._sha256.update({start + row: digest for row, digest in part._sha256.items()})
        part.__init__(part.layer_id)  # its lists go now, not when the caller drops it
    return merged.frame(release=True, layers=(ids, counts))


def kind_dtype():
    """The kind column's categorical dtype (the contract's file kinds)."""
    import pandas as pd

    from ...frames import schema

    return pd.CategoricalDtype(list(schema.FILE_KINDS))


def path_column(paths: list[str]):
    """The path column and the exact bytes where a name needed escaping (:func:`exact_paths`; None when
    none did). ``paths`` may be changed in place. Done on the Arrow array: building it fails on a name
    that is not valid UTF-8 (then every name is looked at, by :func:`exact_paths`); otherwise only the
    names holding a backslash, found in the array's bytes, can need escaping, and only they are looked at (a
    layer of /usr has systemd's ``\\x2d`` names, which sent all 142,000 names through the loop)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from ...frames import schema

    try:
        arr = pa.array(paths, type=pa.string(), memory_pool=pa.system_memory_pool())
    except UnicodeEncodeError:  # a surrogate-escaped byte: every name is looked at
        escaped, raw = exact_paths(paths)
        return schema.path_strings(escaped), raw
    # the rows whose bytes hold a backslash, from the array's data and offsets buffers (no copy)
    if isinstance(arr, pa.ChunkedArray):  # over 2 GiB of names: Arrow split them into chunks
        escaped, raw = exact_paths(paths)
        return schema.path_strings(escaped), raw
    data = arr.buffers()[2]
    hits = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\\")) if data is not None and data.size else []
    raw = None
    if len(hits):
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[:len(arr) + 1]
        for i in np.unique(np.searchsorted(offsets, hits, side="right") - 1).tolist():
            escaped = escape_name(paths[i])
            if escaped != paths[i]:
                if raw is None:
                    raw = [None] * len(paths)
                raw[i] = paths[i].encode("utf-8")
                paths[i] = escaped
    if raw is None:
        return pd.arrays.ArrowExtensionArray(arr), None
    del arr
    return schema.path_strings(paths), raw


def kind_column(kinds: list[str]):
    """The kind column from the kinds' names: their codes looked up at C speed (``map`` over a dict)
    rather than hashed by ``pd.Categorical`` (which was a fifth of the time of framing a big layer)."""
    import numpy as np
    import pandas as pd

    dtype = kind_dtype()
    code = {k: i for i, k in enumerate(dtype.categories)}
    try:
        codes = np.fromiter(map(code.__getitem__, kinds), dtype=np.int8, count=len(kinds))
    except KeyError:  # a kind outside the contract: pd.Categorical makes it null, as before
        return pd.Categorical(kinds, dtype=dtype)
    return pd.Categorical.from_codes(codes, dtype=dtype)


def link_column(links: list[str | None]):
    """The link_target column from link targets (None where an entry is no link), escaped as paths
    are (:func:`exact_paths`); the targets are looked at one by one only when one needs escaping."""
    joined = "".join(filter(None, links))
    if "\\" not in joined:
        try:  # the usual case, checked at C speed: every target is valid UTF-8, none needs escaping
            joined.encode("utf-8")
            return arrow_strings(links)
        except UnicodeEncodeError:
            pass
    del joined
    escaped, _ = exact_paths([x if x is not None else "" for x in links])
    return arrow_strings([t if o is not None else None for t, o in zip(escaped, links)])


def layer_column(layer_id: str, n: int) -> pd.Categorical:
    """The layer_id column of one layer's ``n`` rows: one category, a byte a row."""
    import numpy as np
    import pandas as pd

    return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[layer_id])


def raw_column(raw: list[bytes | None] | None, n: int):
    """The path_raw column: ``raw`` (exact bytes or None), or all null when ``raw`` is None."""
    import pandas as pd
    import pyarrow as pa

    if raw is None:
        return pd.arrays.ArrowExtensionArray(pa.nulls(n, pa.binary()))
    return pd.array(raw, dtype=pd.ArrowDtype(pa.binary()))


def arrow_strings(values) -> pd.api.extensions.ExtensionArray:
    """A "string" (Arrow) array from a list of str/None, built in the system allocator: Arrow's
    default pool keeps the builder's growth buffers, which doubles the peak memory of a big scan."""
    import pandas as pd
    import pyarrow as pa

    return pd.arrays.ArrowStringArray(pa.array(values, type=pa.large_string(), memory_pool=pa.system_memory_pool()))


# Names become ``path`` strings by one escaping, chosen so that distinct names stay distinct (the
# (layer, path) key) while every name that is valid UTF-8 and holds no backslash-escape look-alike
# is kept as it is, as docker and dive show it: a byte that is not UTF-8 is written ``\\xNN``
# (two lower-case hex digits, 80 to ff), and a backslash that would otherwise read as the start of
# such an escape (one before a backslash, before ``x`` and two such digits, or before a bad byte) is
# doubled. systemd's ``\\x2d`` names and any other backslash stay as they are. See docs/frames.md.
_READS_AS_ESCAPE = re.compile("\\\\(?=\\\\|x[89a-f][0-9a-f]|[\udc80-\udcff])")
_BAD_BYTE = re.compile("[\udc80-\udcff]")
_ESCAPE = re.compile(rb"\\(\\|x[89a-f][0-9a-f])")


def escape_name(name: str) -> str:
    """The ``path`` string of a name decoded with ``surrogateescape`` (as ``os.fsdecode`` does):
    valid UTF-8, one string per distinct name (:func:`unescape_name` gives the bytes back)."""
    if "\\" in name:
        name = _READS_AS_ESCAPE.sub(r"\\\\", name)
    return _BAD_BYTE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", name)


def unescape_name(path: str) -> bytes:
    """The exact bytes of the name :func:`escape_name` wrote as ``path``."""
    return _ESCAPE.sub(lambda m: b"\\" if m.group(1) == b"\\" else bytes([int(m.group(1)[1:], 16)]),
                       path.encode("utf-8"))


def exact_paths(paths: list[str]) -> tuple[list[str], list[bytes | None] | None]:
    """Turn ``surrogateescape``-decoded names into their ``path`` strings (:func:`escape_name`) plus
    their exact bytes where the two differ; the second list is None when no name needed escaping
    (the usual case). ``paths`` is changed in place."""
    joined = "".join(paths)
    if "\\" not in joined:
        try:  # the usual case, checked at C speed: every name is valid UTF-8 (no surrogate escapes)
            joined.encode("utf-8")
            return paths, None
        except UnicodeEncodeError:
            pass
    del joined
    raw: list[bytes | None] | None = None
    for i, p in enumerate(paths):
        if p.isascii() and "\\" not in p:
            continue
        try:
            b = p.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a surrogate that is no escaped byte (from JSON's \\udXXX): its bytes
            b = p.encode("utf-8", "surrogatepass")
            p = b.decode("utf-8", "surrogateescape")
        escaped = escape_name(p)
        if escaped.encode("utf-8") != b:
            if raw is None:
                raw = [None] * len(paths)
            raw[i] = b
            paths[i] = escaped
    return paths, raw


def concat_files(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One files frame of many layers' rows; layer_id's categories are the union, sorted (so the
    categorical sorts and groups as the IDs do as strings)."""
    import pandas as pd
    from pandas.api.types import union_categoricals

    from ...frames import schema

    frames = [f for f in frames if len(f)]
    if not frames:
        return schema.empty("files")
    if len(frames) == 1:
        out = schema.coerce(frames[0], "files")
        return out.assign(layer_id=out["layer_id"].cat.reorder_categories(sorted(out["layer_id"].cat.categories)))
    # Column by column through each array type's own concatenation (the extension-array interface's
    # _concat_same_type): pd.concat of many parts took half as long again. layer_id goes through
    # union_categoricals (concatenating categoricals with other categories gives objects).
    cols = {"layer_id": union_categoricals([_as_categorical(f["layer_id"]) for f in frames], sort_categories=True)}
    for c in schema.columns("files")[1:]:
        arrays = [f[c].array for f in frames]
        cols[c] = type(arrays[0])._concat_same_type(arrays) if len({a.dtype for a in arrays}) == 1 else \
            pd.concat([f[c] for f in frames], ignore_index=True)
    return schema.coerce(pd.DataFrame(cols), "files")


def _as_categorical(col: pd.Series) -> pd.Categorical:
    import pandas as pd

    return col.array if isinstance(col.dtype, pd.CategoricalDtype) else pd.Categorical(col)
