"""Waste: bytes an image's layers store that its final filesystem does not show, and dive's figures.

Two sets of numbers, side by side:

- layerlab's own: every stored byte the final filesystem hides, with the reason (``waste``), and
  their sum, ``reclaimable_bytes`` (``efficiency``);
- dive's, computed exactly as dive 0.13 does (``dive_efficiency``, ``dive_wasted_bytes``,
  ``dive_user_wasted_percent``): per path, every occurrence across layers with its tar size (a
  whiteout of a directory counts the subtree it deletes as seen in dive's stacked tree, a whiteout
  of a file 0); score = sum of each path's smallest occurrence / sum of all occurrences; wasted =
  sum of all occurrences of paths seen twice or more (the copy that is kept included); percent =
  wasted / bytes of all layers but the first. docs/analyses.md explains where the two differ.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from typing import NamedTuple

import numpy as np
import pandas as pd

from ...errors import Expect, FLAG, HASH, IMAGE, IMAGES, OPTIONAL_IMAGE, OPTIONAL_TEXT, PROGRESS
from ..hashing import can_hash, digest_lookup
from .conventions import go_divide, postorder_key
from ..stacking import (
    DIR_KINDS,
    NOT_DIRS_HIDE,
    chain_files,
    entry_changes,
    inner_paths,
    nulls_as_none,
    resolve,
    sorted_paths,
    subtree_index,
)
from ..opening import analysis

WASTE_FRAME = Expect("a frame from waste(), or None", pd.DataFrame, none=True)

WASTE_COLUMNS = [
    "image_id", "path", "layer_id", "position", "kind", "bytes", "reason", "reclaimable",
    "by_layer_id", "by_position", "by_path", "changed", "evidence",
]


# -- dive ---------------------------------------------------------------------------------------


def _leaves(layer: pd.DataFrame) -> np.ndarray:
    """Mask of the rows dive visits in one layer: leaves of the layer's tree (whiteouts always)."""
    is_wh = (layer["kind"] == "whiteout").to_numpy()
    return is_wh | ~inner_paths(layer["path"])


