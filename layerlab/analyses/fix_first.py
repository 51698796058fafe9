"""What to fix first on a host: every byte that could be freed, hidden or bloat, counted once, ranked.

Hidden bytes (``waste``: stored in a layer, never seen because a later layer overwrote or deleted
them) and bloat (``bloat``: seen, but caches, bytecode, test suites, docs...) are disjoint within
one image, yet images share layers: the same (layer, path) is hidden or bloat in every image that
uses the layer. So findings are keyed by layer, not by image: one row per (layer, what), each
(layer, path) counted once across all images, naming the images that carry it.

Also the defaults the notebooks open on (``pick_image``: the image with the most to reclaim;
``pick_pair``: two images that share a base), so a page starts where there is something to see.
"""

from __future__ import annotations

import pandas as pd

from ..display import command_label, short_name
from ..errors import IMAGES, OPTIONAL_IMAGE, Expect, whole_number
from .hygiene.bloat import RULES_TABLE
from .opening import analysis

#: The change that avoids hidden bytes: written in one layer, overwritten or deleted by a later one.
HIDDEN_FIX = ("delete or change these files in the same RUN that writes them (a later RUN cannot free them), "
              "or build in a multi-stage build and COPY only the result into the final stage")
FIX_COLUMNS = ["image", "image_id", "images", "position", "layer_id", "command", "what", "bytes", "paths",
               "examples", "fix"]


def _rows_of(inv, image_ids, rules=None) -> pd.DataFrame:
    """Every (layer, path) some image hides or shows as bloat: ``layer_id``, ``path``, ``bytes``,
    ``what`` (``hidden`` or a bloat category), ``fix``, ``image_id`` (the first image met)."""
    from .dive.waste import hidden_of, stack_all
    from .hygiene.bloat import bloat_files, bloat_rules

    stack_all(inv, image_ids, hidden_only=True)
    table = bloat_rules(rules)
    parts = []
    for iid in image_ids:
        h = hidden_of(inv, iid)
        if len(h):
            parts.append(pd.DataFrame({"layer_id": h["layer_id"].astype(object), "path": h["path"].astype(object),
                                       "bytes": h["size"].astype("int64"), "what": "hidden", "fix": HIDDEN_FIX,
                                       "image_id": iid}))
        b = bloat_files(inv, iid, rules=rules)
        if len(b):
            parts.append(pd.DataFrame({"layer_id": b["layer_id"].astype(object), "path": b["path"].astype(object),
                                       "bytes": b["bytes"].astype("int64"), "what": b["category"].astype(object),
                                       "fix": table["fix"].to_numpy()[b["rule"].to_numpy()], "image_id": iid}))
    if not parts:
        return pd.DataFrame(columns=["layer_id", "path", "bytes", "what", "fix", "image_id"])
    rows = pd.concat(parts, ignore_index=True)
    # Each (layer, path) once: the same bytes are hidden or bloat in every image using the layer.
    return rows.drop_duplicates(["layer_id", "path"], keep="first").reset_index(drop=True)


TOP = Expect("a whole number (1 or more) or None", none=True, test=whole_number(1))


@analysis(images=IMAGES, top=TOP, rules=RULES_TABLE)
def fix_first(source, images=None, *, top: int | None = None, rules=None) -> pd.DataFrame:
    """What could be freed on a source, hidden bytes and bloat, each (layer, path) counted once, as a
    ranked list of fixes.

    Parameters
    ----------
    {source}
    images
        Tags or IDs (default: every image ``docker images`` lists).
    top
        Keep only the ``top`` largest findings (the totals in ``attrs`` still count every byte).
    rules
        Extra or overriding bloat rules (see ``analyses.bloat_rules``).

    Returns
    -------
    DataFrame
        One row per (layer, what), largest first: ``image`` (the image that made the layer: of the
        images using it, the one with the fewest layers), ``image_id``, ``images`` (how many listed
        images carry the layer),
        ``position`` and ``layer_id`` (the layer that stores the bytes), ``command`` (the Dockerfile
        command that made it), ``what`` (``hidden`` or a bloat category), ``bytes``, ``paths``,
        ``examples`` (up to three of the largest paths) and ``fix`` (the change that avoids it).
        ``attrs``: ``total_bytes`` (every finding, each byte once), ``hidden_bytes``, ``bloat_bytes``.
    """
    inv = source
    if images is None:
        listed = inv.listed.sort_values(["size", "image_id"], ascending=[False, True])
        ids = list(listed["image_id"])
    else:
        ids = [inv.image_id(i) for i in ([images] if isinstance(images, str) else images)]
    rows = _rows_of(inv, ids, rules)
    il = inv.image_layers[inv.image_layers["image_id"].isin(ids)]
    users = il.groupby("layer_id")["image_id"].nunique()
    where = il.drop_duplicates(["image_id", "layer_id"]).set_index(["image_id", "layer_id"])
    names = {r.image_id: short_name(r.tags, r.image_id) for r in inv.images.itertuples(index=False)}
    # A layer is named after the image that made it: of those using it, the one with the fewest
    # layers (tagged first): its Dockerfile is the one to change.
    images = inv.images.set_index("image_id")
    maker = (il.assign(untagged=il["image_id"].map(images["tags"].map(len) == 0),
                       layers=il["image_id"].map(images["layer_count"]))
             .sort_values(["untagged", "layers", "image_id"]).drop_duplicates("layer_id")
             .set_index("layer_id")["image_id"])
    out = []
    for (layer_id, what), g in rows.groupby(["layer_id", "what"], sort=False):
        g = g.sort_values(["bytes", "path"], ascending=[False, True])
        iid = maker.get(layer_id, g["image_id"].iloc[0])
        at = where.loc[(iid, layer_id)]
        out.append({"image": names.get(iid, iid), "image_id": iid, "images": int(users.get(layer_id, 1)),
                    "position": int(at["position"]), "layer_id": layer_id,
                    "command": command_label(at["created_by"], 80), "what": what, "bytes": int(g["bytes"].sum()),
                    "paths": len(g), "examples": list(g["path"].head(3)),
                    # the fix of the rule that matched the most bytes here
                    "fix": g.groupby("fix")["bytes"].sum().idxmax()})
    df = pd.DataFrame(out, columns=FIX_COLUMNS)
    df = df.astype({"images": "int64", "position": "int64", "bytes": "int64", "paths": "int64"})
    df = df.sort_values(["bytes", "image", "position"], ascending=[False, True, True], kind="stable")
    df = df.reset_index(drop=True)
    hidden = int(rows.loc[rows["what"] == "hidden", "bytes"].sum())
    total = int(rows["bytes"].sum())
    if top is not None:
        df = df.head(top)
    df.attrs.update(total_bytes=total, hidden_bytes=hidden, bloat_bytes=total - hidden, images=len(ids))
    return df


