"""What a diff means for the image's size: content changes first, metadata-only changes grouped,
and the size difference split by the layers (Dockerfile commands) only one image has.

A rebuild rewrites every file a RUN step touches, so two builds of one Dockerfile differ in
hundreds of paths whose only change is the mtime (``/etc/ssl/certs`` after ``update-ca-certificates``)
while the few files whose content changed (``pkgcache.bin``) are what the bytes are about.
"""

from __future__ import annotations

import pandas as pd
from ..opening import analysis

#: Changes that leave the bytes alone.
METADATA = frozenset({"mode", "owner", "mtime"})
RANKED_COLUMNS = ["status", "path", "changes", "kind", "size_a", "size_b", "size_delta", "bytes", "paths", "grouped"]


def metadata_only(diff: pd.DataFrame) -> pd.Series:
    """True for changed paths whose only changes are mode, owner or mtime.

    A regular file whose content could not be compared (a snapshot without its data root, same
    size) is not metadata-only: its bytes may have changed.
    """
    changes = diff["changes"].astype(object)
    only_meta = changes.map(lambda c: isinstance(c, str) and bool(c) and set(c.split(",")) <= METADATA).astype(bool)
    unknown = (diff["kind_a"].astype(object) == "file") & diff["content_changed"].isna()
    return (diff["status"] == "changed") & only_meta & ~unknown.astype(bool)


def ranked(diff: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``analyses.diff_images`` in the order an engineer reads them.

    Added, removed and content-changed paths come first, by ``bytes`` (the larger of the two
    sizes: a 39 MB file rewritten with new content ranks as 39 MB even when its size did not
    change); a file whose content could not be compared is among them, its ``changes`` ending
    in ``content?``. Then metadata-only changes, one row per directory and kind of change, most
    paths first.

    Returns
    -------
    DataFrame
        ``status``, ``path`` (the directory for a grouped row), ``changes``, ``kind``,
        ``size_a``, ``size_b``, ``size_delta``, ``bytes``, ``paths`` (1, or the paths grouped),
        ``grouped`` (True for a directory's metadata-only changes).
    """
    if diff.empty:
        return pd.DataFrame(columns=RANKED_COLUMNS)
    meta = metadata_only(diff)
    content = diff[~meta]
    unknown = ((content["status"] == "changed") & (content["kind_a"].astype(object) == "file")
               & content["content_changed"].isna())
    changes = content["changes"].astype(object).where(content["changes"].notna(), None)
    changes = changes.where(~unknown, changes.map(lambda c: ",".join(filter(None, [c, "content?"]))))
    rows = pd.DataFrame({
        "status": content["status"].astype(object),
        "path": content["path"].astype(object),
        "changes": changes,
        "kind": content["kind_b"].astype(object).where(content["kind_b"].notna(), content["kind_a"]).astype(object),
        "size_a": content["size_a"].astype("int64"),
        "size_b": content["size_b"].astype("int64"),
        "size_delta": content["size_delta"].astype("int64"),
        "bytes": content[["size_a", "size_b"]].max(axis=1).astype("int64"),
        "paths": 1,
        "grouped": False,
    })
    rows = rows.sort_values(["bytes", "path"], ascending=[False, True], kind="stable")
    m = diff[meta]
    if len(m):
        parents = m["path"].astype(object).str.rpartition("/")[0].replace("", "/")
        g = (m.assign(_dir=parents.to_numpy(), _changes=m["changes"].astype(object).to_numpy())
             .groupby(["_dir", "_changes"], sort=False)
             .agg(paths=("path", "count"), size_a=("size_a", "sum"), size_b=("size_b", "sum")).reset_index())
        groups = pd.DataFrame({
            "status": "changed",
            "path": g["_dir"].astype(object),
            "changes": g["_changes"].astype(object) + " only",
            "kind": None,
            "size_a": g["size_a"].astype("int64"),
            "size_b": g["size_b"].astype("int64"),
            "size_delta": (g["size_b"] - g["size_a"]).astype("int64"),
            "bytes": 0,
            "paths": g["paths"].astype("int64"),
            "grouped": True,
        }).sort_values(["paths", "path"], ascending=[False, True], kind="stable")
        rows = pd.concat([rows, groups], ignore_index=True)
    rows = rows.reset_index(drop=True).astype({"bytes": "int64", "paths": "int64", "grouped": "bool"})
    for col in ("status", "path", "changes", "kind"):
        rows[col] = rows[col].astype(object).where(rows[col].notna(), None)
    return rows[RANKED_COLUMNS]


@analysis()
def size_split(source, a, b, *, source_b=None) -> dict:
    """The image size difference (``docker image inspect`` Size, b - a) and the layers behind it.

    Returns
    -------
    dict
        ``size_a``, ``size_b``, ``delta``; ``layers``: one dict per layer only one image has
        (``in``: ``a`` or ``b``, ``position``, ``layer_id``, ``bytes`` signed: negative for a
        layer only ``a`` has, ``created_by``), largest first. The signed bytes add up to
        ``delta`` whenever the images' sizes are their layers' sizes (always, for local images).
    """
    from ...sources import open_source
    from .diff import diff_layers

    inv = source
    inv_b = inv if source_b is None else open_source(source_b)
    ia, ib = inv.image_id(a), inv_b.image_id(b)
    size_a = int(inv.images.set_index("image_id").loc[ia, "size"])
    size_b = int(inv_b.images.set_index("image_id").loc[ib, "size"])
    layers = diff_layers(inv, ia, ib, source_b=inv_b)
    only = layers[layers["in"] != "both"]
    rows = []
    for lid, where, pa, pb, size, cmd in zip(only["layer_id"], only["in"], only["position_a"], only["position_b"],
                                             only["size"], only["created_by"]):
        rows.append({
            "in": where,
            "position": int(pa if where == "a" else pb),
            "layer_id": lid,
            "bytes": int(size) * (-1 if where == "a" else 1),
            "created_by": None if cmd is None or pd.isna(cmd) else str(cmd),
        })
    rows.sort(key=lambda r: (-abs(r["bytes"]), r["in"], r["position"]))
    return {"size_a": size_a, "size_b": size_b, "delta": size_b - size_a, "layers": rows}