def dive_figures(files: pd.DataFrame, n_layers: int) -> tuple[dict, pd.DataFrame]:
    """dive's efficiency figures for files rows carrying ``position`` (0 .. n_layers-1).

    Returns ``(figures, paths)``: figures has ``dive_efficiency``, ``dive_wasted_bytes``,
    ``dive_user_wasted_percent``, ``dive_size_bytes``, ``dive_user_size_bytes``; ``paths`` is
    dive's per-path table (path, count, size_bytes: all occurrences' bytes, min_bytes), with
    ``inefficient`` true for paths seen twice or more (dive's ``fileReference`` list).
    """
    sizes = np.zeros(max(n_layers, 1), dtype=np.int64)
    if len(files):
        per = files.groupby("position")["size"].sum()
        sizes[per.index.to_numpy()] = per.to_numpy()
    occ_paths: list[np.ndarray] = []
    occ_sizes: list[np.ndarray] = []
    phantom: set[str] = set()  # paths whose only entry is a failed whiteout lookup (min -1 in dive)
    by_pos = {p: part for p, part in files.groupby("position", sort=True)} if len(files) else {}
    for pos in range(n_layers):
        layer = by_pos.get(pos)
        if layer is None or layer.empty:
            continue
        layer = layer.reset_index(drop=True)
        visit = _leaves(layer)
        size = layer["size"].to_numpy().copy()
        is_wh = (layer["kind"] == "whiteout").to_numpy()
        missing: list[int] = []
        if is_wh.any():
            below = sorted_paths(resolve(files[files["position"] < pos], "dive"))
            bpaths = below["path"].to_numpy(dtype=object)
            bsizes = below["size"].to_numpy()
            bkinds = below["kind"].to_numpy(dtype=object)
            for i in np.flatnonzero(is_wh):
                p = layer.at[i, "path"]
                j = np.searchsorted(bpaths, p)
                if j >= len(bpaths) or bpaths[j] != p:
                    missing.append(i)
                    continue
                size[i] = bsizes[subtree_index(bpaths, p)].sum() if bkinds[j] in DIR_KINDS else 0
        if missing:
            # dive stops visiting the layer at the first whiteout it cannot find below (in visit
            # order), after creating that path's entry with no occurrence.
            keys = [postorder_key(p, w) for p, w in zip(layer["path"], is_wh)]
            first = min(missing, key=lambda i: keys[i])
            visit &= np.fromiter((k < keys[first] for k in keys), dtype=bool, count=len(keys))
            p = layer.at[first, "path"]
            if not any((earlier == p).any() for earlier in occ_paths):  # no layer below visited it
                phantom.add(p)
        paths = layer["path"].to_numpy(dtype=object)[visit]
        occ_paths.append(paths)
        occ_sizes.append(size[visit])
    # dive's table of paths: occurrences, bytes and smallest occurrence per path, in the order paths
    # are first seen. Grouped on codes with numpy: pandas' groupby turned the 150k Python strings
    # into Arrow strings first (a quarter of a second).
    all_paths = np.concatenate(occ_paths) if occ_paths else np.zeros(0, dtype=object)
    all_sizes = np.concatenate(occ_sizes).astype(np.int64) if occ_sizes else np.zeros(0, dtype=np.int64)
    codes, uniques = pd.factorize(all_paths)
    by_code = np.argsort(codes, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(codes[by_code])) + 1] if len(codes) else np.zeros(0, dtype=np.int64)
    grouped = all_sizes[by_code]
    count = np.diff(np.r_[starts, len(codes)]).astype(np.int64)
    size_bytes = np.add.reduceat(grouped, starts) if len(codes) else np.zeros(0, dtype=np.int64)
    min_bytes = np.minimum.reduceat(grouped, starts) if len(codes) else np.zeros(0, dtype=np.int64)
    phantom = {p for p in phantom if not (uniques == p).any()}
    inefficient = count >= 2
    discovered = int(size_bytes.sum())
    minimum = int(min_bytes.sum()) - len(phantom)
    wasted = int(size_bytes[inefficient].sum())
    user = int(sizes[1:].sum())
    figures = {
        "dive_efficiency": 1.0 if discovered == 0 else minimum / discovered,
        "dive_wasted_bytes": wasted,
        "dive_user_wasted_percent": go_divide(wasted, user),
        "dive_size_bytes": int(sizes.sum()),
        "dive_user_size_bytes": user,
    }
    rows = np.flatnonzero(inefficient)
    rows = rows[np.argsort(-size_bytes[rows], kind="stable")]
    # the path column typed as a frame of these strings would be (pandas 3: str; 2: object)
    path_dtype = pd.Series(np.array(["/"], dtype=object)).dtype if len(codes) else object
    table = pd.DataFrame({"path": pd.Series(np.asarray(uniques, dtype=object)[rows], dtype=path_dtype),
                          "count": count[rows], "size_bytes": size_bytes[rows], "min_bytes": min_bytes[rows],
                          "inefficient": inefficient[rows]})
    return figures, table


def _squash_base(files: pd.DataFrame, base_layers: int) -> pd.DataFrame:
    """Files rows with the first ``base_layers`` layers stacked (dive's way) into one layer 0."""
    if base_layers <= 1:
        return files
    base = resolve(files[files["position"] < base_layers], "dive").assign(position=np.int64(0))
    user = files[files["position"] >= base_layers]
    user = user.assign(position=user["position"] - (base_layers - 1))
    return pd.concat([base, user], ignore_index=True)


@analysis(image=IMAGE)
def dive_analysis(source, image) -> pd.DataFrame:
    """dive's per-path table for one image: the ``fileReference`` list of ``dive --json``.

    Returns
    -------
    DataFrame
        One row per path seen in two or more layers, largest first: ``path``, ``count``
        (occurrences), ``size_bytes`` (all occurrences' bytes, dive's ``sizeBytes``),
        ``min_bytes``, ``inefficient`` (always true here).
    """
    inv = source
    image_id = inv.image_id(image)
    chain = inv.chain(image_id)
    return dive_figures(chain_files(inv, chain), len(chain))[1]


# -- layerlab's waste ---------------------------------------------------------------------------


def hidden_bytes(files: pd.DataFrame, visible: pd.DataFrame) -> pd.DataFrame:
    """Rows with bytes (size > 0) that the final filesystem does not show.

    A file hidden under its own path still shows through a visible hard link to it in the same
    layer; its bytes are not wasted then.
    """
    stored = files[(files["kind"] != "whiteout") & (files["size"] > 0)]
    hidden = stored[~stored.index.isin(visible.index)]
    links = visible[visible["kind"] == "hardlink"]
    if len(links) and len(hidden):
        shown = set(zip(links["layer_id"], links["link_target"]))
        keep = [k not in shown for k in zip(hidden["layer_id"], hidden["path"])]
        hidden = hidden[np.array(keep, dtype=bool)]
    return hidden


