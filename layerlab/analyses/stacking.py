"""Layer stacking, the step every analysis shares: which entries an image's (or a container's)
filesystem shows, and what differs between two entries.

Stacking follows the OCI layer rules (docs/formats.md, "Layers and whiteouts"): a whiteout hides its path and everything
under it in lower layers, an opaque directory hides the lower children of that directory, and a
non-directory hides whatever a lower layer had beneath that path. ``dive`` stacking is what dive's
file tree does instead: only whiteouts remove anything (it drops opaque markers).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..frames import schema

NOT_DIRS_HIDE = frozenset({"file", "symlink", "hardlink", "char", "block", "fifo", "socket"})
DIR_KINDS = ("dir", "opaque")

def layer_frames(inv) -> dict[str, pd.DataFrame]:
    """The files frame split by layer_id (computed once per inventory)."""
    c = inv.cache
    if "layer_frames" not in c:
        files = inv.files
        c["layer_frames"] = {
            lid: part.reset_index(drop=True) for lid, part in files.groupby("layer_id", sort=False, observed=True)
        }
    return c["layer_frames"]


def container_row(inv, container: str):
    """The containers-frame row for a container name, full ID or ID prefix."""
    c = inv.containers
    ref = container.strip().lstrip("/")
    hits = c[(c["name"] == ref) | (c["container_id"] == ref)]
    if hits.empty and ref and all(ch in "0123456789abcdef" for ch in ref.lower()):
        hits = c[c["container_id"].str.startswith(ref.lower())]
    if len(hits) == 1:
        return hits.iloc[0]
    from ..errors import ImageNotFound

    if len(hits) > 1:
        raise ImageNotFound(f"container {container!r} is ambiguous: it matches {len(hits)} containers; give more of "
                            "the ID", ref=container)
    names = ", ".join(sorted(c["name"].astype(str))[:10])
    raise ImageNotFound(
        f"no container {container!r} in {inv.source or 'this source'}; give a name, an ID or an ID prefix"
        + (f" (containers here: {names})" if names else ""),
        ref=container,
    )


def container_chain(inv, container_id: str) -> list[str]:
    """The image chain of a container, then its init layer and its read-write layer (those present)."""
    row = inv.containers.set_index("container_id").loc[container_id]
    chain = inv.chain(row["image_id"])
    have = set(inv.layers["layer_id"])
    return chain + [lid for lid in (f"init:{container_id}", f"container:{container_id}") if lid in have]


def chain_files(inv, chain: list[str]) -> pd.DataFrame:
    """Files rows of the layers in ``chain`` with their ``position`` (index in the chain)."""
    frames = layer_frames(inv)
    parts = []
    for pos, lid in enumerate(chain):
        part = frames.get(lid)
        if part is not None and len(part):
            parts.append(part.assign(position=np.int64(pos)))
    if not parts:
        out = schema.empty("files")
        out["position"] = pd.Series([], dtype="int64")
        return out
    out = pd.concat(parts, ignore_index=True)
    out["path"] = out["path"].astype(object)
    return nulls_as_none(out, ["link_target"])


def ancestor_closure(paths: set[str]) -> set[str]:
    """``paths`` plus every ancestor directory of them (without "/")."""
    out = set(paths)
    frontier = set(paths)
    while frontier:
        parents = {p.rpartition("/")[0] for p in frontier}
        parents.discard("")
        frontier = parents - out
        out |= frontier
    return out


def large_strings(values) -> pa.LargeStringArray:
    """``values`` (a pandas column or Arrow strings) as one Arrow ``large_string`` array (64-bit offsets,
    the layout ``path_parents`` reads); an Arrow-backed column's bytes are not copied."""
    if not isinstance(values, (pa.Array, pa.ChunkedArray)):
        values = pa.array(values, type=pa.large_string(), from_pandas=True)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values.cast(pa.large_string())


