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