def hidden_stacked(files: pd.DataFrame) -> pd.DataFrame:
    """The stored entries of one image's chain files (with ``position``) that its final filesystem
    hides, stacked on their own: the per-image reference for what ``stack_all`` finds."""
    return hidden_bytes(files, resolve(files, "oci"))[["layer_id", "path", "position", "size"]]


class HiddenRows(NamedTuple):
    """One image's hidden entries as the one pass finds them (``stack_all``), aligned arrays."""

    rows: np.ndarray  #: positions in ``inv.files``, in ``hidden_of``'s order
    positions: np.ndarray  #: each entry's layer position in the image
    by: np.ndarray  #: position of the layer that hid it
    overwritten: np.ndarray  #: that layer put something at the same path (else it deleted it)
    path_codes: np.ndarray  #: numbers that sort as the paths do


def stack_all(inv, image_ids, base_layers: dict | None = None, *, hidden_only: bool = False) -> dict:
    """``image_figures`` of many images in one walk along their layer tree (``layertree.walk``).

    Kept on the Inventory, with each image's hidden entries (for ``hidden_of``): images sharing a
    prefix of layers share its stacking. ``base_layers`` maps an image ID to its base's layer count
    (default 0). Returns per image ID its figures; with ``hidden_only``, only makes sure the hidden
    entries are there (they do not depend on the base) and returns nothing.
    """
    from .layertree import walk

    base_layers = base_layers or {}
    figs = inv.cache.setdefault("image_figures", {})
    rows = inv.cache.setdefault("hidden_rows", {})
    ids = list(dict.fromkeys(image_ids))
    if hidden_only:
        todo = [i for i in ids if i not in rows]
    else:
        todo = [i for i in ids if (i, int(base_layers.get(i, 0))) not in figs]
    if todo:
        for iid, fig in walk(inv, todo, base_layers).items():
            rows[iid] = HiddenRows(*(fig.pop(k) for k in ("hidden_rows", "hidden_positions", "hidden_by",
                                                           "hidden_overwritten", "hidden_path_codes")))
            figs[(iid, int(base_layers.get(iid, 0)))] = fig
    return {} if hidden_only else {i: figs[(i, int(base_layers.get(i, 0)))] for i in ids}


def hidden_of(inv, image_id: str, files: pd.DataFrame | None = None) -> pd.DataFrame:
    """The stored entries image ``image_id``'s final filesystem hides (``layer_id``, ``path``,
    ``position``, ``size``): what ``reclaimable_bytes`` sums. Found once per image and kept on the
    Inventory, since efficiency, honest totals and fleets all need it (``stack_all`` finds them for
    many images at once); ``files`` are the image's chain files when the caller has them already."""
    c = inv.cache.setdefault("hidden", {})
    if image_id not in c:
        walked = inv.cache.get("hidden_rows", {}).get(image_id)
        if walked is not None:
            at, positions = walked.rows, walked.positions
            f = inv.files
            c[image_id] = pd.DataFrame({"layer_id": f["layer_id"].take(at).to_numpy(dtype=object),
                                        "path": f["path"].take(at).to_numpy(dtype=object),
                                        "position": positions, "size": f["size"].to_numpy()[at]})
        else:
            if files is None:
                files = chain_files(inv, inv.chain(image_id))
            c[image_id] = hidden_stacked(files)
    return c[image_id]


