"""Tables for people: the frames trimmed to what a reader scans, sizes as text, long names kept legible.

These only select and format; numbers come from the frames and ``layerlab.analyses``. Notebooks,
reports and widgets show them; each takes an Inventory (or an analysis frame), like the charts.
"""

from __future__ import annotations

import pandas as pd

from .display import command_label, human_bytes, image_names, shorten
from .errors import FLAG, OPTIONAL_IMAGE, Expect, check_argument, expects
from .frames.inventory import FRAME_NAMES, INVENTORY, require_inventory
from .frames.schema import FRAMES

TABLE = Expect("a DataFrame (an analysis' result)", pd.DataFrame)
OPTIONAL_TABLE = Expect("a DataFrame (an analysis' result) or None", pd.DataFrame, none=True)
# By what they hold, so that this module need not import the registry readers.
REGISTRY_FRAMES = Expect("registry frames (layerlab.sources.registry.registry_frames(...))",
                         test=lambda v: all(hasattr(v, a) for a in ("manifests", "layers", "blobs")))
AUDIT = Expect("a storage audit (layerlab.sources.registry.audit_storage(...))",
               test=lambda v: all(hasattr(v, a) for a in ("repositories", "blobs", "gc", "gc_untagged")))
OPTIONAL_AUDIT = Expect(AUDIT.what + " or None", none=True, test=AUDIT.test)
BLOBS = Expect("registry data (a registry_layers/registry_blobs frame or a storage audit's blobs), a dict of "
               "digest to bytes, or None", pd.DataFrame, dict, none=True)
COLUMNS = Expect("a list of column names, or None", list, tuple, set, frozenset, none=True, each=str)


@expects(inv=INVENTORY)
def frame_overview(inv) -> pd.DataFrame:
    """One row per frame: its name, rows, and what one row is."""
    inv = require_inventory(inv, "layerlab.tables")
    one_row = {
        "images": "an image", "layers": "an image, init or container layer",
        "image_layers": "an (image, layer position)",
        "history": "an (image, history entry)", "containers": "a container", "files": "a (layer, path)",
        "skipped": "something that could not be read",
    }
    counts = inv.image_counts()
    # The images frame also holds the classic builder's intermediate images: say so beside the count
    # docker images gives, which every other page uses.
    one_row["images"] = (f"an image ({counts['images']} listed by docker images, "
                         f"{counts['all_images'] - counts['images']} "
                         "intermediate build images)")
    return pd.DataFrame([(n, len(getattr(inv, n)), one_row[n], len(FRAMES[n])) for n in FRAME_NAMES],
                        columns=["frame", "rows", "one row is", "columns"])


@expects(inv=INVENTORY, include_untagged=FLAG)
def images_table(inv, *, include_untagged: bool = False) -> pd.DataFrame:
    """Images as ``docker system df -v`` lists them: name, short ID, size, shared, unique, layers, containers."""
    inv = require_inventory(inv, "layerlab.tables")
    images = inv.images if include_untagged else inv.tagged
    images = images.sort_values(["size", "image_id"], ascending=[False, True])
    return pd.DataFrame({
        "image": image_names(images).to_numpy(),
        "id": images["image_id"].str.removeprefix("sha256:").str[:12].to_numpy(),
        "tags": images["tags"].map(len).to_numpy(),
        "size": images["size"].map(human_bytes).to_numpy(),
        "shared": images["shared_size"].map(human_bytes).to_numpy(),
        "unique": images["unique_size"].map(human_bytes).to_numpy(),
        "layers": images["layer_count"].to_numpy(),
        "containers": images["container_count"].to_numpy(),
        "created": to_minute(images["created"]),
    })