@analysis(images=IMAGES, rules=RULES_TABLE)
def reclaim_by_image(source, images=None, *, rules=None) -> pd.Series:
    """Bytes each image could shed, hidden plus bloat (within one image each byte once), largest
    first: the order ``pick_image`` follows."""
    inv = source
    ids = list(inv.listed["image_id"]) if images is None else [inv.image_id(i) for i in images]
    cache = inv.cache.setdefault("reclaim_by_image", {})
    for iid in ids:
        if iid not in cache:
            rows = _rows_of(inv, [iid], rules)
            cache[iid] = int(rows["bytes"].sum())
    return pd.Series({iid: cache[iid] for iid in ids}, dtype="int64").sort_values(ascending=False, kind="stable")


@analysis(image=OPTIONAL_IMAGE)
def pick_image(source, image=None) -> str:
    """The image a page opens on: ``image`` when given, else the tagged image with the most to
    reclaim (hidden bytes and bloat), then the most layers; ``resolve_image``'s choice when nothing
    can be reclaimed."""
    inv = source
    if image is not None and str(image).strip():
        return inv.image_id(str(image))
    pool = inv.tagged if len(inv.tagged) else inv.listed
    if len(pool) == 0:
        return inv.resolve_image(None)
    reclaim = reclaim_by_image(inv, list(pool["image_id"]))
    ranked = pool.assign(reclaim=pool["image_id"].map(reclaim).fillna(0))
    ranked = ranked.sort_values(["reclaim", "layer_count", "size", "image_id"], ascending=[False, False, False, True])
    return ranked["image_id"].iloc[0] if ranked["reclaim"].iloc[0] > 0 else inv.resolve_image(None)


def _repository(tag: str) -> str:
    name, _, last = tag.rpartition(":")
    return name if name and "/" not in last else tag


@analysis(a=OPTIONAL_IMAGE, b=OPTIONAL_IMAGE)
def pick_pair(source, a=None, b=None) -> tuple[str, str]:
    """Two images worth comparing: ``a`` and ``b`` when given; else two tags of one repository (the
    two newest), else the two tagged images sharing the most base bytes, else the two largest.
    With only ``a`` given, the image most like it."""
    inv = source
    pool = inv.tagged if len(inv.tagged) else inv.listed
    if a and b:
        return inv.image_id(a), inv.image_id(b)
    chains = inv.chains()
    sizes = inv.image_layers.drop_duplicates("layer_id").set_index("layer_id")["size"]

    def shared(x: str, y: str) -> int:
        total = 0
        for lx, ly in zip(chains.get(x, []), chains.get(y, [])):
            if lx != ly:
                break
            total += int(sizes.get(lx, 0))
        return total

    ids = list(pool.sort_values(["size", "image_id"], ascending=[False, True])["image_id"])
    first = inv.image_id(a) if a else None
    if first is None:
        # Tags of one repository first: the versions of one image are what people compare.
        by_repo: dict[str, list] = {}
        for r in pool.sort_values(["created", "image_id"], ascending=[False, True]).itertuples(index=False):
            for repo in {_repository(t) for t in r.tags}:
                by_repo.setdefault(repo, []).append(r.image_id)
        pairs = [(v[1], v[0]) for v in by_repo.values() if len(v) >= 2 and v[0] != v[1]]
        if pairs:
            return _older_first(inv, max(pairs, key=lambda p: (shared(*p), p)))
    candidates = [first] if first else ids
    best, best_shared = None, 0
    for x in candidates:
        for y in ids:
            if y != x:
                s = shared(x, y)
                if s > best_shared:
                    best, best_shared = (x, y), s
    if best is not None:
        return best if first else _older_first(inv, best)
    return inv.pick_two(a, b)


def _older_first(inv, pair: tuple[str, str]) -> tuple[str, str]:
    created = inv.images.set_index("image_id")["created"]
    x, y = pair
    cx, cy = created.get(x), created.get(y)
    return (y, x) if pd.notna(cx) and pd.notna(cy) and cy < cx else (x, y)