def stacking_rows(files: pd.DataFrame) -> np.ndarray:
    """Mask of one image's chain files (with ``position``) that can be hidden, and of those that
    decide whether and how: stacking only these finds the same hidden entries, for the same
    reasons, as stacking them all. A row can be hidden only when its path has other rows, or a
    strict ancestor has a whiteout, an opaque directory or a non-directory (``resolve``); what
    decides is the rows of those paths and ancestors, and hard links with their targets. On a large
    image most rows are a path of one layer with nothing above it: vectorised, this skips them
    (a 169k-entry image: stacking everything took seconds)."""
    paths = files["path"].to_numpy(dtype=object)
    kinds = files["kind"].to_numpy(dtype=object)
    codes, uniques = pd.factorize(paths)
    uniques = np.asarray(uniques, dtype=object)
    keep = np.bincount(codes, minlength=len(uniques))[codes] > 1
    is_wh = kinds == "whiteout"
    hides = is_wh | (kinds == "opaque") | np.isin(kinds, list(NOT_DIRS_HIDE))
    has_below = inner_paths(uniques)
    hider = np.zeros(len(uniques), dtype=bool)
    hider[codes[is_wh | (hides & has_below[codes])]] = True
    if hider.any():  # every path under a hider: a range of the sorted paths
        order = np.argsort(uniques, kind="stable")
        ordered = uniques[order]
        tops = uniques[hider]
        starts = np.searchsorted(ordered, np.array([t + "/" for t in tops], dtype=object))
        ends = np.searchsorted(ordered, np.array([t + "0" for t in tops], dtype=object))  # "0" follows "/"
        marks = np.zeros(len(uniques) + 1, dtype=np.int64)
        np.add.at(marks, starts, 1)
        np.add.at(marks, ends, -1)
        under = np.zeros(len(uniques), dtype=bool)
        under[order] = np.cumsum(marks[:-1]) > 0
        hider |= under
    links = kinds == "hardlink"
    if links.any():
        targets = set(files["link_target"].to_numpy(dtype=object)[links])
        hider |= np.fromiter((u in targets for u in uniques), dtype=bool, count=len(uniques))
    return keep | hider[codes] | links


def waste_of_files(inv, image_id: str, files: pd.DataFrame, *, hash="auto", progress=None,
                   duplicates: bool = True) -> pd.DataFrame:
    """``waste`` for files rows of one image (with ``position``)."""
    files = files.reset_index(drop=True)
    shows_more = False  # rows left out are shown: the final filesystem shows something
    if not duplicates:  # only hidden entries matter: stack the rows that can be hidden, or hide
        stacked = stacking_rows(files)
        shows_more = not stacked.all()
        files = files[stacked].reset_index(drop=True)
    visible = resolve(files, "oci")
    hidden = hidden_bytes(files, visible)
    kinds = files["kind"].to_numpy(dtype=object)
    paths = files["path"].to_numpy(dtype=object)
    pos = files["position"].to_numpy()
    adds: dict[str, list[int]] = defaultdict(list)
    add_row: dict[tuple[str, int], int] = {}
    whiteouts: dict[str, list[int]] = defaultdict(list)
    hides_below: dict[str, list[int]] = defaultdict(list)
    for i, (p, k, q) in enumerate(zip(paths, kinds, pos)):
        if k == "whiteout":
            whiteouts[p].append(q)
            continue
        adds[p].append(q)
        add_row[(p, q)] = i
        if k == "opaque" or k in NOT_DIRS_HIDE:
            hides_below[p].append(q)
    for d in (adds, whiteouts, hides_below):
        for v in d.values():
            v.sort()

    def after(lst, k):
        j = bisect.bisect_right(lst, k)
        return lst[j] if j < len(lst) else None

    rows = []
    pairs = []  # (hidden row, overwriting row) with the same size: content may be the same
    layer_at = {int(q): lid for q, lid in zip(pos, files["layer_id"])}
    for r in hidden.itertuples():
        p, k = r.path, int(r.position)
        a = after(adds.get(p, []), k)
        hiders = [after(whiteouts.get(p, []), k)]
        anc = p.rpartition("/")[0]
        while anc:
            hiders.append(after(whiteouts.get(anc, []), k))
            hiders.append(after(hides_below.get(anc, []), k))
            anc = anc.rpartition("/")[0]
        hiders = [h for h in hiders if h is not None]
        h = min(hiders) if hiders else None
        if a is not None and (h is None or a <= h):
            upper_i = add_row[(p, a)]
            upper = files.loc[upper_i]
            if upper["kind"] == "hardlink":  # a copy made to add a hard link: its bytes are on the first link
                upper_i = add_row.get((upper["link_target"], a), upper_i)
            content = files.loc[upper_i]
            reason, by = "overwritten", a
            changed = entry_changes(r, upper, size_b=content["size"])
            if r.kind == "file" and content["kind"] == "file" and content["size"] == r.size:
                pairs.append((len(rows), r.Index, upper_i))
        else:
            reason, by, changed = "deleted", h, None
        rows.append([image_id, p, r.layer_id, k, r.kind, int(r.size), reason, True,
                     layer_at.get(by), by, None, changed, None])

    hashing = can_hash(inv, hash) if (pairs or len(visible) or shows_more) else False
    if pairs:
        idx = sorted({i for _, a, b in pairs for i in (a, b)})
        digests = digest_lookup(inv, files.loc[idx], hashing, progress, "hashing copies")
        for n, lower_i, upper_i in pairs:
            lower, upper = files.loc[lower_i], files.loc[upper_i]
            d1, d2 = digests.get((lower["layer_id"], lower["path"])), digests.get((upper["layer_id"], upper["path"]))
            if d1 is not None and d2 is not None:
                rows[n][12] = "sha256"
                if d1 == d2:
                    rows[n][6] = "metadata_only"
                else:
                    rows[n][11] = ",".join(["content"] + ([rows[n][11]] if rows[n][11] else []))
            elif hashing:
                # Hashing read only the first block when it already differed.
                rows[n][12] = "sha256"
                rows[n][11] = ",".join(["content"] + ([rows[n][11]] if rows[n][11] else []))
            else:
                rows[n][12] = "size"

    # Identical content under different visible paths (each inode once: merged sizes count it once).
    from ..merged import merged_from_files

    twins = None
    if duplicates:
        shown = merged_from_files(files, visible)
        regular = shown[(shown["kind"] == "file") & (shown["size"] > 0)]
        regular = regular.merge(files[["layer_id", "path", "sha256"]].drop_duplicates(["layer_id", "path"]),
                                on=["layer_id", "path"], how="left")
        sizes = regular["size"]
        twins = regular[sizes.map(sizes.value_counts()) > 1]
    if twins is not None and len(twins) and (hashing or twins["sha256"].notna().all()):
        digests = digest_lookup(inv, twins, hashing, progress, "hashing duplicates")
        keyed = twins.assign(_d=[digests.get((l, p)) for l, p in zip(twins["layer_id"], twins["path"])])
        keyed = keyed[keyed["_d"].notna()].sort_values(["position", "path"], kind="stable")
        for _, group in keyed.groupby("_d", sort=False):
            if len(group) < 2:
                continue
            keeper = group.iloc[0]
            for r in group.iloc[1:].itertuples():
                rows.append([image_id, r.path, r.layer_id, int(r.position), r.kind, int(r.size), "duplicate_content",
                             False, keeper["layer_id"], int(keeper["position"]), keeper["path"], None, "sha256"])
    out = pd.DataFrame(rows, columns=WASTE_COLUMNS)
    out = out.astype({"bytes": "int64", "position": "int64", "reclaimable": "bool", "by_position": "Int64"})
    for col in ("path", "by_path", "changed", "evidence", "by_layer_id"):
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out.sort_values(["bytes", "path"], ascending=[False, True], kind="stable").reset_index(drop=True)