def to_minute(times: pd.Series):
    """Times as ``YYYY-MM-DD HH:MM`` text (each in its own zone; None for NaT). Through numpy, not
    ``strftime``: pandas 2.2 writes year 1 (a reproducible build's ``created``) as ``1-01-01``."""
    import numpy as np

    wall = times.dt.tz_localize(None) if times.dt.tz is not None else times
    text = np.datetime_as_string(wall.to_numpy().astype("datetime64[m]"), unit="m").astype(object)
    text = np.char.replace(text.astype(str), "T", " ").astype(object) if len(text) else text
    text[wall.isna().to_numpy()] = None
    return text


@expects(inv=INVENTORY)
def containers_table(inv) -> pd.DataFrame:
    """Containers with their image's name and read-write layer size."""
    inv = require_inventory(inv, "layerlab.tables")
    names = image_names(inv.images)
    c = inv.containers
    return pd.DataFrame({
        "container": c["name"].to_numpy(),
        "id": c["container_id"].str[:12].to_numpy(),
        "image": c["image_id"].map(names).to_numpy(),
        "state": c["state"].to_numpy(),
        "read-write layer": c["rw_size"].map(human_bytes).to_numpy(),
    })


@expects(inv=INVENTORY, image=OPTIONAL_IMAGE)
def layers_table(inv, image=None) -> pd.DataFrame:
    """An image's layers, base first: position, command, size, files, whiteouts, opaque dirs, images sharing it."""
    inv = require_inventory(inv, "layerlab.tables")
    image_id = inv.resolve_image(image)
    chain = inv.image_layers[inv.image_layers["image_id"] == image_id].sort_values("position")
    layers = inv.layers.set_index("layer_id")
    return pd.DataFrame({
        "position": chain["position"].to_numpy(),
        "command": chain["created_by"].map(lambda c: command_label(c, 70)).to_numpy(),
        "size": chain["size"].map(human_bytes).to_numpy(),
        "on disk": chain["layer_id"].map(layers["disk_usage"]).map(human_bytes).to_numpy(),
        "files": chain["layer_id"].map(layers["file_count"]).to_numpy(),
        "whiteouts": chain["layer_id"].map(layers["whiteout_count"]).to_numpy(),
        "opaque dirs": chain["layer_id"].map(layers["opaque_count"]).to_numpy(),
        # images docker images lists (the count every page gives), not the builder's intermediate ones
        "used by images": chain["layer_id"].map(_listed_users(inv)).fillna(0).astype("int64").to_numpy(),
    })


def _listed_users(inv) -> pd.Series:
    il = inv.image_layers[inv.image_layers["image_id"].isin(inv.listed["image_id"])]
    return il.groupby("layer_id")["image_id"].nunique()


@expects(inv=INVENTORY)
def markers_table(inv) -> pd.DataFrame:
    """Every whiteout and opaque-directory marker: which layer (image and position, or container) and path;
    markers of one layer in one directory on one row (``markers``: how many)."""
    inv = require_inventory(inv, "layerlab.tables")
    f = inv.files[inv.files["kind"].isin(["whiteout", "opaque"])]
    names = image_names(inv.images)
    # Name a layer after a tagged image using it when there is one, not a builder step.
    tagged = inv.image_layers["image_id"].isin(inv.tagged["image_id"])
    il = (inv.image_layers.assign(untagged=~tagged).sort_values(["untagged", "image_id"], kind="stable")
          .drop_duplicates("layer_id").set_index("layer_id"))
    cont = inv.containers.set_index("layer_id")["name"]

    def where(layer_id: str) -> str:
        if layer_id in cont.index:
            return f"container {cont[layer_id]}"
        if layer_id in il.index:
            return f"{names.get(il.at[layer_id, 'image_id'], '?')} layer {il.at[layer_id, 'position']}"
        return layer_id[:19]

    rows = pd.DataFrame({
        "layer": f["layer_id"].map(where).to_numpy(),
        "marker": f["kind"].map({"whiteout": "whiteout (deletes)",
                                 "opaque": "opaque dir (hides lower contents)"}).to_numpy(),
        "path": f["path"].to_numpy(),
    })
    # One row per (layer, marker, directory): a `rm -rf` of a tree writes a whiteout per entry.
    rows["directory"] = rows["path"].map(lambda p: p.rsplit("/", 1)[0] or "/")
    g = rows.sort_values("path").groupby(["layer", "marker", "directory"], sort=True)
    out = g.agg(markers=("path", "size"), first=("path", "first")).reset_index()
    out["path"] = [first if n == 1 else f"{d.rstrip('/')}/… ({n} entries)" for first, n, d in
                   zip(out["first"], out["markers"], out["directory"])]
    return out[["layer", "marker", "path", "markers"]].sort_values(["layer", "path"]).reset_index(drop=True)


