"""The difference between two images: paths added, removed and changed, and the layers they share."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pandas as pd

from ...errors import FLAG, HASH, IMAGE, PROGRESS, Expect
from ...frames.inventory import OPTIONAL_SOURCE
from ...sources import open_source
from ..hashing import can_hash, digest_lookup
from ..merged import merged_from_files
from ..stacking import chain_files, nulls_as_none
from ..opening import analysis


def _mask(values) -> np.ndarray:
    """A plain bool array from a comparison that may hold NA (absent on one side)."""
    return np.asarray(pd.Series(values).fillna(False).to_numpy(), dtype=bool)


#: Merged views kept per Inventory (by layer chain): stepping through an image's layers compares each
#: prefix of its chain with the next, so each is stacked once, not twice.
_KEEP_MERGED = 8


def _merged(inv, chain):
    kept = inv.cache.setdefault("merged_chains", OrderedDict())
    key = tuple(chain)
    if key in kept:
        kept.move_to_end(key)
        return kept[key]
    files = chain_files(inv, chain)
    kept[key] = merged_from_files(files), files
    while len(kept) > _KEEP_MERGED:
        kept.popitem(last=False)
    return kept[key]


def keep_merged(inv, chain, merged: pd.DataFrame, files: pd.DataFrame):
    """Keep a chain's merged view stacked elsewhere, for ``_merged`` (the file tree stacks every prefix
    of an image's chain in one pass): ``merged_from_files(files)`` and ``chain_files(inv, chain)``."""
    kept = inv.cache.setdefault("merged_chains", OrderedDict())
    kept[tuple(chain)] = merged, files
    kept.move_to_end(tuple(chain))
    while len(kept) > _KEEP_MERGED:
        kept.popitem(last=False)


@analysis(a=IMAGE, b=IMAGE, unchanged=FLAG, hash=HASH, progress=PROGRESS, source_b=OPTIONAL_SOURCE)
def diff_images(source, a, b, *, unchanged: bool = False, hash="auto", progress=None, source_b=None) -> pd.DataFrame:
    """Paths that differ between the filesystems of images ``a`` and ``b``.

    Two paths are the same when the same layer provides them in both images; otherwise their
    kind, size, mode, owner, link target, mtime (not for directories) and, for regular files of
    equal size, content (SHA-256, where the data root is readable) are compared.

    Parameters
    ----------
    {source}
    a, b
        Tags, IDs or ID prefixes of the two images (``a`` is the old one).
    unchanged
        Also return paths that are the same in both.
    hash
        ``"auto"``, True or False, as in ``waste``.
    source_b
        Where ``b`` is (default: ``source``): compare images of two sources, e.g. two snapshots
        of one host taken at different times. Layers are the same when their chain IDs are.

    Returns
    -------
    DataFrame
        One row per path, sorted by path:

        - ``path``; ``status``: ``added`` (only in b), ``removed`` (only in a), ``changed``,
          or ``unchanged``.
        - ``changes``: what differs for a changed path, comma-separated: ``kind``, ``size``,
          ``content``, ``mode``, ``owner``, ``target``, ``mtime``.
        - ``kind_a``/``kind_b``, ``size_a``/``size_b`` (bytes ``stat`` shows; 0 when absent),
          ``size_delta`` (b - a).
        - ``layer_a``/``layer_b``, ``position_a``/``position_b``: providing layers.
        - ``content_changed``: True/False when known, null when it could not be compared.

    The layers the two images share are in ``diff_layers``.
    """
    inv = source
    inv_b = inv if source_b is None else open_source(source_b)
    ia, ib = inv.image_id(a), inv_b.image_id(b)
    return _compare(inv, inv_b, inv.chain(ia), inv_b.chain(ib), unchanged=unchanged, hash=hash, progress=progress)


#: The ``changes`` column's words, in the order a row lists them.
_CHANGE_NAMES = ("kind", "size", "mode", "owner", "target", "mtime", "content")