@analysis(image=IMAGE, hash=HASH, progress=PROGRESS, duplicates=FLAG)
def waste(source, image, *, hash="auto", progress=None, duplicates: bool = True) -> pd.DataFrame:
    """Every wasted byte of one image, per path and layer, with the reason.

    Parameters
    ----------
    {source}
    image
        Tag, image ID or ID prefix.
    hash
        ``"auto"`` (default): compare contents by SHA-256 where the data root is readable (only
        same-size candidates are read), else by size with a warning; ``True``: require hashing;
        ``False``: never read file contents.
    progress
        Show a progress bar while hashing (default: when it takes a while); False hides it.
    duplicates
        Also find ``duplicate_content`` rows (hashes every visible file that has a same-size twin:
        most of the time on a large image); False leaves them out, for views that show only the
        reclaimable reasons (the layer explorer), and stacks only the rows that can be hidden or
        hide (``stacking_rows``: the same rows, a fraction of the time on a large image).

    Returns
    -------
    DataFrame
        One row per (path, layer) holding wasted bytes, largest first:

        - ``image_id``, ``path``, ``layer_id``, ``position`` (0 = base), ``kind``.
        - ``bytes``: the entry's stored bytes (a hard link's bytes count once, on its first link).
        - ``reason``: ``overwritten`` (a later layer puts something else at the path),
          ``deleted`` (a later whiteout, opaque directory or non-directory hides it),
          ``metadata_only`` (a later layer copied it with the same content only to change
          mode/owner/times) or ``duplicate_content`` (the final filesystem shows the same
          content under another path: ``by_path``).
        - ``reclaimable``: true for the first three reasons (bytes the final filesystem does
          not show; their sum is ``reclaimable_bytes``), false for ``duplicate_content``
          (shown, but stored twice).
        - ``by_layer_id``, ``by_position``: the layer that overwrote or deleted it (for a
          duplicate, the layer of the copy that is kept); ``by_path``: the kept copy's path.
        - ``changed``: for overwritten entries, what differs from the copy above (``content``,
          ``size``, ``kind``, ``mode``, ``owner``, ``mtime``).
        - ``evidence``: ``sha256`` when contents were compared by hash, ``size`` when only sizes
          could be (a snapshot without its data root), null when no comparison was needed.
    """
    inv = source
    image_id = inv.image_id(image)
    chain = inv.chain(image_id)
    return waste_of_files(inv, image_id, chain_files(inv, chain), hash=hash, progress=progress, duplicates=duplicates)