@expects(inv=INVENTORY, blobs=BLOBS)
def distribution_table(inv, blobs=None) -> pd.DataFrame:
    """Image layers with the registry (compressed) digests the daemon recorded when it pulled or
    pushed them; with ``blobs`` (registry data: a live registry's frames or a storage audit's blobs)
    also each one's compressed size, or why it is unknown, by the one rule of
    ``analyses.drivers.compressed.layer_compressed`` that the charts use too."""
    from .analyses.drivers.compressed import layer_compressed

    inv = require_inventory(inv, "layerlab.tables")
    layers = inv.layers[(inv.layers["kind"] == "image")]
    has = layers["compressed"].map(lambda v: v is not None and len(v) > 0)
    rule = layer_compressed(inv, blobs).set_index("layer_id").reindex(layers["layer_id"])
    out = pd.DataFrame({
        "layer": layers["layer_id"].str.removeprefix("sha256:").str[:12].to_numpy(),
        "apparent size": layers["size"].map(human_bytes).to_numpy(),
        "images": layers["image_count"].to_numpy(),
        "compressed digests": layers["compressed"].map(lambda v: ", ".join(d.removeprefix("sha256:")[:12]
                                                                           for d in (v if v is not None
                                                                               else []))).to_numpy(),
        "known to a registry": has.to_numpy(),
    })
    if blobs is not None:
        out["compressed size"] = [human_bytes(n) if pd.notna(n) else f"unknown: {why}"
                                  for n, why in zip(rule["compressed_size"], rule["unknown_reason"])]
    return out