def _all_added(mb: pd.DataFrame, entries: bool) -> pd.DataFrame:
    """What ``_compare`` returns when a's filesystem is empty (a base layer, nothing below it): every
    path of b added, built from b's merged view without the outer merge and its comparisons (a
    quarter of a 150k-file tree's first open)."""
    n = len(mb)
    index = pd.RangeIndex(n)
    none = pd.Series(np.full(n, None, dtype=object), index=index, dtype=object)
    size_b = pd.Series(mb["file_size"].to_numpy(dtype=np.int64), index=index)
    out = pd.DataFrame(
        {
            "path": pd.Series(mb["path"].to_numpy(dtype=object), index=index, dtype=object),
            "status": pd.Series(np.full(n, "added", dtype=object), index=index, dtype=object),
            "changes": none,
            "kind_a": none,
            "kind_b": pd.Series(mb["kind"].to_numpy(dtype=object), index=index, dtype=object),
            "size_a": pd.Series(np.zeros(n, dtype=np.int64), index=index),
            "size_b": size_b,
            "size_delta": size_b,
            "layer_a": none,
            "layer_b": pd.Series(mb["layer_id"].astype(object).to_numpy(dtype=object), index=index, dtype=object),
            "position_a": pd.Series(pd.array(np.full(n, None, dtype=object), dtype="Int64"), index=index),
            "position_b": pd.Series(mb["position"].astype("Int64").array, index=index),
            "content_changed": pd.Series(pd.arrays.BooleanArray(np.zeros(n, dtype=bool), np.ones(n, dtype=bool)),
                                         index=index),
        }
    )
    if entries:
        for col in ("mode", "uid", "gid"):
            out[col] = mb[col].to_numpy().astype("int64")
        # (a merged view's link targets are None where missing already, and its rows sorted by path)
        out["link_target"] = pd.Series(mb["link_target"].to_numpy(dtype=object), index=index, dtype=object)
    return out