# -- per image ----------------------------------------------------------------------------------


def image_figures(inv, image_id: str, base_layers: int) -> dict:
    """dive's figures and reclaimable bytes for one image (no hashing needed), the image stacked on
    its own: the reference ``stack_all`` is tested against (which ``efficiency`` uses)."""
    chain = inv.chain(image_id)
    files = chain_files(inv, chain)
    figures, _ = dive_figures(files, len(chain))
    hidden = hidden_stacked(files)
    b = max(base_layers, 1)
    squashed, _ = dive_figures(_squash_base(files, b), len(chain) - b + 1) if len(chain) >= b else (figures, None)
    user_hidden = hidden[hidden["position"] >= base_layers]
    figures.update(
        reclaimable_bytes=int(hidden["size"].sum()),
        reclaimable_bytes_excluding_base=int(user_hidden["size"].sum()),
        dive_efficiency_excluding_base=squashed["dive_efficiency"],
        dive_wasted_bytes_excluding_base=squashed["dive_wasted_bytes"],
        dive_user_wasted_percent_excluding_base=squashed["dive_user_wasted_percent"],
    )
    return figures


@analysis(images=IMAGES, all=FLAG)
def efficiency(source, images=None, *, all: bool = False) -> pd.DataFrame:
    """Per image: dive's efficiency figures, layerlab's reclaimable bytes, and the base image.

    Parameters
    ----------
    {source}
    images
        Tags, IDs or ID prefixes to include (default: every image ``docker images`` lists).
    all
        Include the classic builder's intermediate images too.

    Returns
    -------
    DataFrame
        One row per image:

        - ``image_id``, ``tags``, ``size`` (``docker image inspect`` Size).
        - ``dive_efficiency``, ``dive_wasted_bytes``, ``dive_user_wasted_percent``: exactly as
          ``dive --json`` / ``dive --ci`` report them (percent is a ratio, 0.1 = 10 %, as in dive;
          NaN or inf when the image has one layer, as dive's division gives).
        - ``dive_size_bytes``, ``dive_user_size_bytes``: dive's image size and the size of all
          layers but the first (tar bytes of regular files; docker's size also counts symlinks).
        - ``reclaimable_bytes``: bytes stored in the image's layers that its final filesystem
          does not show (overwritten, deleted, or copied only to change metadata).
        - ``base_image``, ``base_tags``, ``base_layer_count``, ``base_size``: the image's base
          (see ``base_images``); null/0 when it has none.
        - ``reclaimable_bytes_excluding_base``: the part of ``reclaimable_bytes`` stored in
          layers above the base (what rebuilding the image itself can reclaim).
        - ``dive_efficiency_excluding_base``, ``dive_wasted_bytes_excluding_base``,
          ``dive_user_wasted_percent_excluding_base``: dive's figures with the base's layers
          squashed into one first layer (dive issue #111); equal to dive's own when the base
          is one layer or unknown.
    """
    from ..dedup.base import base_images

    inv = source
    imgs = inv.images if all else inv.listed
    if images is not None:
        wanted = {inv.image_id(i) for i in ([images] if isinstance(images, str) else images)}
        imgs = inv.images[inv.images["image_id"].isin(wanted)]
    bases = base_images(inv).set_index("image_id")
    counts = bases["base_layer_count"]
    layers = {iid: int(counts.get(iid, 0)) for iid in imgs["image_id"]}
    figures = stack_all(inv, list(imgs["image_id"]), layers)
    rows = []
    for r in imgs.itertuples(index=False):
        base = bases.loc[r.image_id] if r.image_id in bases.index else None
        base_layers = int(base["base_layer_count"]) if base is not None else 0
        fig = figures[r.image_id]
        rows.append(
            {
                "image_id": r.image_id,
                "tags": list(r.tags),
                "size": int(r.size),
                "dive_efficiency": fig["dive_efficiency"],
                "dive_wasted_bytes": fig["dive_wasted_bytes"],
                "dive_user_wasted_percent": fig["dive_user_wasted_percent"],
                "dive_size_bytes": fig["dive_size_bytes"],
                "dive_user_size_bytes": fig["dive_user_size_bytes"],
                "reclaimable_bytes": fig["reclaimable_bytes"],
                "base_image": None if base is None else base["base_image"],
                "base_tags": [] if base is None else list(base["base_tags"]),
                "base_layer_count": base_layers,
                "base_size": 0 if base is None else int(base["base_size"]),
                "reclaimable_bytes_excluding_base": fig["reclaimable_bytes_excluding_base"],
                "dive_efficiency_excluding_base": fig["dive_efficiency_excluding_base"],
                "dive_wasted_bytes_excluding_base": fig["dive_wasted_bytes_excluding_base"],
                "dive_user_wasted_percent_excluding_base": fig["dive_user_wasted_percent_excluding_base"],
            }
        )
    out = pd.DataFrame(rows, columns=list(rows[0]) if rows else EFFICIENCY_COLUMNS)
    return nulls_as_none(out, ["tags", "base_tags", "base_image"])