@expects(df=TABLE)
def readable(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` as text for a page: byte columns as sizes, lists joined, times to the minute, numbers
    rounded, booleans as yes / no, missing values as "—". Every table of a report goes through it (no index column)."""
    out = bytes_columns(df)
    for col in out.columns:
        values = out[col]
        if str(col).endswith("path") or col == "paths" and values.dtype == object:
            # the middle goes, so the file name at the end stays
            out[col] = values.map(lambda v: shorten(v, PATH_WIDTH) if isinstance(v, str) else v)
            values = out[col]
        if pd.api.types.is_integer_dtype(values) and not pd.api.types.is_bool_dtype(values):
            out[col] = values.astype(object).map(lambda v: MISSING if pd.isna(v) else f"{int(v):,}")
        elif pd.api.types.is_bool_dtype(values):
            out[col] = values.astype(object).map(_yes_no)
        elif pd.api.types.is_datetime64_any_dtype(values):
            out[col] = to_minute(values)
        elif pd.api.types.is_float_dtype(values):
            out[col] = values.astype(object).map(_number)
        elif values.dtype == object or pd.api.types.is_string_dtype(values):
            out[col] = values.astype(object).map(_cell)
    out = out.astype(object).where(out.notna(), MISSING)
    return out.rename(columns=header)


#: How a missing value reads in a table.
MISSING = "—"
#: Characters a path keeps in a table; longer ones lose their middle ("…").
PATH_WIDTH = 72
#: Column names an analysis uses that read badly as headers.
HEADERS = {"layer_refs": "layers used (summed over images)", "logical_size": "stored alone", "physical_size": "stored",
           "dedup_ratio": "dedup ratio", "saved_bytes": "saved", "distinct_layers": "distinct layers"}


def header(col) -> str:
    """A column's header for readers: ``HEADERS``, else the name with spaces for underscores."""
    return HEADERS.get(col, str(col).replace("_", " ")) if isinstance(col, str) else col


def _yes_no(v):
    return MISSING if v is None or pd.isna(v) else ("yes" if v else "no")


def _number(v):
    if v is None or pd.isna(v):
        return MISSING
    if v in (float("inf"), float("-inf")):
        return MISSING
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def _cell(v):
    if isinstance(v, bool):
        return _yes_no(v)
    if isinstance(v, (list, tuple)) or (hasattr(v, "tolist") and not isinstance(v, str) and getattr(v, "ndim", 0) == 1):
        items = [str(x) for x in (v.tolist() if hasattr(v, "tolist") else v)]
        return ", ".join(items) if items else MISSING
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return MISSING
    return v


def figures_table(figures: dict) -> pd.DataFrame:
    """A dict of figures (``fleet.summary()``, ``summary --json``'s totals) as a two-column table:
    byte figures as sizes, counts with separators; nested values (lists, dicts) left out."""
    rows = [(header(k), human_bytes(v) if k.endswith(("_bytes", "_size")) else f"{v:,}" if isinstance(v, int) else v)
            for k, v in figures.items() if not isinstance(v, (list, dict, tuple))]
    return pd.DataFrame(rows, columns=["figure", "value"])


@expects(df=TABLE)
def table_html(df: pd.DataFrame) -> str:
    """A table as a report page shows it: ``readable`` values, no index column."""
    return readable(df).to_html(index=False, border=0, escape=True, classes="dataframe layerlab-table")


@expects(df=TABLE, columns=COLUMNS)
def bytes_columns(df: pd.DataFrame, columns=None) -> pd.DataFrame:
    """``df`` with its byte columns (``bytes``, ``size``, ``*_bytes``, ``*_size``) as readable text."""
    out = df.copy()
    for col in columns or [c for c in df.columns if c in ("bytes", "size") or c.endswith(("_bytes", "_size"))]:
        if col in out.columns and pd.api.types.is_numeric_dtype(out[col]):
            out[col] = out[col].map(human_bytes)
    return out


@expects(inv=INVENTORY, efficiency=OPTIONAL_TABLE, top=Expect("a whole number or None", int, none=True))
def efficiency_table(inv, efficiency: pd.DataFrame | None = None, top: int | None = 20) -> pd.DataFrame:
    """``analyses.efficiency`` for reading: image name first, sizes as text, dive's ratios as
    percentages; the ``top`` images with the most to reclaim, the rest summed on one row."""
    from . import analyses

    inv = require_inventory(inv, "layerlab.tables")
    eff = analyses.efficiency(inv) if efficiency is None else efficiency
    names = image_names(inv.images)
    out = pd.DataFrame({
        "image": eff["image_id"].map(names).to_numpy(),
        "size": eff["size"].map(human_bytes).to_numpy(),
        "reclaimable": eff["reclaimable_bytes"].map(human_bytes).to_numpy(),
        "dive efficiency": eff["dive_efficiency"].map(lambda v: f"{v:.1%}" if pd.notna(v) and abs(v) != float("inf")
                                                      else "-").to_numpy(),
        "dive wasted": eff["dive_wasted_bytes"].map(human_bytes).to_numpy(),
        "dive user wasted": eff["dive_user_wasted_percent"].map(lambda v: f"{v:.1%}" if pd.notna(v)
                                                                and abs(v) != float("inf") else "-").to_numpy(),
        "base image": eff["base_image"].map(lambda b: names.get(b, "-") if isinstance(b, str) else "-").to_numpy(),
    })
    order = eff["reclaimable_bytes"].to_numpy().argsort(kind="stable")[::-1]
    out = out.iloc[order].reset_index(drop=True)
    if top is None or len(out) <= top + 1:
        return out
    rest = eff.iloc[order[top:]]
    # One row for the rest, so a host of 300 images is a table, not a scroll.
    summed = {c: "" for c in out.columns}
    summed.update({"image": f"{len(rest):,} more images", "size": human_bytes(rest["size"].sum()),
                   "reclaimable": human_bytes(rest["reclaimable_bytes"].sum()),
                   "dive wasted": human_bytes(rest["dive_wasted_bytes"].sum())})
    return pd.concat([out.head(top), pd.DataFrame([summed])], ignore_index=True)


@expects(frames=REGISTRY_FRAMES)
def registry_summary(frames) -> pd.DataFrame:
    """One row per inspected reference: platform, layers, compressed size, and how many of its
    blobs other references share."""
    m, layers = frames.manifests, frames.layers
    shared = set(frames.blobs.loc[frames.blobs["reference_count"] > 1, "digest"])
    per = layers.assign(shared=layers["digest"].isin(shared)).groupby(["reference", "platform"])
    return pd.DataFrame({
        "reference": m["reference"].to_numpy(),
        "platform": m["platform"].to_numpy(),
        "layers": m["layer_count"].to_numpy(),
        "compressed size": m["size"].map(human_bytes).to_numpy(),
        "layers shared with other refs": [int(per["shared"].sum().get((r, p), 0)) for r,
                                          p in zip(m["reference"], m["platform"])],
    })


@expects(comparison=TABLE)
def model_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """``analyses.drivers.measurements.compare_model`` for reading: per driver and workload, what the write
    cost on disk (measured) next to what ``simulate_writes`` predicted, and the entries it added."""
    c = comparison
    return pd.DataFrame({
        "driver": c["driver"].where(c["measured"], c["driver"] + " (rebuilt)").to_numpy(),
        "workload": c["workload"].to_numpy(),
        "on disk, measured": c["exclusive_bytes_measured"].map(human_bytes).to_numpy(),
        "on disk, model": c["exclusive_bytes_model"].map(human_bytes).to_numpy(),
        "apparent, measured": c["apparent_bytes_measured"].map(human_bytes).to_numpy(),
        "apparent, model": c["apparent_bytes_model"].map(human_bytes).to_numpy(),
        "entries, measured": c["entries_measured"].to_numpy(),
        "entries, model": c["entries_model"].to_numpy(),
    })


@expects(audit=AUDIT)
def audit_summary(audit) -> pd.DataFrame:
    """A storage audit in a few lines: repositories, blobs by kind, and what garbage-collect would free."""
    blobs = audit.blobs
    rows = [("repositories", len(audit.repositories), ""), ("blobs", len(blobs), human_bytes(blobs["size"].sum()))]
    for kind, g in blobs.groupby("kind"):
        rows.append((f"  {kind} blobs", len(g), human_bytes(g["size"].sum())))
    rows.append(("garbage-collect would delete", len(audit.gc.blobs), human_bytes(audit.gc.bytes)))
    if getattr(audit.gc_untagged, "error", None):  # GC itself would stop: say so, not "0 blobs"
        rows.append(("… with --delete-untagged", 0, f"fails: {audit.gc_untagged.error}"))
    else:
        rows.append(("… with --delete-untagged", len(audit.gc_untagged.blobs), human_bytes(audit.gc_untagged.bytes)))
    return pd.DataFrame(rows, columns=["what", "count", "compressed bytes"])


def audit_comparison(**audits) -> pd.DataFrame:
    """Storage audits side by side (one column per keyword, e.g. ``filesystem=…, s3=…``): contents,
    what garbage-collect would free, and the requests each audit made (with an S3 cost estimate)."""
    columns = {}
    for name, audit in audits.items():
        check_argument("audit_comparison", name, audit, OPTIONAL_AUDIT)
        if audit is None:
            continue
        req, cost = audit.requests, audit.cost_usd
        columns[name] = {
            "where": str(audit.root), "repositories": len(audit.repositories), "blobs": len(audit.blobs),
            "blob bytes (compressed)": human_bytes(audit.blob_bytes),
            "garbage-collect would delete": f"{len(audit.gc.blobs)} blobs, {human_bytes(audit.gc.bytes)}",
            "… with --delete-untagged": f"{len(audit.gc_untagged.blobs)} blobs, {human_bytes(audit.gc_untagged.bytes)}",
            "requests (LIST / GET / HEAD)": f"{req.get('LIST', 0)} / {req.get('GET', 0)} / {req.get('HEAD', 0)}",
            "request cost (S3 Standard prices)": f"${cost:.6f}" if cost is not None else "— (local filesystem)",
        }
    # The row names as a column: report tables show no index.
    return pd.DataFrame(columns).rename_axis("what").reset_index()


@expects(inv=INVENTORY, waste=TABLE)
def waste_table(inv, waste: pd.DataFrame) -> pd.DataFrame:
    """``analyses.waste`` for reading: path, layer, reason, bytes, the layer that hid it, and the
    Dockerfile commands of both layers."""
    inv = require_inventory(inv, "layerlab.tables")
    il = inv.image_layers
    cmd = dict(zip(zip(il["image_id"], il["position"]), il["created_by"]))

    def line(image_ids, positions):
        return [command_label(cmd.get((i, int(p))), 48) if pd.notna(p) else "" for i, p in zip(image_ids, positions)]

    return pd.DataFrame({
        "path": waste["path"].to_numpy(),
        "layer": waste["position"].to_numpy(),
        "kind": waste["kind"].to_numpy(),
        "bytes": waste["bytes"].map(human_bytes).to_numpy(),
        "reason": waste["reason"].str.replace("_", "-").to_numpy(),
        "hidden by layer": waste["by_position"].to_numpy(),
        "what changed": waste["changed"].fillna("").to_numpy(),
        "written by": line(waste["image_id"], waste["position"]),
        "hidden by": line(waste["image_id"], waste["by_position"].where(waste["reclaimable"])),
    })


@expects(inv=INVENTORY)
def base_table(inv) -> pd.DataFrame:
    """``analyses.base_images`` for tagged images, with names instead of IDs."""
    from . import analyses

    inv = require_inventory(inv, "layerlab.tables")
    names = image_names(inv.images)
    b = analyses.base_images(inv)
    b = b[b["image_id"].isin(inv.tagged["image_id"])]
    return pd.DataFrame({
        "image": b["image_id"].map(names).to_numpy(),
        "base image": b["base_image"].map(lambda i: names.get(i, "-") if isinstance(i, str) else "-").to_numpy(),
        "base layers": b["base_layer_count"].to_numpy(),
        "base size": b["base_size"].map(human_bytes).to_numpy(),
        "own layers": b["user_layer_count"].to_numpy(),
        "own size": b["user_size"].map(human_bytes).to_numpy(),
    }).sort_values("image").reset_index(drop=True)


@expects(diff=TABLE)
def diff_table(diff: pd.DataFrame) -> pd.DataFrame:
    """``analyses.diff_images`` for reading: content changes first, largest first (a file rewritten
    with new bytes of the same size ranks by its size), metadata-only changes last; sizes as text,
    no layer IDs."""
    from .analyses.diff.diff_rank import metadata_only

    key = pd.DataFrame({"meta": metadata_only(diff).to_numpy(),
                        "bytes": diff[["size_a", "size_b"]].max(axis=1).to_numpy(),
                        "path": diff["path"].to_numpy()}, index=diff.index)
    order = key.sort_values(["meta", "bytes", "path"], ascending=[True, False, True], kind="stable").index
    d = diff.loc[order]
    return pd.DataFrame({
        "path": d["path"].to_numpy(),
        "status": d["status"].to_numpy(),
        "what changed": d["changes"].fillna("").to_numpy(),
        "kind": d["kind_b"].fillna(d["kind_a"]).to_numpy(),
        "size before": d["size_a"].map(human_bytes).to_numpy(),
        "size after": d["size_b"].map(human_bytes).to_numpy(),
        # positions as integers, blank where the path is absent (not 1.0 / NaN)
        "layer before": [int(v) if pd.notna(v) else "" for v in d["position_a"]],
        "layer after": [int(v) if pd.notna(v) else "" for v in d["position_b"]],
    })


@expects(ups=TABLE)
def copy_ups_table(ups: pd.DataFrame) -> pd.DataFrame:
    """``analyses.copy_ups`` for reading: container, path, action, bytes stored and bytes below, largest first."""
    d = ups.sort_values(["bytes", "path"], ascending=[False, True], kind="stable")
    return pd.DataFrame({
        "container": d["name"].to_numpy(),
        "path": d["path"].to_numpy(),
        "kind": d["kind"].to_numpy(),
        "action": d["action"].str.replace("_", " ").to_numpy(),
        "bytes": d["bytes"].map(human_bytes).to_numpy(),
        "below": d["lower_bytes"].map(human_bytes).to_numpy(),
        "what changed": d["changed"].fillna("").to_numpy(),
    })


@expects(findings=TABLE)
def bloat_table(findings: pd.DataFrame) -> pd.DataFrame:
    """``analyses.bloat`` for reading: category, bytes, files, the layer's command, the fix, examples."""
    return pd.DataFrame({
        "category": findings["category"].to_numpy(),
        "bytes": findings["bytes"].map(human_bytes).to_numpy(),
        "files": findings["paths"].to_numpy(),
        "layer": findings["position"].to_numpy(),
        "written by": [command_label(c, 48) for c in findings["created_by"]],
        "fix": findings["fix"].fillna("").to_numpy(),
        "examples": [", ".join(shorten(x, 60) for x in e) for e in findings["examples"]],
    })


@expects(measurements=TABLE)
def measured_layers_table(measurements: pd.DataFrame) -> pd.DataFrame:
    """How many layers were measured per driver, and how (``analyses.drivers.measurements.load_measurements``)."""
    counts = measurements.groupby(["driver", "how"], sort=False).size()
    return counts.rename("layers measured").reset_index()


@expects(sizes=TABLE)
def store_images_table(sizes: pd.DataFrame) -> pd.DataFrame:
    """``analyses.drivers.store_usage.image_sizes`` for reading: each image's two copies in a containerd store."""
    return pd.DataFrame({
        "image": sizes["tags"].map(lambda t: ", ".join(t) if t is not None and len(t) else "<none>").to_numpy(),
        "id": sizes["image_id"].str.removeprefix("sha256:").str[:12].to_numpy(),
        "size (apparent)": sizes["size"].map(human_bytes).to_numpy(),
        "blobs (compressed)": sizes["content_size"].map(human_bytes).to_numpy(),
        "blobs on disk": sizes["content_disk_usage"].map(human_bytes).to_numpy(),
        "snapshots (docker image ls)": sizes["snapshot_usage"].map(human_bytes).to_numpy(),
        "snapshots on disk": sizes["snapshot_disk_usage"].map(human_bytes).to_numpy(),
    })


@expects(du=TABLE)
def btrfs_du_table(du: pd.DataFrame) -> pd.DataFrame:
    """``analyses.drivers.measurements.btrfs_du`` for reading: what ``du`` counts per btrfs layer against what
    ``btrfs filesystem du`` says the layer owns alone and shares."""
    return pd.DataFrame({
        "btrfs subvolume": du["layer"].to_numpy(),
        "du (shared extents counted in each layer)": du["du_bytes"].map(human_bytes).to_numpy(),
        "exclusive (owned alone)": du["exclusive_bytes"].map(human_bytes).to_numpy(),
        "shared with other snapshots": du["shared_bytes"].map(human_bytes).to_numpy(),
    })