def _outer_by_path(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """``a.merge(b, on="path", how="outer", suffixes=("_a", "_b"), indicator=True)`` for two merged
    views (sorted by path, a path once): their object path Indexes joined in one ordered pass. pandas
    3's merge turned each side's 150k Python strings into Arrow strings and back for its hash tables
    (most of a file tree's layer switch)."""
    left = pd.Index(a["path"].to_numpy(dtype=object), dtype=object)
    right = pd.Index(b["path"].to_numpy(dtype=object), dtype=object)
    if not (left.is_monotonic_increasing and right.is_monotonic_increasing and left.is_unique and right.is_unique):
        return a.merge(b, on="path", how="outer", suffixes=("_a", "_b"), indicator=True)
    joined, at_a, at_b = left.join(right, how="outer", return_indexers=True)
    n = len(joined)
    at_a = np.arange(n) if at_a is None else at_a
    at_b = np.arange(n) if at_b is None else at_b
    rest = [c for c in a.columns if c != "path"]
    side_a = a[rest].reset_index(drop=True).reindex(at_a).add_suffix("_a").reset_index(drop=True)  # -1: NaN row
    side_b = b[rest].reset_index(drop=True).reindex(at_b).add_suffix("_b").reset_index(drop=True)
    codes = np.where(at_a < 0, 1, np.where(at_b < 0, 0, 2)).astype(np.int8)
    merge = pd.Categorical.from_codes(codes, categories=["left_only", "right_only", "both"])
    return pd.concat([pd.DataFrame({"path": pd.Series(joined.to_numpy(dtype=object), dtype=object)}), side_a, side_b,
                      pd.DataFrame({"_merge": merge})], axis=1)


def _compare(inv, inv_b, chain_a, chain_b, *, unchanged, hash, progress, entries=False,
             shortcut=True) -> pd.DataFrame:
    """``diff_images`` of two layer chains (the filesystems they stack to); with ``entries``, also each
    path's ``mode``, ``uid``, ``gid`` and ``link_target`` (b's, or a's for a removed path).
    ``shortcut``: when a's filesystem is empty, ``_all_added`` (False: the merge, for tests)."""
    (ma, fa), (mb, fb) = _merged(inv, chain_a), _merged(inv_b, chain_b)
    if shortcut and ma.empty and len(mb):
        return _all_added(mb, entries)
    cols = ["path", "kind", "file_size", "mode", "uid", "gid", "mtime", "link_target", "layer_id", "position",
            "entry_kind"]
    # owners are categoricals whose categories differ between sources: compared as the numbers
    owners = {"uid": "int64", "gid": "int64"}
    m = _outer_by_path(ma[cols].astype(owners), mb[cols].astype(owners))
    both = (m["_merge"] == "both").to_numpy()
    # layer_id is categorical; the two sides' categories differ, so compare the IDs themselves
    same_layer = both & _mask((m["layer_id_a"].astype(object) == m["layer_id_b"].astype(object)))
    differs = both & ~same_layer
    # What differs, one bit a field in the order the ``changes`` column names them (a row's string is
    # made once per distinct set of bits, not once per row).
    bits = np.zeros(len(m), dtype=np.uint8)
    for bit, mask in enumerate((
            _mask(m["kind_a"] != m["kind_b"]),
            _mask(m["file_size_a"] != m["file_size_b"]),
            _mask(m["mode_a"] != m["mode_b"]),
            _mask((m["uid_a"] != m["uid_b"]) | (m["gid_a"] != m["gid_b"])),
            _mask(m["link_target_a"].fillna("") != m["link_target_b"].fillna("")),
            _mask(m["mtime_a"] != m["mtime_b"]) & _mask(m["kind_a"] != "dir"))):
        bits[mask & differs] |= np.uint8(1 << bit)
    content = pd.arrays.BooleanArray(np.zeros(len(m), dtype=bool), np.ones(len(m), dtype=bool))  # all NA
    is_file = both & ~same_layer & _mask((m["kind_a"] == "file")) & _mask((m["kind_b"] == "file"))
    content[is_file & _mask((m["file_size_a"] != m["file_size_b"]))] = True
    content[same_layer] = False
    check = np.flatnonzero(is_file & _mask((m["file_size_a"] == m["file_size_b"]))
                           & _mask((m["entry_kind_a"] == "file")) & _mask((m["entry_kind_b"] == "file")))
    if len(check):
        hashing = can_hash(inv, hash) and (inv_b is inv or can_hash(inv_b, hash))
        rows_a = fa.merge(m.iloc[check][["path", "layer_id_a"]].rename(columns={"layer_id_a": "layer_id"}),
                          on=["layer_id", "path"])
        rows_b = fb.merge(m.iloc[check][["path", "layer_id_b"]].rename(columns={"layer_id_b": "layer_id"}),
                          on=["layer_id", "path"])
        if inv_b is inv:
            digests = digest_lookup(inv, pd.concat([rows_a, rows_b], ignore_index=True), hashing, progress,
                                    "comparing files")
        else:  # each side from its own source, recorded digests first; equal chain IDs hold equal contents
            from .pair_hash import file_digests

            digests = {**digest_lookup(inv, rows_a, False, progress, ""),
                       **digest_lookup(inv_b, rows_b, False, progress, "")}
            if hashing:
                for side, rows in ((inv, rows_a), (inv_b, rows_b)):
                    missing = rows[[(l, p) not in digests for l, p in zip(rows["layer_id"], rows["path"])]]
                    digests.update(file_digests(side, missing, progress=progress, desc="comparing files"))
        for i in check:
            p = m.at[i, "path"]
            da, db = digests.get((m.at[i, "layer_id_a"], p)), digests.get((m.at[i, "layer_id_b"], p))
            if da is not None and db is not None:
                content[i] = da != db
            elif hashing and m.at[i, "file_size_a"] > 0:
                content[i] = True  # first blocks already differed, or one side had no same-size twin
            elif m.at[i, "file_size_a"] == 0:
                content[i] = False
    size_bit = np.uint8(1 << _CHANGE_NAMES.index("size"))
    content_only = np.asarray(content.fillna(False), dtype=bool) & differs & ((bits & size_bit) == 0)
    bits[content_only] |= np.uint8(1 << _CHANGE_NAMES.index("content"))
    # status and changes as Python strings from the start, by code (pandas 3 turned arrays of str into
    # Arrow strings, which the frame below then turned back)
    sides = np.array([("left_only", "right_only", "both").index(c) for c in m["_merge"].cat.categories])
    side = sides[m["_merge"].cat.codes.to_numpy()]  # 0 left_only, 1 right_only, 2 both
    status = np.array(["removed", "added", "unchanged", "changed"], dtype=object)[
        np.where(side == 2, np.where(bits != 0, 3, 2), side)]
    names = {b: ",".join(n for k, n in enumerate(_CHANGE_NAMES) if b >> k & 1) or None for b in np.unique(bits)}
    changes = np.array([names.get(b) for b in range(256)], dtype=object)[bits]
    size_a = m["file_size_a"].fillna(0).astype("int64")
    size_b = m["file_size_b"].fillna(0).astype("int64")
    out = pd.DataFrame(
        {
            "path": m["path"].astype(object),
            "status": pd.Series(status, index=m.index, dtype=object),
            "changes": pd.Series(changes, index=m.index, dtype=object),
            "kind_a": m["kind_a"].astype(object),
            "kind_b": m["kind_b"].astype(object),
            "size_a": size_a,
            "size_b": size_b,
            "size_delta": size_b - size_a,
            "layer_a": m["layer_id_a"].astype(object),
            "layer_b": m["layer_id_b"].astype(object),
            "position_a": m["position_a"].astype("Int64"),
            "position_b": m["position_b"].astype("Int64"),
            "content_changed": content,
        }
    )
    if entries:
        for col in ("mode", "uid", "gid"):
            out[col] = m[f"{col}_b"].fillna(m[f"{col}_a"]).astype("int64")
        out["link_target"] = m["link_target_b"].where(m["_merge"] != "left_only", m["link_target_a"]).astype(object)
        out = nulls_as_none(out, ["link_target"])
    out["status"] = out["status"].astype(object)
    # pandas 3 makes a column of strings and None a str column with NaN: keep None, as the frames do.
    out = nulls_as_none(out, ["changes", "kind_a", "kind_b", "layer_a", "layer_b"])
    if not unchanged:
        out = out[out["status"] != "unchanged"]
    if out["path"].is_monotonic_increasing:  # an outer merge mostly hands the paths over sorted already
        return out.reset_index(drop=True)
    return out.sort_values("path", kind="stable").reset_index(drop=True)


@analysis(image=IMAGE, position=Expect("a layer position (an int, 0 = base) or None", int, none=True),
         aggregated=FLAG, unchanged=FLAG, hash=HASH, progress=PROGRESS)
def layer_changes(source, image, position=None, *, aggregated: bool = False, unchanged: bool = False,
                  hash=False, progress=None) -> pd.DataFrame:
    """What one layer of an image changes in the filesystem below it, as dive's file tree marks it.

    The filesystem the layers up to ``position`` stack to is compared with the one the layers
    below it stack to, exactly as ``diff_images`` compares two images (the same rules and columns).

    Parameters
    ----------
    {source}
    image
        Tag, ID or ID prefix.
    position
        The layer (0 = base); the top layer when omitted.
    aggregated
        Compare with the base layer instead of the layer below: what layers 1 to ``position``
        changed together (dive's "aggregated changes"; nothing for the base layer itself).
    unchanged
        Also return the paths the layer leaves as they were (the rest of the stacked tree).
    hash
        As in ``diff_images``; False by default (a file rewritten with the same size, mode, owner
        and mtime then counts as unchanged), so stepping through layers stays fast.

    Returns
    -------
    DataFrame
        ``diff_images``' columns, ``a`` being the filesystem below and ``b`` the one through
        ``position``: ``added`` paths the layer adds, ``removed`` ones it deletes (a whiteout, an
        opaque directory, a file over a directory), ``changed`` ones it rewrites; and each path's
        ``mode``, ``uid``, ``gid`` and ``link_target`` (as the layer leaves it, or as it was for a
        removed path), what a file tree shows beside it.
    """
    inv = source
    chain = inv.chain(inv.image_id(image))
    top = len(chain) - 1 if position is None else int(position)
    if not 0 <= top < len(chain):
        raise ValueError(f"position {position} is not a layer of {image!r}: it has layers 0 to {len(chain) - 1}")
    below = chain[:1] if aggregated else chain[:top]
    return _compare(inv, inv, below, chain[:top + 1], unchanged=unchanged, hash=hash, progress=progress, entries=True)


@analysis(a=IMAGE, b=IMAGE, source_b=OPTIONAL_SOURCE)
def diff_layers(source, a, b, *, source_b=None) -> pd.DataFrame:
    """The layers of images ``a`` and ``b``: which they share and which only one has.

    Returns
    -------
    DataFrame
        One row per layer of either image, a's chain first: ``layer_id``, ``in`` (``both``,
        ``a`` or ``b``), ``position_a``, ``position_b`` (null where absent), ``size`` (layerdb
        bytes), ``created_by``.
    """
    inv = source
    inv_b = inv if source_b is None else open_source(source_b)
    ia, ib = inv.image_id(a), inv_b.image_id(b)
    il, il_b = inv.image_layers, inv_b.image_layers
    la = il[il["image_id"] == ia][["layer_id", "position", "size", "created_by"]]
    lb = il_b[il_b["image_id"] == ib][["layer_id", "position", "size", "created_by"]]
    m = la.merge(lb, on="layer_id", how="outer", suffixes=("_a", "_b"), indicator=True, sort=False)
    out = pd.DataFrame(
        {
            "layer_id": m["layer_id"],
            "in": m["_merge"].map({"both": "both", "left_only": "a", "right_only": "b"}).astype(object),
            "position_a": m["position_a"].astype("Int64"),
            "position_b": m["position_b"].astype("Int64"),
            "size": m["size_a"].fillna(m["size_b"]).astype("int64"),
            "created_by": m["created_by_a"].fillna(m["created_by_b"]),
        }
    )
    return out.sort_values(["position_a", "position_b"], kind="stable", na_position="last").reset_index(drop=True)