EFFICIENCY_COLUMNS = [
    "image_id", "tags", "size", "dive_efficiency", "dive_wasted_bytes", "dive_user_wasted_percent",
    "dive_size_bytes", "dive_user_size_bytes", "reclaimable_bytes", "base_image", "base_tags",
    "base_layer_count", "base_size", "reclaimable_bytes_excluding_base", "dive_efficiency_excluding_base",
    "dive_wasted_bytes_excluding_base", "dive_user_wasted_percent_excluding_base",
]


# -- per layer ----------------------------------------------------------------------------------

#: What became of a layer's file content higher up the stack, bottom to top in ``layer_sizes``.
STACK = ("kept", "overwritten", "deleted", "metadata_only")


@analysis(image=OPTIONAL_IMAGE, waste=WASTE_FRAME, path_contains=OPTIONAL_TEXT)
def layer_reasons(source, image=None, *, waste: pd.DataFrame | None = None,
                  path_contains: str | None = None) -> pd.DataFrame:
    """One row per layer of ``image``: position, layer_id, created_by, content bytes, and those bytes
    split into kept / overwritten / deleted / metadata_only (file content, apparent bytes); with
    ``path_contains``, only the files whose path contains that text."""
    inv = source
    image_id = inv.resolve_image(image)
    chain = inv.image_layers[inv.image_layers["image_id"] == image_id].sort_values("position")
    files = inv.files_of(chain["layer_id"].unique())  # indexed once, not the whole files frame per call
    files = files[files["kind"] == "file"]
    if waste is None:
        waste = waste_of_files(inv, image_id, chain_files(inv, inv.chain(image_id)))
    w = waste[waste["reason"].isin(STACK[1:])]
    if path_contains:
        files = files[files["path"].str.contains(path_contains, regex=False, na=False)]
        w = w[w["path"].str.contains(path_contains, regex=False, na=False)]
    content = files.groupby("layer_id", observed=True)["size"].sum()
    by_reason = w.pivot_table(index="position", columns="reason", values="bytes", aggfunc="sum",
                              fill_value=0) if len(w) else pd.DataFrame()
    out = pd.DataFrame({
        "position": chain["position"].to_numpy(),
        "layer_id": chain["layer_id"].to_numpy(),
        "created_by": chain["created_by"].to_numpy(),
        "size": chain["size"].to_numpy(),
        "content": chain["layer_id"].map(content).fillna(0).astype("int64").to_numpy(),
    })
    for reason in STACK[1:]:
        col = by_reason[reason] if reason in by_reason.columns else pd.Series(dtype="int64")
        out[reason] = out["position"].map(col).fillna(0).astype("int64")
    out["kept"] = (out["content"] - out[list(STACK[1:])].sum(axis=1)).clip(lower=0)
    return out