def path_parents(strings: pa.LargeStringArray) -> tuple[pa.LargeStringArray, np.ndarray]:
    """(each path's parent: the text before its last "/", "" for a top-level path; the number of "/"
    in it), as ``str.rpartition`` and ``str.count`` give them, read off the Arrow buffers with numpy
    instead of making a Python string a path (a "/" byte is never part of another UTF-8 character).
    The parents are slices of the paths' own bytes: every other string of one array whose offsets
    alternate parent start, parent end."""
    n = len(strings)
    buffers = strings.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[strings.offset:strings.offset + n + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.empty(0, np.uint8)
    slashes = np.flatnonzero(data == ord("/"))
    start = offsets[:-1]
    before_end = np.searchsorted(slashes, offsets[1:])
    depth = (before_end - np.searchsorted(slashes, start)).astype(np.int64)
    last = slashes[np.maximum(before_end - 1, 0)] if len(slashes) else start
    length = np.where(depth > 0, last - start, 0)
    bounds = np.empty(2 * n + 1, dtype=np.int64)
    bounds[0:2 * n:2], bounds[1:2 * n:2], bounds[2 * n] = start, start + length, offsets[-1]
    halves = pa.Array.from_buffers(pa.large_string(), 2 * n, [None, pa.py_buffer(bounds), buffers[2]])
    return halves.take(pa.array(np.arange(0, 2 * n, 2, dtype=np.int64))), depth


def inner_paths(paths) -> np.ndarray:
    """Which of ``paths`` (a column or Arrow strings) are an ancestor directory of another of them:
    what ``p in ancestor_closure({parents})`` tells, with Arrow (each level's distinct parents, then
    theirs) rather than a Python set of 150k parents."""
    strings = large_strings(paths)
    ancestors = []
    level = strings
    while len(level):
        parents, _ = path_parents(level)
        level = pc.unique(parents.filter(pc.not_equal(parents, "")))
        ancestors.append(level)
    every = pc.unique(pa.concat_arrays(ancestors)) if ancestors else pa.array([], type=pa.large_string())
    return pc.is_in(strings, value_set=every).to_numpy(zero_copy_only=False).astype(bool)


def resolve(files: pd.DataFrame, rules: str = "oci") -> pd.DataFrame:
    """The entries visible after stacking ``files`` (rows with a ``position``) by ``rules``.

    Returns the visible rows (the topmost non-whiteout row of each path, when no higher layer hides
    it). ``rules="oci"``: whiteouts, opaque directories and non-directories hide lower entries below
    them. ``rules="dive"``: only whiteouts do, as in dive's stacked tree.
    """
    if files.empty:
        return files.iloc[0:0]
    kind = files["kind"].astype(object)
    pos = files["position"].to_numpy()
    is_wh = (kind == "whiteout").to_numpy()
    adds = files[~is_wh]
    provider = adds.sort_values("position", kind="stable").drop_duplicates("path", keep="last")
    # Per path, the highest layer that hides the path itself, and the highest that hides its children.
    own = pd.Series(pos[is_wh], index=files["path"][is_wh].to_numpy()).groupby(level=0).max()
    below = own.copy()
    if rules == "oci":
        k = kind.to_numpy()
        hides_children = np.isin(k, list(NOT_DIRS_HIDE)) | (k == "opaque")
        extra = pd.Series(pos[hides_children], index=files["path"][hides_children].to_numpy()).groupby(level=0).max()
        below = pd.concat([below, extra]).groupby(level=0).max()
    elif rules != "dive":
        raise ValueError(f"rules={rules!r}; choose 'oci' or 'dive'")
    if own.empty and below.empty:
        return provider
    # Highest hider over the strict ancestors of each path, propagated from the top of the tree down
    # (parents before children). Plain dicts: a path at a time costs less here than pandas' per-depth
    # reindexing, which took most of a file tree's first build.
    hider = dict(zip(below.index.tolist(), below.tolist()))
    anc: dict[str, int] = {}
    for path in sorted(ancestor_closure(set(files["path"].to_numpy(dtype=object))), key=lambda p: p.count("/")):
        parent = path.rpartition("/")[0]
        anc[path] = max(anc[parent], hider.get(parent, -1)) if parent else -1
    paths = provider["path"].to_numpy(dtype=object)
    hide = np.maximum(
        np.fromiter((anc[p] for p in paths), dtype=np.int64, count=len(paths)),
        own.reindex(paths).fillna(-1).to_numpy(),
    )
    # A hider in the same layer as the entry applies only to lower layers.
    return provider[hide <= provider["position"].to_numpy()]


def sorted_paths(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` sorted by path (for subtree lookups with ``subtree_index``)."""
    return frame.sort_values("path", kind="stable").reset_index(drop=True)


def subtree_index(paths: np.ndarray, prefix: str) -> np.ndarray:
    """Positions in a path-sorted array of ``prefix`` itself and every path under it."""
    exact = np.searchsorted(paths, prefix, side="left")
    exact_hi = np.searchsorted(paths, prefix, side="right")
    lo = np.searchsorted(paths, prefix + "/", side="left")
    hi = np.searchsorted(paths, prefix + "0", side="left")  # "0" follows "/" in code point order
    return np.concatenate([np.arange(exact, exact_hi), np.arange(lo, hi)])


def nulls_as_none(df: pd.DataFrame, columns) -> pd.DataFrame:
    """Object columns with None (not NaN) for missing values, as the frames keep them."""
    for col in columns:
        df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df


def _get(row, key):
    # rows come as namedtuples or Series (where .size would be the Series' length)
    return row[key] if isinstance(row, (pd.Series, dict)) else getattr(row, key)


def entry_changes(a, b, size_b=None) -> str:
    """What differs between entry ``a`` and entry ``b`` (``size_b`` overrides b's size: a hard link's)."""
    out = []
    kinds = {_get(a, "kind"), _get(b, "kind")}
    if len(kinds) > 1 and kinds != {"file", "hardlink"}:
        out.append("kind")
    if _get(a, "size") != (_get(b, "size") if size_b is None else size_b):
        out.append("size")
    if _get(a, "mode") != _get(b, "mode"):
        out.append("mode")
    if _get(a, "uid") != _get(b, "uid") or _get(a, "gid") != _get(b, "gid"):
        out.append("owner")
    ta, tb = _get(a, "mtime"), _get(b, "mtime")
    if not (pd.isna(ta) and pd.isna(tb)) and ta != tb:
        out.append("mtime")
    return ",".join(out)
