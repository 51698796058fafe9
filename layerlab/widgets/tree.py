"""FileTree: an image's filesystem as a tree, layer by layer, each entry marked with what the layer did
to it (added, modified, removed), as dive's file tree shows it; static HTML for reports."""

from __future__ import annotations

import contextlib
import functools
import gc
import html
import stat

import ipywidgets as widgets
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from traitlets import Bool, Int, List, TraitError, Unicode, observe, validate

from .._docstrings import fill_doc
from ..analyses.diff.diff import keep_merged
from ..analyses.merged import merged_from_files
from ..analyses.stacking import (NOT_DIRS_HIDE, ancestor_closure, chain_files, large_strings, layer_frames,
                                 path_parents)
from ..display import command_label, human_bytes, shorten
from ..errors import OPTIONAL_IMAGE, Expect, expects
from ..frames.inventory import INVENTORY, require_inventory
from ._base import (CSS, Busy, OneImagePicking, Snapshot, SnapshotMixin, chain_rows, controls, image_name)
from ._rows import STATUS_CLASS, RowList, row_key

# The listing is a RowList (widgets/_rows.py, a small front end of its own: why there).

#: The letter before each entry (beside the row's colour, so the status reads without colour too).
MARKS = {"added": "+", "changed": "~", "removed": "-", "unchanged": " "}
#: dive's word for each status.
WORDS = {"added": "added", "changed": "modified", "removed": "removed", "unchanged": ""}
_TYPE_BITS = {"dir": stat.S_IFDIR, "file": stat.S_IFREG, "symlink": stat.S_IFLNK, "char": stat.S_IFCHR,
              "block": stat.S_IFBLK, "fifo": stat.S_IFIFO, "socket": stat.S_IFSOCK}
#: Rows the live tree lists at most (a filter narrows a longer listing).
MAX_ROWS = 3000
#: The column names over the tree's lines (``Tree.columns`` and the name).
HEADER = f"  {'Permission':<10} {'UID:GID':>11} {'Size':>9}  Filetree"
#: The tree opens directories holding changes by itself while it lists at most this many rows.
OPEN_ROWS = 200
#: A report's tree opens a directory by itself only when it holds at most this many entries.
OPEN_AT_MOST = 60


def permissions(kind: str, mode: int) -> str:
    """``ls -l``'s permission string for an entry (``drwxr-xr-x``); ``?`` where the mode is unknown."""
    if mode < 0:
        return ("d" if kind == "dir" else "-") + "?" * 9
    return stat.filemode(_TYPE_BITS.get(kind, stat.S_IFREG) | int(mode))


def printable(name: str) -> str:
    """``name`` with each unprintable character written as Python escapes it (``\\n``, ``\\x1b``)."""
    return name if name.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)


POSITION = Expect("a layer position (an int, 0 = base) or None", int, none=True)
VIEW = Expect("'layer' or 'aggregated'", test=lambda v: isinstance(v, str) and v in ("layer", "aggregated"))


@contextlib.contextmanager
def _no_gc():
    """Python's cycle collector off while a tree is built: the build allocates a few hundred thousand
    small objects (lists, strings), and each burst of them made the collector walk every live object
    of the kernel again (a third of a switch, more with other widgets' data alive). Nothing built
    here holds cycles; the collector runs again after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _split(paths: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(parent, name, depth) of each path ("/" the parent of a top-level one). Plain str methods:
    pandas' .str accessor builds frames and costs ten times as much here."""
    values = paths.to_numpy(dtype=object)
    split = [p.rpartition("/") for p in values]
    parent = np.array([head or "/" for head, _, _ in split], dtype=object)
    name = np.array([tail for _, _, tail in split], dtype=object)
    depth = np.fromiter((p.count("/") for p in values), dtype=np.int64, count=len(values))
    return parent, name, depth


def _parent_index(strings: pa.LargeStringArray) -> tuple[np.ndarray, np.ndarray]:
    """(row of each path's parent among ``strings``: -1 for a top-level path's ("/"), -2 when the parent
    is not among them; depth): what ``_split`` and a lookup of its parents give, without 150k Python
    strings (``analyses.stacking.path_parents``)."""
    parents, depth = path_parents(strings)
    parents = pc.dictionary_encode(parents)
    # each distinct parent's row: the paths looked up among the distinct parents (a small hash table;
    # the other way round, a table of every path, costs ten times as much)
    found = pc.index_in(strings, value_set=parents.dictionary).fill_null(-1).to_numpy(zero_copy_only=False)
    row_of = np.full(len(parents.dictionary), -2, dtype=np.int64)
    row_of[found[found >= 0]] = np.flatnonzero(found >= 0)
    row_of[pc.binary_length(parents.dictionary).to_numpy(zero_copy_only=False) == 0] = -1  # "": "/"
    return row_of[parents.indices.to_numpy(zero_copy_only=False).astype(np.int64)], depth


def _chain_paths(inv, chain: list[str], files: pd.DataFrame) -> pa.LargeStringArray:
    """The path column of ``chain_files(inv, chain)`` as Arrow strings: from the files frame's own
    Arrow column (chain_files hands them over as Python strings), else converted."""
    frames = layer_frames(inv)
    parts = [frames[lid]["path"] for lid in chain if lid in frames and len(frames[lid])]
    if sum(len(part) for part in parts) == len(files):  # chain_files' rows, in its order
        return large_strings(pa.chunked_array([large_strings(part) for part in parts], type=pa.large_string()))
    return large_strings(files["path"])


