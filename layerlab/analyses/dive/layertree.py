"""Every image of a source stacked in one walk along its layer tree.

Images built on one another share a prefix of layers (their chain IDs say so), and stacking each
image from scratch redoes that prefix once per image. Here the images' layer chains form a tree (a
trie of layer IDs, the way the layers themselves are shared): a depth-first walk applies each
layer once on top of the state its parent left, reads the figures of the images that end there,
and undoes the layer on the way back up.

The state is a few arrays indexed by path: every path of the files frame gets a number in sorted
order, so a directory's subtree is one contiguous range of numbers. They hold which entry each
path shows by the OCI rules (what ``stacking.resolve(files, "oci")`` keeps) and by dive's, and
dive's per-path occurrence count, sum and minimum. The figures are exactly those of
``waste.dive_figures`` (and of ``waste._squash_base`` for the figures excluding the base) and
``waste.hidden_bytes``, computed incrementally; the tests compare the two paths on every image.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..stacking import NOT_DIRS_HIDE
from .conventions import go_divide, postorder_key

_EMPTY = np.zeros(0, dtype=np.int64)


class _Paths:
    """Every path of the files frame numbered in sorted order, so that a directory's subtree (its
    strict descendants) is one range of numbers, ``lo[d]:hi[d]``; ``links`` are the numbers of
    ``link_targets`` (-1 for a target that is no path here)."""

    def __init__(self, path: pd.Series, link_targets=()):
        codes, uniq = pd.factorize(path)  # hashing only: the distinct paths are sorted below
        targets = np.asarray(link_targets, dtype=object)
        try:
            at, order, self.names, dirs_named = self._sorted_arrow(uniq, targets)
        except (pa.ArrowException, UnicodeError):
            # a path holding surrogates (no Arrow string can): sorted and searched by Python
            at, order, self.names, dirs_named = self._sorted_python(uniq, targets)
        n = self.n = len(order)
        rank = np.empty_like(order)
        rank[order] = np.arange(n)
        self.codes = rank[codes.astype(np.int64)]
        self.lo = np.zeros(n, dtype=np.int64)
        self.hi = np.zeros(n, dtype=np.int64)
        nd = len(dirs_named)
        pos, lo, hi = at[:nd], at[nd:2 * nd], at[2 * nd:3 * nd]
        self.lo[pos[dirs_named]], self.hi[pos[dirs_named]] = lo[dirs_named], hi[dirs_named]
        self.links = at[3 * nd:]

    @staticmethod
    def _merge(queries_and_paths_sorted: np.ndarray, n_queries: int) -> tuple[np.ndarray, np.ndarray]:
        """From one stable sort of queries then paths: each query's insertion point among the sorted
        paths (searchsorted's, left), and the paths' order."""
        merged = queries_and_paths_sorted
        is_path = merged >= n_queries
        before = np.cumsum(is_path) - is_path
        at = np.empty(n_queries, dtype=np.int64)
        at[merged[~is_path]] = before[~is_path]
        return at, merged[is_path] - n_queries

    def _sorted_arrow(self, uniq, targets):
        # Arrow sorts UTF-8 bytes, which is code point order, the order Python sorts str in; the
        # strings stay in Arrow (no Python object per path).
        paths = pa.array(uniq, type=pa.large_string(), from_pandas=True)
        up = pc.unique(pc.replace_substring_regex(paths, pattern="/[^/]*$", replacement=""))
        dirs = frontier = up
        while len(frontier):  # directories above others, named by no row (a tar may omit them)
            up = pc.unique(pc.replace_substring_regex(frontier, pattern="/[^/]*$", replacement=""))
            frontier = up.filter(pc.invert(pc.is_in(up, value_set=dirs)))
            dirs = pa.concat_arrays([dirs, frontier])
        dirs = dirs.filter(pc.not_equal(dirs, ""))
        empty = pa.scalar("", pa.large_string())
        slash, zero = pa.scalar("/", pa.large_string()), pa.scalar("0", pa.large_string())
        queries = [dirs, pc.binary_join_element_wise(dirs, empty, slash),
                   pc.binary_join_element_wise(dirs, empty, zero),
                   pa.array(targets, type=pa.large_string(), from_pandas=True)]
        nq = sum(len(q) for q in queries)
        # stable: a query goes before an equal path, as searchsorted(side="left") puts it
        merged = np.asarray(pc.sort_indices(pa.chunked_array([*queries, paths])), dtype=np.int64)
        at, order = self._merge(merged, nq)
        names = paths.take(pa.array(order))
        nd = len(dirs)
        named = at[:nd] < len(order)
        named[named] = pc.equal(names.take(pa.array(at[:nd][named])),
                                dirs.filter(pa.array(named))).to_numpy(zero_copy_only=False)
        links = at[3 * nd:]
        ok = links < len(order)
        if len(targets):
            t = queries[3]
            same = np.zeros(len(links), dtype=bool)
            same[ok] = pc.fill_null(pc.equal(names.take(pa.array(links[ok])), t.filter(pa.array(ok))),
                                    False).to_numpy(zero_copy_only=False)
            at[3 * nd:][~same] = -1
        return at, order, names, named

    def _sorted_python(self, uniq, targets):
        names = np.asarray(uniq, dtype=object)
        dirs = {p.rpartition("/")[0] for p in names}
        frontier = dirs
        while frontier:
            frontier = {p.rpartition("/")[0] for p in frontier} - dirs
            dirs |= frontier
        dirs.discard("")
        dirs = np.array(list(dirs), dtype=object)
        order = np.argsort(names, kind="stable")
        names = names[order]
        strs = np.array([t if isinstance(t, str) else "" for t in targets], dtype=object)
        queries = np.concatenate([dirs, dirs + "/", dirs + "0", strs]) if len(dirs) else strs
        at = np.searchsorted(names, queries).astype(np.int64)
        nd = len(dirs)
        clipped = np.minimum(at, max(len(names) - 1, 0))
        hit = (at < len(names)) & (names[clipped] == queries) if len(names) else np.zeros(len(queries), dtype=bool)
        at[3 * nd:][~hit[3 * nd:]] = -1
        return at, order, names, hit[:nd]

    def names_of(self, codes) -> list[str]:
        """The paths of some numbers."""
        if isinstance(self.names, np.ndarray):
            return list(self.names[codes])
        return self.names.take(pa.array(np.asarray(codes, dtype=np.int64))).to_pylist()


class _Layer:
    """What the walk needs of one layer's rows, computed once however many images hold the layer."""

    def __init__(self, rows: np.ndarray, cols: dict, paths: _Paths):
        self.rows = rows
        c = self.codes = paths.codes[rows]
        kind = cols["kind"][rows]
        self.size = cols["size"][rows]
        self.raw = int(self.size.sum())
        self.is_wh = kind == WHITEOUT
        self.wh = np.flatnonzero(self.is_wh)
        adds = np.flatnonzero(~self.is_wh)
        # The last row of a path wins (resolve keeps the last); earlier rows of it are hidden at once.
        last = _followed_by_same(c[adds])
        self.adds, self.self_hidden = adds[~last], adds[last]
        self.add_codes_sorted = np.sort(c[self.adds])
        sc = np.sort(c)
        self.unique = not (sc[1:] == sc[:-1]).any()
        lo, hi = paths.lo[c], paths.hi[c]
        # OCI: whiteouts, opaque directories and non-directories hide what lower layers have below.
        hides = (self.is_wh | (kind == OPAQUE) | (kind == NOT_DIR)) & (hi > lo)
        self.oci_hiders = np.flatnonzero(hides)
        self.dive_hiders = np.flatnonzero(self.is_wh & (hi > lo))
        # dive visits the leaves of the layer's tree (and every whiteout).
        inner = np.searchsorted(sc, hi) > np.searchsorted(sc, lo)
        self.leaves = self.is_wh | ~inner
        self.links = np.flatnonzero(cols["link"][rows] >= 0)


def _followed_by_same(codes: np.ndarray) -> np.ndarray:
    """Where a later element has the same value (pandas' ``duplicated(keep="last")``), in numpy: a
    Series a layer cost more than the rest of the layer's work on a layer of a few files."""
    order = np.argsort(codes, kind="stable")  # equal values keep their order
    out = np.zeros(len(codes), dtype=bool)
    out[order[:-1]] = codes[order[:-1]] == codes[order[1:]]
    return out


class _Acc:
    """dive's per-path occurrences (count, sum of sizes, smallest size) and their totals."""

    def __init__(self, n: int):
        self.cnt = np.zeros(n, dtype=np.int64)
        self.tot = np.zeros(n, dtype=np.int64)
        self.mn = np.zeros(n, dtype=np.int64)
        self.discovered = self.minimum = self.wasted = 0
        self.phantom: list[int] = []

    def add(self, codes, sizes, unique: bool, undo: list):
        if not len(codes):
            return
        if unique:
            c, n_l, s_l, m_l = codes, 1, sizes, sizes
        else:
            c, inverse = np.unique(codes, return_inverse=True)
            n_l = np.bincount(inverse, minlength=len(c)).astype(np.int64)
            s_l = np.zeros(len(c), dtype=np.int64)
            np.add.at(s_l, inverse, sizes)
            m_l = np.full(len(c), np.iinfo(np.int64).max, dtype=np.int64)
            np.minimum.at(m_l, inverse, sizes)
        oc, ot, om = self.cnt[c], self.tot[c], self.mn[c]
        nc, nt = oc + n_l, ot + s_l
        nm = np.where(oc > 0, np.minimum(om, m_l), m_l)
        undo.append((self, c, oc, ot, om, self.discovered, self.minimum, self.wasted, len(self.phantom)))
        self.discovered += int(s_l.sum())
        self.minimum += int(nm.sum()) - int(om[oc > 0].sum())
        self.wasted += int(nt[nc >= 2].sum()) - int(ot[oc >= 2].sum())
        self.cnt[c], self.tot[c], self.mn[c] = nc, nt, nm

    def figures(self, user: int) -> dict:
        phantom = len({c for c in self.phantom if self.cnt[c] == 0})
        return {
            "dive_efficiency": 1.0 if self.discovered == 0 else (self.minimum - phantom) / self.discovered,
            "dive_wasted_bytes": int(self.wasted),
            "dive_user_wasted_percent": go_divide(self.wasted, user),
        }


# The kinds as the walk tells them apart.
WHITEOUT, OPAQUE, DIR, NOT_DIR, OTHER = 0, 1, 2, 3, 9


def hard_links(files: pd.DataFrame) -> np.ndarray:
    """Rows of the files frame that are hard links."""
    return np.flatnonzero((files["kind"] == "hardlink").to_numpy(dtype=bool))


def _columns(files: pd.DataFrame, paths: _Paths) -> dict:
    """The files frame's kind (as numbers), size and hard link targets (as path numbers), whatever
    the frame's dtypes (object, Arrow strings, categorical)."""
    kind = files["kind"]
    code = np.full(len(files), OTHER, dtype=np.int8)
    code[kind.isin(sorted(NOT_DIRS_HIDE)).to_numpy(dtype=bool)] = NOT_DIR
    code[(kind == "dir").to_numpy(dtype=bool)] = DIR
    code[(kind == "opaque").to_numpy(dtype=bool)] = OPAQUE
    code[(kind == "whiteout").to_numpy(dtype=bool)] = WHITEOUT
    link = np.full(len(files), -1, dtype=np.int64)
    link[hard_links(files)] = paths.links
    return {"kind": code, "size": files["size"].to_numpy(dtype=np.int64), "link": link}


def walk(inv, image_ids, base_layers: dict | None = None) -> dict:
    """dive's figures and the hidden entries of every image in ``image_ids``, in one walk.

    Parameters
    ----------
    inv
        An Inventory.
    image_ids
        Full image IDs.
    base_layers
        Per image ID, the layer count of its base (``base_images``' ``base_layer_count``): the
        figures ``*_excluding_base`` squash those layers into one, as ``waste.image_figures`` does.

    Returns
    -------
    dict
        Per image ID, ``waste.image_figures``' dict plus ``hidden_rows`` (positions in
        ``inv.files`` of the entries ``hidden_of`` returns, in its order), ``hidden_positions``
        (their positions in the image), ``hidden_by`` (the position of the layer that hid each),
        ``hidden_overwritten`` (that layer put something at the same path; else it deleted it) and
        ``hidden_path_codes`` (numbers that sort as the paths do).
    """
    base_layers = base_layers or {}
    chains = inv.chains()
    image_ids = list(dict.fromkeys(image_ids))
    # The trie of chains: node 0 is the empty stack.
    children: list[dict] = [{}]
    node_layer: list[str | None] = [None]
    ends: dict[int, list[str]] = {}
    starts: set[int] = set()  # nodes where a squashed base ends (base_layers > 1)
    for iid in image_ids:
        node = 0
        path = [0]
        for lid in chains.get(iid, []):
            nxt = children[node].get(lid)
            if nxt is None:
                nxt = children[node][lid] = len(node_layer)
                children.append({})
                node_layer.append(lid)
            node = nxt
            path.append(node)
        ends.setdefault(node, []).append(iid)
        b = int(base_layers.get(iid, 0))
        if 1 < b <= len(path) - 1:
            starts.add(path[b])
    files = inv.files
    paths = _Paths(files["path"], files["link_target"].take(hard_links(files)).to_numpy(dtype=object))
    cols = _columns(files, paths)
    if "files_by_layer" not in inv.cache:
        inv.cache["files_by_layer"] = files.groupby("layer_id", observed=True, sort=False).indices
    by_layer = inv.cache["files_by_layer"]
    layers: dict[str, _Layer] = {}
    for lid in set(node_layer[1:]):
        rows = by_layer.get(lid)
        layers[lid] = _Layer(np.asarray(rows if rows is not None else _EMPTY, dtype=np.int64), cols, paths)
    total = sum(len(layers[lid].rows) for lid in node_layer[1:])
    n_paths = paths.n
    # Entries: one per (trie node, row of its layer), numbered in walk order, so along one chain
    # entry numbers grow with position and, within a layer, with the files frame's row order.
    ent_row = np.zeros(total, dtype=np.int64)
    ent_pos = np.zeros(total, dtype=np.int64)
    ent_node = np.zeros(total, dtype=np.int64)
    size, kind = cols["size"], cols["kind"]
    oci = np.full(n_paths, -1, dtype=np.int64)
    dive = np.full(n_paths, -1, dtype=np.int64)
    full = _Acc(n_paths)
    out: dict[str, dict] = {}
    state = {"next": 0}
    # Along the current chain: raw bytes below each depth, hidden entries and hard links per layer,
    # and the accumulators of squashed bases (by base depth).
    raw_below = [0]
    hidden_stack: list[tuple] = []  # (entries, position of the layer that hid them, overwritten)
    links_stack: list[np.ndarray] = []
    squashed: dict[int, _Acc] = {}

    def figures_of(node: int, depth: int):
        if hidden_stack:
            hidden, by, over = (np.concatenate(parts) for parts in zip(*hidden_stack))
            keep = np.argsort(hidden, kind="stable")
            keep = keep[size[ent_row[hidden[keep]]] > 0]
            hidden, by, over = hidden[keep], by[keep], over[keep]
        else:
            hidden, by, over = _EMPTY, _EMPTY, np.zeros(0, dtype=bool)
        links = np.concatenate(links_stack) if links_stack else _EMPTY
        if len(links) and len(hidden):
            # A hidden file still shows through a visible hard link to it in the same layer.
            visible = links[oci[paths.codes[ent_row[links]]] == links]
            if len(visible):
                shown = set(zip(ent_node[visible].tolist(), cols["link"][ent_row[visible]].tolist()))
                keep = np.array([k not in shown
                                 for k in zip(ent_node[hidden].tolist(), paths.codes[ent_row[hidden]].tolist())],
                                dtype=bool)
                hidden, by, over = hidden[keep], by[keep], over[keep]
        user = raw_below[depth] - raw_below[min(depth, 1)]
        fig = {**full.figures(user), "dive_size_bytes": raw_below[depth], "dive_user_size_bytes": user}
        hsize = size[ent_row[hidden]]
        hpos = ent_pos[hidden]
        for iid in ends[node]:
            b = int(base_layers.get(iid, 0))
            sq = squashed[b].figures(raw_below[depth] - raw_below[b]) if b in squashed else fig
            out[iid] = {
                **fig,
                "reclaimable_bytes": int(hsize.sum()),
                "reclaimable_bytes_excluding_base": int(hsize[hpos >= b].sum()),
                "dive_efficiency_excluding_base": sq["dive_efficiency"],
                "dive_wasted_bytes_excluding_base": sq["dive_wasted_bytes"],
                "dive_user_wasted_percent_excluding_base": sq["dive_user_wasted_percent"],
                "hidden_rows": ent_row[hidden],
                "hidden_positions": hpos,
                "hidden_by": by,
                "hidden_path_codes": paths.codes[ent_row[hidden]],
                "hidden_overwritten": over,
            }

    def apply(node: int, depth: int, undo: list):
        """Stack the layer of ``node`` (at position depth - 1) on the state; record how to undo it."""
        lay = layers[node_layer[node]]
        n = len(lay.rows)
        ids = np.arange(state["next"], state["next"] + n, dtype=np.int64)
        state["next"] += n
        ent_row[ids], ent_pos[ids], ent_node[ids] = lay.rows, depth - 1, node
        c = lay.codes
        # dive: a whiteout's size is what it deletes in dive's stacked tree below (a directory's
        # subtree, a file 0); a whiteout of nothing stops dive's walk of the layer there.
        occ_size = lay.size.copy()
        missing = []
        for i in lay.wh:
            e = dive[c[i]]
            if e < 0:
                missing.append(i)
            elif kind[ent_row[e]] in (DIR, OPAQUE):
                seg = dive[paths.lo[c[i]]:paths.hi[c[i]]]
                occ_size[i] = size[ent_row[e]] + int(size[ent_row[seg[seg >= 0]]].sum())
            else:
                occ_size[i] = 0
        visit = lay.leaves
        accs = [full, *squashed.values()]
        if missing:
            names = paths.names_of(c)
            keys = [postorder_key(p, w) for p, w in zip(names, lay.is_wh)]
            first = min(missing, key=lambda i: keys[i])
            visit = visit & np.fromiter((k < keys[first] for k in keys), dtype=bool, count=n)
            for acc in accs:
                if acc.cnt[c[first]] == 0:
                    # undone on the way back up like the rest: a sibling branch of the tree
                    # (another image of the batch) must not see this image's phantom
                    undo.append((acc.phantom, len(acc.phantom)))
                    acc.phantom.append(int(c[first]))
        for acc in accs:
            acc.add(c[visit], occ_size[visit], lay.unique, undo)
        # dive's state: whiteouts delete the path and its subtree; adds replace the path.
        _clear(dive, c[lay.wh], undo)
        for i in lay.dive_hiders:
            _clear_range(dive, paths.lo[c[i]], paths.hi[c[i]], undo)
        # OCI's state, and the entries this layer hides.
        hidden = [ids[lay.self_hidden], _clear(oci, c[lay.wh], undo)]
        for i in lay.oci_hiders:
            hidden.append(_clear_range(oci, paths.lo[c[i]], paths.hi[c[i]], undo))
        for state_ in (dive, oci):
            ac = c[lay.adds]
            old = state_[ac]
            undo.append((state_, ac, old))
            if state_ is oci:
                hidden.append(old[old >= 0])
            state_[ac] = ids[lay.adds]
        hidden = np.concatenate(hidden)
        # Who hid each entry (for waste by Dockerfile line): this layer; overwritten when it puts
        # something at the entry's path, else deleted.
        at = np.searchsorted(lay.add_codes_sorted, paths.codes[ent_row[hidden]])
        over = at < len(lay.add_codes_sorted)
        over[over] = lay.add_codes_sorted[at[over]] == paths.codes[ent_row[hidden[over]]]
        hidden_stack.append((hidden, np.full(len(hidden), depth - 1, dtype=np.int64), over))
        links_stack.append(ids[lay.links])
        raw_below.append(raw_below[-1] + lay.raw)
        if node in starts:
            squashed[depth] = _squashed_start(dive, paths, size, ent_row)

    from tqdm.auto import tqdm

    # disable=None: a bar only on a terminal, and only for trees big enough to take a while
    bar = tqdm(total=len(node_layer) - 1, desc="stacking layers", unit="layer", leave=False,
               disable=None if total > 200_000 else True)

    def visit_node(node: int, depth: int):
        undo: list = []
        if node:
            apply(node, depth, undo)
            bar.update(1)
        if node in ends:
            figures_of(node, depth)
        for child in children[node].values():
            visit_node(child, depth + 1)
        if node:
            squashed.pop(depth, None)
            hidden_stack.pop()
            links_stack.pop()
            raw_below.pop()
            for u in reversed(undo):
                if isinstance(u[0], _Acc):
                    acc, c, oc, ot, om, d, m, w, nph = u
                    acc.cnt[c], acc.tot[c], acc.mn[c] = oc, ot, om
                    acc.discovered, acc.minimum, acc.wasted = d, m, w
                    del acc.phantom[nph:]
                elif isinstance(u[0], list):  # a phantom list, back to its length before the layer
                    del u[0][u[1]:]
                else:
                    arr, where, old = u
                    arr[where] = old

    with bar:
        visit_node(0, 0)  # one Python frame per layer of the longest chain (docker allows 127)
    return out


def _clear(arr: np.ndarray, where: np.ndarray, undo: list) -> np.ndarray:
    """Set ``arr[where]`` to -1 (nothing shown); the entries it held."""
    old = arr[where]
    undo.append((arr, where, old))
    arr[where] = -1
    return old[old >= 0]


def _clear_range(arr: np.ndarray, lo: int, hi: int, undo: list) -> np.ndarray:
    seg = arr[lo:hi]
    at = np.flatnonzero(seg >= 0)
    if not len(at):
        return _EMPTY
    return _clear(arr, at + lo, undo)


def _squashed_start(dive: np.ndarray, paths: _Paths, size: np.ndarray, ent_row: np.ndarray) -> _Acc:
    """A fresh accumulator holding the base squashed into one layer: the leaves of dive's stacked tree."""
    acc = _Acc(len(dive))
    shown = dive >= 0
    below = np.concatenate([[0], np.cumsum(shown, dtype=np.int64)])
    vis = np.flatnonzero(shown)
    leaves = vis[below[paths.hi[vis]] == below[paths.lo[vis]]]
    s = size[ent_row[dive[leaves]]]
    acc.cnt[leaves], acc.tot[leaves], acc.mn[leaves] = 1, s, s
    acc.discovered = acc.minimum = int(s.sum())
    return acc
