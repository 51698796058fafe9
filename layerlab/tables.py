"""Tables for people: the frames trimmed to what a reader scans, sizes as text, long names kept legible.

These only select and format; numbers come from the frames and ``layerlab.analyses``. Notebooks,
reports and widgets show them; each takes an Inventory (or an analysis frame), like the charts.
"""

from __future__ import annotations

import pandas as pd

from .frames.inventory import FRAME_NAMES
from .frames.schema import FRAMES
from .display import command_label, human_bytes, image_names
from .frames.inventory import require_inventory


def frame_overview(inv) -> pd.DataFrame:
    """One row per frame: its name, rows, and what one row is."""
    inv = require_inventory(inv, "layerlab.tables")
    one_row = {
        "images": "an image", "layers": "an image, init or container layer", "image_layers": "an (image, layer position)",
        "history": "an (image, history entry)", "containers": "a container", "files": "a (layer, path)",
        "skipped": "something that could not be read",
    }
    return pd.DataFrame([(n, len(getattr(inv, n)), one_row[n], len(FRAMES[n])) for n in FRAME_NAMES],
                        columns=["frame", "rows", "one row is", "columns"])


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
        "created": images["created"].dt.strftime("%Y-%m-%d %H:%M").to_numpy(),
    })


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
        "used by images": chain["layer_id"].map(layers["image_count"]).to_numpy(),
    })


def markers_table(inv) -> pd.DataFrame:
    """Every whiteout and opaque-directory marker: which layer (image and position, or container) and path."""
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

    return pd.DataFrame({
        "layer": f["layer_id"].map(where).to_numpy(),
        "marker": f["kind"].map({"whiteout": "whiteout (deletes)", "opaque": "opaque dir (hides lower contents)"}).to_numpy(),
        "path": f["path"].to_numpy(),
    }).sort_values(["layer", "path"]).reset_index(drop=True)


def distribution_table(inv) -> pd.DataFrame:
    """Layers whose registry (compressed) digests the daemon recorded when it pulled or pushed them."""
    inv = require_inventory(inv, "layerlab.tables")
    layers = inv.layers[(inv.layers["kind"] == "image")]
    has = layers["compressed"].map(lambda v: v is not None and len(v) > 0)
    return pd.DataFrame({
        "layer": layers["layer_id"].str.removeprefix("sha256:").str[:12].to_numpy(),
        "apparent size": layers["size"].map(human_bytes).to_numpy(),
        "images": layers["image_count"].to_numpy(),
        "compressed digests": layers["compressed"].map(lambda v: ", ".join(d.removeprefix("sha256:")[:12] for d in (v if v is not None else []))).to_numpy(),
        "known to a registry": has.to_numpy(),
    })


def bytes_columns(df: pd.DataFrame, columns=None) -> pd.DataFrame:
    """``df`` with its byte columns (``bytes``, ``size``, ``*_bytes``, ``*_size``) as readable text."""
    out = df.copy()
    for col in columns or [c for c in df.columns if c in ("bytes", "size") or c.endswith(("_bytes", "_size"))]:
        if col in out.columns and pd.api.types.is_numeric_dtype(out[col]):
            out[col] = out[col].map(human_bytes)
    return out


def efficiency_table(inv, efficiency: pd.DataFrame | None = None) -> pd.DataFrame:
    """``analyses.efficiency`` for reading: image name first, sizes as text, dive's ratios as percentages."""
    from . import analyses

    inv = require_inventory(inv, "layerlab.tables")
    eff = analyses.efficiency(inv) if efficiency is None else efficiency
    names = image_names(inv.images)
    out = pd.DataFrame({
        "image": eff["image_id"].map(names).to_numpy(),
        "size": eff["size"].map(human_bytes).to_numpy(),
        "reclaimable": eff["reclaimable_bytes"].map(human_bytes).to_numpy(),
        "dive efficiency": eff["dive_efficiency"].map(lambda v: f"{v:.1%}" if pd.notna(v) and abs(v) != float("inf") else "-").to_numpy(),
        "dive wasted": eff["dive_wasted_bytes"].map(human_bytes).to_numpy(),
        "dive user wasted": eff["dive_user_wasted_percent"].map(lambda v: f"{v:.1%}" if pd.notna(v) and abs(v) != float("inf") else "-").to_numpy(),
        "base image": eff["base_image"].map(lambda b: names.get(b, "-") if isinstance(b, str) else "-").to_numpy(),
    })
    return out.iloc[eff["reclaimable_bytes"].to_numpy().argsort(kind="stable")[::-1]].reset_index(drop=True)


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
        "layers shared with other refs": [int(per["shared"].sum().get((r, p), 0)) for r, p in zip(m["reference"], m["platform"])],
    })


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


def waste_table(inv, waste: pd.DataFrame) -> pd.DataFrame:
    """``analyses.waste`` for reading: path, layer, reason, bytes, and the layer that hid it."""
    return pd.DataFrame({
        "path": waste["path"].to_numpy(),
        "layer": waste["position"].to_numpy(),
        "kind": waste["kind"].to_numpy(),
        "bytes": waste["bytes"].map(human_bytes).to_numpy(),
        "reason": waste["reason"].str.replace("_", "-").to_numpy(),
        "hidden by layer": waste["by_position"].to_numpy(),
        "what changed": waste["changed"].fillna("").to_numpy(),
    })


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


def diff_table(diff: pd.DataFrame) -> pd.DataFrame:
    """``analyses.diff_images`` for reading: largest changes first, sizes as text, no layer IDs."""
    order = diff["size_delta"].abs().sort_values(ascending=False, kind="stable").index
    d = diff.loc[order]
    return pd.DataFrame({
        "path": d["path"].to_numpy(),
        "status": d["status"].to_numpy(),
        "what changed": d["changes"].fillna("").to_numpy(),
        "kind": d["kind_b"].fillna(d["kind_a"]).to_numpy(),
        "size before": d["size_a"].map(human_bytes).to_numpy(),
        "size after": d["size_b"].map(human_bytes).to_numpy(),
        "layer before": d["position_a"].to_numpy(),
        "layer after": d["position_b"].to_numpy(),
    })


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