class Stacks:
    """Every prefix of one image's layer chain stacked in one pass, by the OCI rules of
    ``analyses.stacking.resolve`` (which stacks one chain at a time, 1-2 s for 150k entries; a layer
    switch needs two). Each non-whiteout row is visible in the stack of layers ``0..k-1`` exactly when
    ``position < k <= until``, where ``until`` is the position of the next row for its path or of the
    first whiteout, opaque directory or non-directory above it that hides it: worked out once per
    image, then a prefix is one comparison over the rows.

    The chain's distinct paths, sorted, are split once too (each one's parent and depth), so a
    ``Tree`` of any prefix takes them by number instead of splitting and hashing its paths again.
    """

    def __init__(self, inv, chain: list[str]):
        self.chain = list(chain)
        self.files = files = chain_files(inv, self.chain)
        n = len(files)
        pos = files["position"].to_numpy(dtype=np.int64)
        arrow = _chain_paths(inv, self.chain, files)
        # rows by path; within a path, by position (files' order): Arrow's sort is stable, and UTF-8's
        # byte order is str's code point order
        order = pc.sort_indices(arrow).to_numpy().astype(np.int64)
        by_path = arrow.take(pa.array(order))
        new = np.r_[True, pc.not_equal(by_path[1:], by_path[:-1]).to_numpy(zero_copy_only=False)] if n else \
            np.zeros(0, dtype=bool)
        starts = np.flatnonzero(new)  # sorted rows where each distinct path starts
        self._unique = files["path"].to_numpy(dtype=object)[order[starts]]  # the chain's distinct paths, sorted
        suid = np.cumsum(new) - 1  # each sorted row's path among them
        self._uid = np.empty(n, dtype=np.int64)  # each row's
        self._uid[order] = suid
        self._parent_at, self._depth = _parent_index(by_path.take(pa.array(starts)))
        has_children = np.zeros(len(self._unique), dtype=bool)
        has_children[self._parent_at[self._parent_at >= 0]] = True
        spos = pos[order]
        whiteout = (files["kind"] == "whiteout").to_numpy(dtype=bool)[order]
        until = np.full(n, len(self.chain), dtype=np.int64)
        # the next non-whiteout row for the same path replaces a row (resolve keeps the topmost, the last
        # of one layer's duplicates)
        adds = np.flatnonzero(~whiteout)
        same = suid[adds[1:]] == suid[adds[:-1]]
        until[adds[:-1][same]] = spos[adds[1:][same]]
        # hiders: a whiteout hides its path and what is under it; an opaque directory and a non-directory
        # what is under it, in the layers below theirs (a hider in the same layer hides nothing of it)
        parent_of_some = has_children[suid]  # (never "/": a top-level path's parent is -1)
        hides_under = files["kind"].isin(NOT_DIRS_HIDE | {"opaque"}).to_numpy(dtype=bool)[order] & parent_of_some
        bounds = np.r_[starts, n]  # a distinct path's sorted rows: bounds[u]:bounds[u + 1]
        for i in np.flatnonzero(whiteout | hides_under).tolist():
            u, h = suid[i], spos[i]
            path = self._unique[u]
            spans = []
            if whiteout[i]:
                spans.append((bounds[u], bounds[u + 1]))
            if parent_of_some[i]:
                spans.append((bounds[np.searchsorted(self._unique, path + "/", "left")],
                              bounds[np.searchsorted(self._unique, path + "0", "left")]))
            for lo, hi in spans:
                part = until[lo:hi]
                lower = spos[lo:hi] < h
                part[lower] = np.minimum(part[lower], h)
        self._first = np.empty(n, dtype=np.int64)  # in files' order again
        self._until = np.empty(n, dtype=np.int64)
        self._first[order] = np.where(whiteout, len(self.chain) + 1, spos)
        self._until[order] = until
        self._order = order
        self._rows = np.searchsorted(pos, np.arange(len(self.chain) + 1), "left")  # rows of layers below k
        self._merged: dict[int, tuple[pd.DataFrame, pd.DataFrame]] = {}

    def shown(self, k: int) -> np.ndarray:
        """Which rows (of all the chain's) the stack of layers 0..k-1 shows."""
        return (self._first < k) & (k <= self._until)

    def split(self, paths: np.ndarray, stacked: tuple[int, ...]):
        """(depth, parent row) of ``paths``: the sorted paths (without "/") the stacks of layers
        0..k-1 for each k in ``stacked`` show together (a ``layer_changes`` of two of them), from the
        chain's paths split once; None when ``paths`` are not those, or a parent is not among them (a
        directory a tar lists only through its children: ``Tree`` adds it)."""
        present = np.zeros(len(self._unique), dtype=bool)
        for k in stacked:
            present[self._uid[self.shown(k)]] = True
        at = np.flatnonzero(present)
        if len(at) and self._unique[at[0]] == "/":
            at = at[1:]
        if len(at) != len(paths) or not (self._unique[at] == paths).all():
            return None
        row_of = np.full(len(self._unique), -1, dtype=np.int64)
        row_of[at] = np.arange(len(at))
        parent_at = self._parent_at[at]
        parent_row = np.where(parent_at >= 0, row_of[np.maximum(parent_at, 0)], -1)
        if ((parent_row < 0) & (parent_at != -1)).any():
            return None
        return self._depth[at], parent_row

    def prefix(self, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(the files rows of layers 0..k-1, the rows visible when they are stacked): what
        ``chain_files(inv, chain[:k])`` and ``resolve`` of it return."""
        rows = self._rows[k]
        files = self.files.iloc[:rows]
        return files, files[self.shown(k)[:rows]]

    def keep(self, inv, k: int):
        """Hand ``layer_changes`` the merged view of layers 0..k-1 (``analyses.diff.keep_merged``); the
        last few are kept here too (a view switch goes back to the base's)."""
        if k <= 0:
            return
        if k not in self._merged:
            rows = self._rows[k]
            by_path = self._order[self.shown(k)[self._order]]  # the visible rows, sorted by path
            self._merged[k] = merged_from_files(self.files.iloc[:rows], self.files.take(by_path), by_path=True), \
                self.files.iloc[:rows]
            while len(self._merged) > 4:
                self._merged.pop(next(iter(self._merged)))
        keep_merged(inv, self.chain[:k], *self._merged[k])


class Tree:
    """The entries of one (image, layer, view), arranged for a tree.

    ``changes`` is ``analyses.layer_changes(..., unchanged=True)``: every path of the stacked
    filesystem and every path the layer removed. Rows are kept sorted by path, so a directory's
    subtree is one slice of rows, and its totals one difference of a cumulative sum. Built once per
    (image, layer, view) with numpy over all rows (parent indices, subtree slices, directory sizes),
    so what a click or a filter does after is proportional to the rows listed, not to the image.
    """

    def __init__(self, changes: pd.DataFrame, stacks: Stacks | None = None, stacked: tuple[int, ...] = ()):
        d = changes
        paths = d["path"].to_numpy(dtype=object)
        drop = 1 if len(paths) and paths[0] == "/" else 0  # "/" sorts first
        # ``stacks`` and the two stacks ``changes`` compares (``stacked``): the chain's paths split once,
        # and the rows taken as plain arrays (a frame of them is made only if asked for)
        known = stacks.split(paths[drop:], stacked) if stacks is not None and stacked else None
        if known is not None:
            self.depth, self.parent_row = known
            status = d["status"].to_numpy(dtype=object)[drop:]
            removed = status == "removed"
            self.paths, self.status = paths[drop:], status
            self.kind = np.where(removed, d["kind_a"].to_numpy(dtype=object)[drop:],
                                 d["kind_b"].to_numpy(dtype=object)[drop:])
            self.size_of = np.where(removed, d["size_a"].to_numpy()[drop:], d["size_b"].to_numpy()[drop:]).astype(
                np.int64)
            self.mode, self.uid, self.gid = (d[c].to_numpy()[drop:].astype(np.int64) for c in ("mode", "uid", "gid"))
            self.link_target = d["link_target"].to_numpy(dtype=object)[drop:]
            self._rest = (d, drop)  # for ``frame``
        else:
            self._slow_init(d)
        n = len(self.paths)
        self.is_dir = self.kind == "dir"
        # children of each directory, in path order (= name order within one parent): rows
        # _kid_rows[_kid_start[p + 1]:_kid_start[p + 2]] of row p (p = -1: "/")
        self._kid_rows = np.argsort(self.parent_row, kind="stable")
        counts = np.bincount(self.parent_row + 1, minlength=n + 1) if n else np.zeros(1, dtype=np.int64)
        self._kid_start = np.r_[0, np.cumsum(counts)]
        self.child_count = counts[1:]
        # Each row's subtree as a slice [lo, hi) of rows: every path under p sorts between p + "/" and
        # p + "0", so descendants are contiguous; folded up from the deepest level, one numpy step a level.
        lo, hi = np.full(n, n, dtype=np.int64), np.full(n, -1, dtype=np.int64)
        rows = np.arange(n)
        for level in range(int(self.depth.max()) if n else 0, 1, -1):
            at = rows[self.depth == level]
            np.minimum.at(lo, self.parent_row[at], np.minimum(at, lo[at]))
            np.maximum.at(hi, self.parent_row[at], np.maximum(at + 1, hi[at]))
        empty = hi < 0
        lo[empty], hi[empty] = 0, 0
        self._lo, self._hi = lo, hi
        self._changed = np.concatenate([[0], np.cumsum(self.status != "unchanged")])
        self.sizes = self._sizes(self.kind == "file")
        self.changed_under = self._changed[hi] - self._changed[lo]

    def _slow_init(self, d: pd.DataFrame):
        """The rows of ``changes`` split and indexed on their own (no ``Stacks``, or paths it does not hold)."""
        kind = d["kind_b"].where(d["status"] != "removed", d["kind_a"]).astype(object)
        size = np.where(d["status"] == "removed", d["size_a"], d["size_b"]).astype("int64")
        df = pd.DataFrame({
            "path": d["path"].astype(object), "status": d["status"].astype(object),
            "changes": d["changes"].astype(object),
            "kind": kind, "size": size, "mode": d["mode"].astype("int64"), "uid": d["uid"].astype("int64"),
            "gid": d["gid"].astype("int64"), "link_target": d["link_target"].astype(object),
            "position": d["position_b"].fillna(d["position_a"]).astype("float"),
        })
        df = df[df["path"] != "/"].reset_index(drop=True)
        paths = df["path"].to_numpy(dtype=object)
        sorted_ = len(paths) < 2 or bool((paths[1:] >= paths[:-1]).all())  # as layer_changes returns them
        parent, name, depth = _split(df["path"])
        # Directories a tar lists only through their children (`docker import` of such a tar): the
        # parents not listed, and theirs.
        missing = set(parent) - set(paths) - {"/"}
        implied = sorted(ancestor_closure(missing) - set(paths)) if missing else []
        if implied:
            df = pd.concat([df, pd.DataFrame({"path": implied, "status": "unchanged", "changes": None,
                                              "kind": "dir", "size": 0, "mode": -1, "uid": -1, "gid": -1,
                                              "link_target": None, "position": np.nan})], ignore_index=True)
        if implied or not sorted_:
            df = df.sort_values("path", kind="stable").reset_index(drop=True)
            parent, name, depth = _split(df["path"])
        self.parent_row = pd.Index(df["path"]).get_indexer(parent)  # each row's parent row (-1: "/"), by hashing
        self.__dict__.update(parent=parent, name=name, frame=df)  # (else made when asked)
        self.depth = depth
        self.paths = df["path"].to_numpy(dtype=object)
        self.kind = df["kind"].to_numpy(dtype=object)
        self.status = df["status"].to_numpy(dtype=object)
        # plain arrays: a row's columns are read one by one for every line listed
        self.size_of = df["size"].to_numpy()
        self.mode = df["mode"].to_numpy()
        self.uid = df["uid"].to_numpy()
        self.gid = df["gid"].to_numpy()
        self.link_target = df["link_target"].to_numpy(dtype=object)

    @functools.cached_property
    def frame(self) -> pd.DataFrame:
        """The rows as a frame: ``path``, ``status``, ``changes``, ``kind``, ``size``, ``mode``, ``uid``,
        ``gid``, ``link_target``, ``position`` (the layer providing the entry, or removing it)."""
        d, drop = self._rest
        return pd.DataFrame({
            "path": pd.Series(self.paths, dtype=object), "status": pd.Series(self.status, dtype=object),
            "changes": pd.Series(d["changes"].to_numpy(dtype=object)[drop:], dtype=object),
            "kind": pd.Series(self.kind, dtype=object), "size": self.size_of, "mode": self.mode, "uid": self.uid,
            "gid": self.gid, "link_target": pd.Series(self.link_target, dtype=object),
            "position": d["position_b"].fillna(d["position_a"]).astype("float").to_numpy()[drop:],
        })

    def position_of(self, i: int) -> float:
        """The position of the layer providing row ``i`` (or removing it); NaN for an implied directory."""
        if "frame" in self.__dict__:
            return self.frame.at[i, "position"]
        d, drop = self._rest
        value = d["position_b"].iloc[i + drop]
        value = d["position_a"].iloc[i + drop] if pd.isna(value) else value
        return float("nan") if pd.isna(value) else float(value)

    def changes_of(self, i: int) -> str | None:
        """What differs for a changed row (``layer_changes``' ``changes``)."""
        if "frame" in self.__dict__:
            return self.frame.at[i, "changes"]
        d, drop = self._rest
        return d["changes"].iloc[i + drop]

    def kids(self, i: int) -> np.ndarray:
        """Rows of the entries in directory row ``i`` (-1: "/"), in path order."""
        return self._kid_rows[self._kid_start[i + 1]:self._kid_start[i + 2]]

    @functools.cached_property
    def children(self) -> dict[str, list[int]]:
        """Rows of each directory's entries, by the directory's path ("/" the top)."""
        return {("/" if i < 0 else self.paths[i]): self.kids(i).tolist() for i in range(-1, len(self.paths))
                if self._kid_start[i + 2] > self._kid_start[i + 1]}

    @functools.cached_property
    def index(self) -> dict[str, int]:
        """Row of each path."""
        return {p: i for i, p in enumerate(self.paths)}

    def row(self, path: str) -> int | None:
        """The row of ``path``, or None: a binary search (rows are sorted by path), where ``index``
        would hash every path first."""
        i = int(np.searchsorted(self.paths, path)) if path else len(self.paths)
        return i if i < len(self.paths) and self.paths[i] == path else None

    @functools.cached_property
    def parent(self) -> np.ndarray:
        """Each row's parent directory ("/" for a top-level entry)."""
        return np.where(self.parent_row >= 0, self.paths[np.maximum(self.parent_row, 0)], "/").astype(object) \
            if len(self.paths) else np.zeros(0, dtype=object)

    @functools.cached_property
    def name(self) -> np.ndarray:
        """Each row's name (the path after its last "/")."""
        return np.array([p.rpartition("/")[2] for p in self.paths], dtype=object)

    def _sizes(self, counted: np.ndarray) -> np.ndarray:
        """Every row's size, counting the files ``counted`` marks: a file's own, a directory's the sum over
        its subtree (a live directory's the files still there, a removed one's the files removed)."""
        removed = self.status == "removed"
        live = np.concatenate([[0], np.cumsum(np.where(counted & ~removed, self.size_of, 0))])
        gone = np.concatenate([[0], np.cumsum(np.where(counted & removed, self.size_of, 0))])
        totals = np.where(removed, gone[self._hi] - gone[self._lo], live[self._hi] - live[self._lo])
        return np.where(self.is_dir, totals, self.size_of)

    def subtree(self, i: int) -> slice:
        """Rows under entry ``i`` (not ``i`` itself)."""
        return slice(int(self._lo[i]), int(self._hi[i]))

    def size(self, i: int, keep: np.ndarray | None = None) -> int:
        """A file's size; a directory's: the bytes of the files under it (apparent, as dive adds them);
        under a filter (``keep``), of the files under it the filter keeps."""
        return int((self.sizes if keep is None else self._kept_sizes(keep))[i])

    def _kept_sizes(self, keep: np.ndarray) -> np.ndarray:
        """Every row's size counting the kept files only, once per filter."""
        if getattr(self, "_kept_for", None) is not keep:  # the array itself held: a freed one's id is reused
            self._kept_for, self._kept = keep, self._sizes((self.kind == "file") & keep)
        return self._kept

    def changes_under(self, i: int) -> int:
        return int(self.changed_under[i])

    def keep(self, path_filter: str = "", changes_only: bool = False) -> np.ndarray | None:
        """Which rows a filter keeps (matches and their directories), or None for every row; kept
        per filter, with ``matches`` (how many entries match, not counting their directories)."""
        if not path_filter and not changes_only:
            return None
        cache = self.__dict__.setdefault("_keeps", {})
        if (path_filter, changes_only) not in cache:
            cache[(path_filter, changes_only)] = self._keep(path_filter, changes_only)
        return cache[(path_filter, changes_only)]

    def matches(self, path_filter: str = "", changes_only: bool = False) -> int:
        """Entries the filter matches (``keep`` adds their directories)."""
        self.keep(path_filter, changes_only)
        return self.__dict__.get("_matches", {}).get((path_filter, changes_only), len(self.paths))

    def _keep(self, path_filter: str, changes_only: bool) -> np.ndarray:
        hit = np.ones(len(self.paths), dtype=bool)
        if path_filter:
            hit &= pd.Series(self.paths, dtype=object).str.contains(path_filter, regex=False).to_numpy(dtype=bool)
        if changes_only:
            hit &= self.status != "unchanged"
        self.__dict__.setdefault("_matches", {})[(path_filter, changes_only)] = int(hit.sum())
        # the matches and their directories, marked up the tree one level at a time
        keep = hit.copy()
        for level in range(int(self.depth.max()) if len(keep) else 0, 1, -1):
            at = np.flatnonzero(keep & (self.depth == level))
            keep[self.parent_row[at]] = True
        return keep

    def visible(self, expanded: set[str], keep: np.ndarray | None = None, limit: int | None = None,
                by_size: bool = False) -> tuple[list[int], int]:
        """Rows shown, in tree order: children of "/", and the children of each expanded directory
        (under a filter, every directory holding a kept row is open); a directory's entries by name, or
        largest first (``by_size``, dive's ^O; sizes under the filter). Returns (rows, rows left out)."""
        out: list[int] = []
        left = 0
        limit = MAX_ROWS if limit is None else limit

        def kids(parent: int):
            rows = self.kids(parent).tolist()
            if not by_size:
                return iter(rows)
            sizes = self.sizes if keep is None else self._kept_sizes(keep)
            return iter(sorted(rows, key=lambda i: -sizes[i]))

        stack = [kids(-1)]
        while stack:
            i = next(stack[-1], None)
            if i is None:
                stack.pop()
                continue
            if keep is not None and not keep[i]:
                continue
            if len(out) >= limit:
                if keep is not None:  # every kept row is listed under a filter
                    return out, int(keep.sum()) - len(out)
                left += 1  # counted through the rest of the listing, open directories included
            else:
                out.append(i)
            if self.is_dir[i] and (self.paths[i] in expanded if keep is None else True):
                stack.append(kids(i))
        return out, left

    def columns(self, i: int, keep: np.ndarray | None = None) -> tuple[str, str, str, str]:
        """(marker, permissions, uid:gid, size) as the tree prints them (sizes under the filter ``keep``)."""
        uid, gid = int(self.uid[i]), int(self.gid[i])
        owner = f"{uid}:{gid}" if uid >= 0 else "?:?"
        return (MARKS[self.status[i]], permissions(self.kind[i], int(self.mode[i])), owner,
                human_bytes(self.size(i, keep)))

    def name_of(self, i: int) -> str:
        """The name as the tree prints it: control characters escaped (``ls -b``), so a name holding a
        newline stays on its line; ``/`` after a directory, ``→ target`` after a symlink."""
        target = self.link_target[i]
        link = f" → {printable(target)}" if self.kind[i] == "symlink" and isinstance(target, str) else ""
        return printable(self.paths[i].rpartition("/")[2]) + ("/" if self.is_dir[i] else "") + link


@fill_doc
class FileTree(OneImagePicking, SnapshotMixin, widgets.VBox):
    """An image's filesystem as a tree, as dive's file tree shows it: expand and collapse directories,
    each entry with its permissions, owner (uid:gid) and size, marked ``+`` added, ``~`` modified or
    ``-`` removed by the layer selected.

    Two views, as in dive: ``view="layer"`` marks what the selected layer changed in the filesystem
    the layers below it make; ``view="aggregated"`` marks what every layer from 1 to the selected
    one changed in the base layer's. The tree is the filesystem the layers up to the selected one
    make, plus the paths removed (struck through in reports). Markers come from
    ``layerlab.analyses.layer_changes``.

    State lives in traits, so code drives it as a person does: ``image``, ``position`` (0 = base),
    ``view``, ``path_filter`` (show paths containing this text, their directories open),
    ``changes_only`` (show only changed paths and their directories), ``expanded`` (the open
    directories), ``selected`` (the entry whose details are shown), ``show_untagged``. Clicking a
    directory opens or closes it; ``toggle(path)`` does the same from code.

    Parameters
    ----------
    {inv}
    image : str, optional
        Tag or ID to start on; the image with the most layers when omitted.
    position : int, optional
        Layer to start on; the top layer when omitted.
    view : {{"layer", "aggregated"}}
    """

    image = Unicode(help="image ID shown")
    position = Int(0, help="layer shown, 0 = base")
    view = Unicode("layer", help="'layer': what the layer changed; 'aggregated': what layers 1..position changed")
    sort = Unicode("name", help="a directory's entries by 'name' or largest first ('size', dive's ^O)")
    path_filter = Unicode("", help="only show paths containing this text (and their directories)")
    changes_only = Bool(False, help="only show changed paths (and their directories)")
    expanded = List(Unicode(), help="open directories (paths)")
    selected = Unicode("", help="the entry whose details are shown")
    show_untagged = Bool(False, help="list untagged (<none>) images in the image dropdown")

    @expects(inv=INVENTORY, image=OPTIONAL_IMAGE, position=POSITION, view=VIEW)
    def __init__(self, inv, image=None, position: int | None = None, view: str = "layer", **kwargs):
        self._ready = False
        self.inv = require_inventory(inv, "FileTree")
        self._trees: dict[tuple[str, int, str], Tree] = {}
        first = self.inv.resolve_image(image)
        self.image_select = widgets.Dropdown(options=self._image_choices(first), value=first, description="image",
                                             layout=widgets.Layout(width="380px"))
        self.layer_slider = widgets.IntSlider(min=0, max=0, description="layer", continuous_update=False)
        self.view_buttons = widgets.ToggleButtons(options=[("this layer", "layer"), ("aggregated", "aggregated")],
                                                  tooltips=["what this layer changed in the layers below",
                                                            "what every layer above the base changed"],
                                                  style={"button_width": "100px"})
        self.filter_box = widgets.Text(placeholder="filter paths, e.g. /etc", description="paths",
                                       continuous_update=False, layout=widgets.Layout(width="260px"))
        self.changes_box = widgets.Checkbox(description="only changes", indent=False,
                                            layout=widgets.Layout(width="120px"))
        self.sort_buttons = widgets.ToggleButtons(options=[("by name", "name"), ("by size", "size")],
                                                  style={"button_width": "80px"})
        self.summary = widgets.HTML()
        self.listing = RowList(header=HEADER, layout=widgets.Layout(width="100%"))
        self.details = widgets.HTML()
        self.listing.add_class("layerlab-tree-listing")
        self._keyed: dict[str, str] = {}  # row keys of the paths listed that are not valid UTF-8
        self.listing.on_click(self._clicked)
        self.busy = Busy()
        # dive's other panes: the layers with their commands, and the image's details
        self.layers_pane = widgets.HTML(layout=widgets.Layout(width="50%", max_height="16em", overflow="auto"))
        self.image_pane = widgets.HTML(layout=widgets.Layout(width="50%", max_height="16em", overflow="auto"))
        self._details: dict[str, str] = {}
        super().__init__(children=[widgets.HTML(CSS), controls(self.image_select, self.layer_slider, self.view_buttons,
                                                               self.filter_box, self.changes_box, self.sort_buttons,
                                                               self._untagged_box(), self.busy.label),
                                   widgets.HBox([self.layers_pane, self.image_pane]),
                                   self.summary, self.listing, self.details], **kwargs)
        self.add_class("layerlab-tree")
        widgets.link((self.image_select, "value"), (self, "image"))
        widgets.link((self.layer_slider, "value"), (self, "position"))
        widgets.link((self.view_buttons, "value"), (self, "view"))
        widgets.link((self.filter_box, "value"), (self, "path_filter"))
        widgets.link((self.changes_box, "value"), (self, "changes_only"))
        widgets.link((self.sort_buttons, "value"), (self, "sort"))
        self.view = view
        self.position = len(self.chain) - 1 if position is None else position
        self.expanded = self._default_expanded()
        self._ready = True
        self._refresh()

    # -- state ---------------------------------------------------------------------------------

    @validate("view")
    def _valid_view(self, proposal):
        if proposal["value"] not in ("layer", "aggregated"):
            raise TraitError(f"view {proposal['value']!r}: choose 'layer' or 'aggregated'")
        return proposal["value"]

    @observe("image")
    def _image_changed(self, change):
        ready, self._ready = self._ready, False
        self.layer_slider.max = max(len(self.chain) - 1, 0)
        self.position = len(self.chain) - 1  # a new image opens on its top layer: its whole filesystem
        self.selected = ""
        if ready:  # (while the widget is built, __init__ computes the tree it starts on, once)
            with self.busy(f"reading {image_name(self.inv, self.image)}"):  # the stacking, then the listing
                self.expanded = self._default_expanded()
                self._ready = True
                self._refresh_now()

    @observe("position", "view")
    def _layer_changed(self, change):
        if self._ready:
            with self.busy(f"reading layer {self.position}"):  # the stacking, then the listing
                self._ready = False
                self.expanded = sorted(set(self.expanded) | set(self._default_expanded()))
                self._ready = True
                self._refresh_now()

    @validate("sort")
    def _valid_sort(self, proposal):
        if proposal["value"] not in ("name", "size"):
            raise TraitError(f"sort {proposal['value']!r}: choose 'name' or 'size'")
        return proposal["value"]

    @observe("path_filter", "changes_only", "expanded", "selected", "sort")
    def _listing_changed(self, change):
        if self._ready:
            self._refresh()

    def toggle(self, path: str):
        """Open a closed directory, close an open one."""
        if path in self.expanded:
            self.expanded = [p for p in self.expanded if p != path]
        else:
            self.expanded = sorted({*self.expanded, path})

    def _clicked(self, key: str):
        """A click on a row (``listing.click(path)``): select it; open or close a directory."""
        path = self._keyed.get(key, key)
        if not path or not self._ready:
            return
        tree = self.tree()
        i = tree.row(path)
        self._ready = False
        self.selected = path
        if i is not None and tree.is_dir[i] and self.keep() is None:
            self.toggle(path)
        self._ready = True
        self._refresh()

    # -- data ----------------------------------------------------------------------------------

    @property
    def chain(self) -> pd.DataFrame:
        """The image's layers, base first."""
        return chain_rows(self.inv, self.image)

    def tree(self) -> Tree:
        """The entries of the current image, layer and view (cached)."""
        from .. import analyses

        key = (self.image, self.position, self.view)
        if key not in self._trees:
            with _no_gc():
                stacks = self.stacks()
                stacked = (1 if self.view == "aggregated" else self.position, self.position + 1)
                for k in stacked:
                    stacks.keep(self.inv, k)  # the two stacks layer_changes compares, stacked at once
                changes = analyses.layer_changes(self.inv, self.image, self.position,
                                                 aggregated=self.view == "aggregated", unchanged=True)
                self._trees[key] = Tree(changes, stacks, stacked)
        return self._trees[key]

    def stacks(self) -> Stacks:
        """Every prefix of the image's chain stacked (built once per image, the last image's kept)."""
        chain = self.inv.chain(self.image)
        if getattr(self, "_stacks", None) is None or self._stacks.chain != chain:
            self._stacks = Stacks(self.inv, chain)
        return self._stacks

    def keep(self) -> np.ndarray | None:
        return self.tree().keep(self.path_filter, self.changes_only)

    def _default_expanded(self) -> list[str]:
        """The directories holding a change of the layer shown, shallowest first, as many as keep the
        listing under ``OPEN_ROWS`` rows (so a base layer, which changes everything, opens only a little)."""
        tree = self.tree()
        rows = len(tree.kids(-1))
        out: dict[str, None] = {}
        dirs = np.flatnonzero(tree.is_dir & (tree.changed_under > 0))  # (the others never open by themselves)
        for i in dirs[np.argsort(tree.depth[dirs], kind="stable")].tolist():
            if tree.depth[i] > 1 and tree.paths[tree.parent_row[i]] not in out:
                continue
            kids = int(tree.child_count[i])
            if rows + kids > OPEN_ROWS:
                continue
            rows += kids
            out[tree.paths[i]] = None
        return list(out)

    def rows(self) -> pd.DataFrame:
        """The rows the tree lists now, in order: ``path``, ``depth`` (1 = top level), ``status``
        (added, modified, removed or ""), ``marker``, ``permissions``, ``owner`` (uid:gid),
        ``size`` (bytes; a directory's: its files'), ``dir``, ``open``."""
        tree = self.tree()
        keep = self.keep()
        shown, _ = tree.visible(set(self.expanded), keep, by_size=self.sort == "size")
        return pd.DataFrame({
            "path": tree.paths[shown] if shown else [],
            "depth": tree.depth[shown] if shown else [],
            "status": [WORDS[s] for s in tree.status[shown]] if shown else [],
            "marker": [MARKS[s] for s in tree.status[shown]] if shown else [],
            "permissions": [permissions(tree.kind[i], int(tree.mode[i])) for i in shown],
            "owner": [tree.columns(i)[2] for i in shown],
            "size": [tree.size(i, keep) for i in shown],
            "dir": tree.is_dir[shown] if shown else [],
            "open": [bool(tree.is_dir[i] and (keep is not None or tree.paths[i] in self.expanded)) for i in shown],
        })

    # -- drawing --------------------------------------------------------------------------------

    def _label(self, tree: Tree, i: int, is_open: bool, keep: np.ndarray | None = None) -> str:
        mark, perms, owner, size = tree.columns(i, keep)
        arrow = ("▾ " if is_open else "▸ ") if tree.is_dir[i] else "  "
        return f"{mark} {perms} {owner:>11} {size:>9}  {'  ' * (tree.depth[i] - 1)}{arrow}{tree.name_of(i)}"

    def _summary_html(self) -> str:
        tree = self.tree()
        chain = self.chain
        row = chain[chain["position"] == self.position].iloc[0]
        counts = pd.Series(tree.status, dtype=object).value_counts()  # (not inferred: 150k strings to Arrow)
        what = (f"what layer {self.position} changed in the layers below it" if self.view == "layer"
                else f"what layers 1–{self.position} changed in the base layer" if self.position else "the base layer")
        counted = ", ".join(f"{MARKS[s]} {counts.get(s, 0)} {WORDS[s]}" for s in ("added", "changed", "removed"))
        keep = self.keep()
        matched = ""
        if keep is not None:
            n = tree.matches(self.path_filter, self.changes_only)
            kept = (tree.kind == "file") & keep & (tree.status != "removed")
            what_filter = " and ".join(
                ([f"containing <code>{html.escape(self.path_filter)}</code>"] if self.path_filter else [])
                + (["changed"] if self.changes_only else []))
            matched = (f"<br>{n:,} of {len(tree.paths):,} entries {what_filter}, "
                       f"{human_bytes(int(tree.size_of[kept].sum()))} in their files; directory sizes count the "
                       "matching files only")
        return (f"<b>{html.escape(image_name(self.inv, self.image))}</b> layer {self.position} (of 0–{len(chain) - 1}) "
                "· "
                f"<code>{html.escape(command_label(row['created_by'], 100))}</code><br>{what}: {counted}; "
                f"sizes are apparent bytes (a directory's: the files under it)" + matched)

    def _details_html(self) -> str:
        tree = self.tree()
        i = tree.row(self.selected)
        if i is None:
            return "<i>click an entry for its details; click a directory to open or close it</i>"
        _, perms, owner, size = tree.columns(i)
        pos = tree.position_of(i)
        chain = self.chain
        cmd = chain.loc[chain["position"] == pos, "created_by"] if pd.notna(pos) else pd.Series(dtype=object)
        layer = (f"layer {int(pos)} <code>{html.escape(command_label(cmd.iloc[0], 80))}</code>" if len(cmd) else "—")
        status = WORDS[tree.status[i]] or "unchanged"
        if tree.status[i] == "changed" and isinstance(tree.changes_of(i), str):
            status += f" ({tree.changes_of(i).replace(',', ', ')})"
        return (f"<code>{html.escape(tree.paths[i])}</code> · {status} · {perms} {owner} · {size} · "
                f"{'was in' if tree.status[i] == 'removed' else 'from'} {layer}")

    def _refresh(self):
        with self.busy(f"reading layer {self.position}"):
            self._refresh_now()

    def _layers_html(self) -> str:
        """dive's layer pane: every layer, its size and command, the one shown marked."""
        rows = []
        for r in self.chain.itertuples(index=False):
            here = r.position == self.position
            style = ' style="background:#f2c744aa;font-weight:bold"' if here else ""
            rows.append(f"<tr{style}><td>{r.position}</td><td>{human_bytes(r.size)}</td>"
                        f"<td><code>{html.escape(command_label(r.created_by, 70))}</code></td></tr>")
        return ('<b>Layers</b><table class="layerlab-table"><tr><th>#</th><th>size</th><th>command</th></tr>'
                + "".join(rows) + "</table>")

    def image_details(self) -> str:
        """dive's image details (size, potential wasted space, efficiency, inefficient files) and
        layerlab's reclaimable bytes (what no later layer shows, content compared), once per image."""
        if self.image not in self._details:
            from ..analyses.dive.waste import dive_figures, hidden_bytes

            stacks = self.stacks()
            figures, paths = dive_figures(stacks.files, len(stacks.chain))
            bad = paths[paths["inefficient"]].sort_values("size_bytes", ascending=False).head(10)
            # what analyses.dive.waste.hidden_of finds, from the stack the tree has already
            hidden = int(hidden_bytes(*stacks.prefix(len(stacks.chain)))["size"].sum())
            rows = "".join(f"<tr><td>{int(r.count)}</td><td>{human_bytes(r.size_bytes)}</td>"
                           f"<td>{html.escape(shorten(r.path, 60))}</td></tr>" for r in bad.itertuples(index=False))
            eff = figures["dive_efficiency"]
            self._details[self.image] = (
                f"<b>Image details</b><br>total size {human_bytes(figures['dive_size_bytes'])} · potential wasted "
                "space "
                f"{human_bytes(figures['dive_wasted_bytes'])} · efficiency score "
                + (f"{eff:.1%}" if eff == eff and abs(eff) != float("inf") else "—")
                + f" (dive's figures) · reclaimable {human_bytes(hidden)} (layerlab: bytes no later layer shows)"
                + ('<table class="layerlab-table"><tr><th>count</th><th>total space</th><th>path</th></tr>'
                   f"{rows}</table>" if len(bad) else "<br><i>no inefficient files</i>"))
        return self._details[self.image]

    def _refresh_now(self):
        self.layers_pane.value = self._layers_html()
        self.image_pane.value = self.image_details()
        tree = self.tree()
        keep = self.keep()
        shown, left = tree.visible(set(self.expanded), keep, by_size=self.sort == "size")
        expanded = set(self.expanded)
        self._keyed = {row_key(tree.paths[i]): tree.paths[i] for i in shown}
        rows = [[row_key(tree.paths[i]), STATUS_CLASS[WORDS[tree.status[i]]],
                 self._label(tree, i, keep is not None or tree.paths[i] in expanded, keep)] for i in shown]
        self.summary.value = self._summary_html()
        # one message: the rows (sent only when they differ), the selection, the line under them
        with self.listing.hold_sync():
            self.listing.rows = rows
            self.listing.selected = row_key(self.selected)
            self.listing.more = f"… {left:,} more entries: filter paths to narrow the listing" if left else ""
        self.details.value = self._details_html()

    def snapshot(self, open_depth: int = 2, max_entries: int = 2000) -> Snapshot:
        """The tree as static HTML for a report: open are the directories the widget has open, and to
        ``open_depth`` levels those holding a change of the layer (and at most ``OPEN_AT_MOST``
        entries); the others are closed, a reader opens them in the page (no JavaScript needed). At
        most ``max_entries`` entries.
        The filter and the "only changes" switch apply as in the widget."""
        tree = self.tree()
        keep = self.keep()
        expanded = set(self.expanded)
        budget = [max_entries]
        deepest = open_depth + 3  # closed directories below this show their size, not their contents

        def line(i: int, is_dir: bool) -> str:
            mark, perms, owner, size = tree.columns(i)
            text = f"{mark} {perms} {owner:>11} {size:>9}  {'  ' * (tree.depth[i] - 1)}"
            css = f' class="ll-{WORDS[tree.status[i]]}"' if tree.status[i] != "unchanged" else ""
            arrow = '<span class="ll-arrow"></span>' if is_dir else "  "
            return f"<span{css}>{html.escape(text)}{arrow}{html.escape(tree.name_of(i))}</span>"

        def walk(parent: int) -> str:
            parts = []
            for i in tree.kids(parent).tolist():
                if keep is not None and not keep[i]:
                    continue
                if budget[0] <= 0:
                    break
                budget[0] -= 1
                if tree.is_dir[i] and tree.depth[i] < deepest and tree.child_count[i]:
                    kids = int(tree.child_count[i])
                    auto = tree.depth[i] <= open_depth and kids <= OPEN_AT_MOST and tree.changes_under(i) > 0
                    is_open = " open" if auto or tree.paths[i] in expanded else ""
                    parts.append(f"<details{is_open}><summary>{line(i, True)}</summary>{walk(i)}</details>")
                else:
                    parts.append(f"<div>{line(i, False)}</div>")
            return "".join(parts)

        body = walk(-1)
        total = len(tree.paths) if keep is None else int(keep.sum())
        more = (f"<div><i>the first {max_entries:,} of {total:,} entries</i></div>"
                if budget[0] <= 0 else "")
        legend = ('<span class="ll-added">+ added</span> · <span class="ll-modified">~ modified</span> · '
                  '<span class="ll-removed">- removed</span>')
        style = ("<style>.layerlab-tree-static summary {list-style: none; cursor: pointer;}"
                 ".layerlab-tree-static summary::-webkit-details-marker {display: none;}"
                 ".layerlab-tree-static details > summary .ll-arrow::before {content: '▸ ';}"
                 ".layerlab-tree-static details[open] > summary .ll-arrow::before {content: '▾ ';}</style>")
        where = f" · paths matching <code>{html.escape(self.path_filter)}</code>" if self.path_filter else ""
        header = f'<div style="font-weight: bold">{html.escape(HEADER)}</div>'
        return Snapshot(f"{style}<div>{self._summary_html()}{where}</div><div>{legend}</div>"
                        f'<div class="layerlab-tree-static">{header}{body}</div>{more}',
                        f"{image_name(self.inv, self.image)} layer {self.position}")


@expects(inv=INVENTORY, image=OPTIONAL_IMAGE, position=POSITION, view=VIEW)
def file_tree(inv, image=None, position: int | None = None, view: str = "layer") -> FileTree:
    """``FileTree(inv, image, position, view)``: an image's files as a tree, layer by layer."""
    return FileTree(inv, image, position, view)
