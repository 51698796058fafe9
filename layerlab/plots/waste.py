"""Charts of bytes an image carries but its container never sees: per layer, per image, per container."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._docstrings import fill_doc
from ..analyses.dive.waste import STACK
from ..display import command_label, human_bytes, image_names
from ..errors import CONTAINER, OPTIONAL_IMAGE, OPTIONAL_TEXT, expects
from ..frames.inventory import INVENTORY, require_inventory
from ._util import AX, COUNT, FRAME, POSITION, REASON_COLORS, REASON_LABELS, bytes_axis, get_ax, no_data, thin_ticks


@fill_doc
@expects(inv=INVENTORY, image=OPTIONAL_IMAGE, waste=FRAME, highlight=POSITION, path_filter=OPTIONAL_TEXT, ax=AX,
         label_width=COUNT)
def layer_sizes(inv, image=None, *, waste: pd.DataFrame | None = None, highlight: int | None = None,
                path_filter: str | None = None, ax=None, label_width: int = 40):
    """Each layer of an image as a bar of its file content, stacked by what became of it: kept,
    overwritten by a later layer, deleted by a later layer, or copied only to change metadata.

    Parameters
    ----------
    {inv}
    {image}
        The image with the most layers when omitted.
    waste : DataFrame, optional
        ``layerlab.analyses.waste(source, image)``, when already computed.
    highlight : int, optional
        A layer position to outline (the one a widget has selected).
    path_filter : str, optional
        Count only the files whose path contains this text.
    {ax}
    {label_width}

    {returns_ax}
    """
    from .. import analyses

    inv = require_inventory(inv, "layerlab.plots")
    ax = get_ax(ax)
    image_id = inv.resolve_image(image)
    df = analyses.layer_reasons(inv, image_id, waste=waste, path_contains=path_filter)
    if df.empty:
        return no_data(ax, "the image has no layers")
    y = np.arange(len(df))
    left = np.zeros(len(df))
    for reason in STACK:
        values = df[reason].to_numpy(dtype=float)
        ax.barh(y, values, left=left, color=REASON_COLORS[reason], label=REASON_LABELS[reason], height=0.7)
        left += values
    if highlight is not None and highlight in set(df["position"]):
        i = int(np.flatnonzero(df["position"].to_numpy() == highlight)[0])
        ax.barh(y[i], max(left[i], left.max() * 0.01), height=0.86, fill=False, edgecolor="black", linewidth=1.5)
        # A band across the whole row too: a tiny layer's outline alone is a speck.
        ax.axhspan(y[i] - 0.48, y[i] + 0.48, color="#f2c744", alpha=0.3, zorder=0, lw=0)
    ax.set_ylabel("layer (0 = base)")
    # 400 layers do not fit 400 labels: label as many as fit, the highlighted and the largest first.
    hi = [int(np.flatnonzero(df["position"].to_numpy() == highlight)[0])] if highlight in set(df["position"]) else []
    largest = list(np.argsort(-left, kind="stable")[:10])
    shown = thin_ticks(ax, "y",
                       [f"{p}: {command_label(c, label_width)}" for p, c in zip(df["position"], df["created_by"])],
                       keep=hi + largest)
    for i in shown:
        if left[i] > 0 or len(df) <= 40:
            ax.annotate(human_bytes(left[i]), (left[i], y[i]), xytext=(3, 0), textcoords="offset points", va="center",
                        fontsize=8)
    if hi:
        ax.get_yticklabels()[hi[0]].set_fontweight("bold")
    ax.invert_yaxis()
    top = float(left.max()) * 1.2 or 1.0
    ax.set_xlim(0, top)
    bytes_axis(ax, "x", "content", top)
    # Outside the plot: inside it covers the bars of images whose lowest layers are the largest.
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    wasted = df[list(STACK[1:])].to_numpy().sum()
    name = image_names(inv.images[inv.images["image_id"] == image_id]).iloc[0]
    where = f", paths containing {path_filter!r}" if path_filter else ""
    ax.set_title(f"{name}{where}: {human_bytes(wasted)} of {human_bytes(left.sum())} in its layers is never seen")
    return ax


@fill_doc
@expects(inv=INVENTORY, data=FRAME, top=COUNT, ax=AX, label_width=COUNT)
def image_waste(inv, *, data: pd.DataFrame | None = None, top: int = 15, ax=None, label_width: int = 34):
    """Per image: bytes its final filesystem shows and bytes it could shed (reclaimable), with dive's
    efficiency score on each bar.

    Parameters
    ----------
    {inv}
    data : DataFrame, optional
        ``layerlab.analyses.efficiency(source)``, when already computed.
    {top}
    {ax}
    {label_width}

    {returns_ax}
    """
    from .. import analyses

    inv = require_inventory(inv, "layerlab.plots")
    ax = get_ax(ax)
    eff = analyses.efficiency(inv) if data is None else data
    images = inv.images.set_index("image_id")
    # The images docker images lists, as the efficiency table beside it does (not tagged only).
    eff = eff[eff["image_id"].isin(inv.listed["image_id"])]
    if eff.empty:
        return no_data(ax, "no images")
    eff = eff.assign(size=eff["image_id"].map(images["size"]).astype("int64"))
    eff = eff.sort_values(["reclaimable_bytes", "size", "image_id"], ascending=[False, False, True])
    total_images = len(eff)
    shown, rest_rows = eff.head(top), eff.iloc[top:]
    names = list(image_names(images.loc[shown["image_id"]].reset_index(), label_width).reindex(shown["image_id"]))
    reclaim = shown["reclaimable_bytes"].to_numpy(dtype=float)
    rest = (shown["size"].to_numpy(dtype=float) - reclaim).clip(min=0)
    effs = list(shown["dive_efficiency"])
    if len(rest_rows):  # the rest summed in one bar, so 300 images still read
        r = float(rest_rows["reclaimable_bytes"].sum())
        reclaim = np.append(reclaim, r)
        rest = np.append(rest, max(float(rest_rows["size"].sum()) - r, 0.0))
        names.append(f"{len(rest_rows)} more images")
        effs.append(np.nan)
    y = np.arange(len(names))
    totals = rest + reclaim
    # A log axis when one image dwarfs the others: on a linear one most bars would be invisible.
    positive = totals[totals > 0]
    log = len(positive) > 2 and positive.max() / np.median(positive) > 30
    if log:
        rest = rest.clip(min=1.0)
    ax.barh(y, rest, color=REASON_COLORS["kept"], label="seen by the container")
    ax.barh(y, reclaim, left=rest, color=REASON_COLORS["overwritten"],
            label="reclaimable (overwritten, deleted, metadata-only)")
    fontsize = 8 if len(y) <= 20 else 7
    for yi, total, e in zip(y, rest + reclaim, effs):
        label = human_bytes(total) + (f" · efficiency {e:.1%}" if pd.notna(e) and abs(e) != np.inf else "")
        ax.annotate(label, (total, yi), xytext=(3, 0), textcoords="offset points", va="center", fontsize=fontsize)
    ax.set_yticks(y, names, fontsize=fontsize)
    ax.invert_yaxis()
    most = float((rest + reclaim).max()) or 1.0
    if log:
        ax.set_xscale("log")
        ax.set_xlim(max(float(positive.min()) / 2, 1.0), most * 40)
        ax.xaxis.set_major_formatter(_log_bytes_formatter())
        ax.set_xlabel("apparent size (log scale)")
    else:
        ax.set_xlim(0, most * 1.45)
        bytes_axis(ax, "x", "apparent", most * 1.45)
    # Outside the plot: a 300-image chart has bars in every corner.
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    from ..analyses.dive.totals import reclaimable_once

    once = reclaimable_once(inv, list(eff["image_id"]))["reclaimable_bytes"]  # the index's figure: each byte once
    ax.set_title(f"waste per image: {human_bytes(once)} reclaimable in {total_images} images (each byte once)"
                 + (f" (the top {len(shown)}, the rest summed)" if len(rest_rows) else "")
                 + (", sorted by reclaimable bytes" if total_images > 1 else ""))
    return ax


def _log_bytes_formatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: human_bytes(v) if v >= 1 else "")


@fill_doc
@expects(inv=INVENTORY, container=CONTAINER, data=FRAME, top=COUNT, ax=AX)
def copy_ups(inv, container=None, *, data: pd.DataFrame | None = None, top: int = 15, ax=None):
    """A container's read-write layer: the largest paths, coloured by whether the container copied
    a file up from the image (whole file, even for one byte or a chmod) or wrote a new one.
    Paths with no bytes (whiteouts, directories) are left out; ``analyses.copy_ups`` lists them.

    Parameters
    ----------
    {inv}
    container : str, optional
        Container name or ID (prefix); every container when omitted.
    data : DataFrame, optional
        ``layerlab.analyses.copy_ups(source, container)``, when already computed.
    {top}
    {ax}

    {returns_ax}
    """
    from .. import analyses

    inv = require_inventory(inv, "layerlab.plots")
    ax = get_ax(ax)
    df = analyses.copy_ups(inv, container) if data is None else data
    df = df[df["bytes"] > 0] if "bytes" in df.columns else df
    if df.empty:
        return no_data(ax, "no bytes in the read-write layer" + (f" of {container}" if container else "s"))
    df = df.sort_values(["bytes", "path"], ascending=[False, True]).head(top)
    actions = df["action"].astype(str).to_numpy()
    palette = {"copied_up": REASON_COLORS["overwritten"], "created": REASON_COLORS["kept"]}
    labels = {"copied_up": "copied up from the image (whole file)", "created": "written new"}
    y = np.arange(len(df))
    ax.barh(y, df["bytes"], color=[palette.get(a, "#bab0ac") for a in actions])
    for yi, (b, a) in enumerate(zip(df["bytes"], actions)):
        ax.annotate(human_bytes(b), (b, yi), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_yticks(y, df["path"], fontsize=8)
    ax.invert_yaxis()
    # At least a kilobyte wide: a 2-byte copy-up is not drawn as a full-width bar.
    top_x = max(float(df["bytes"].max()) * 1.25, 1000.0)
    ax.set_xlim(0, top_x)
    bytes_axis(ax, "x", "apparent", top_x)
    import matplotlib.patches as mpatches

    present = [a for a in palette if a in set(actions)] + sorted(set(actions) - set(palette))
    ax.legend(handles=[mpatches.Patch(color=palette.get(a, "#bab0ac"), label=labels.get(a, a)) for a in present],
              fontsize=8, loc="lower right")
    who = f"{container}'s read-write layer" if container else "read-write layers"
    ax.set_title(f"{who}: largest paths, copied up from the image vs written new")
    return ax


#: A changed path whose content is the same (only mtime, mode or owner differ), as ``image_diff`` labels it.
METADATA_ONLY = "same content (mtime, mode or owner only)"
#: What ``diff_images``' ``changes`` names when the content itself differs.
CONTENT_CHANGES = {"kind", "size", "content", "target"}
#: Colours of ``image_diff``'s statuses.
STATUS_COLORS = {"added": "#54a24b", "removed": "#e45756", "modified": "#f58518", "changed": "#f58518",
                 METADATA_ONLY: "#bab0ac"}


@fill_doc
@expects(inv=INVENTORY, a=OPTIONAL_IMAGE, b=OPTIONAL_IMAGE, data=FRAME, ax=AX, label_width=COUNT)
def image_diff(inv, a=None, b=None, *, data: pd.DataFrame | None = None, ax=None, label_width: int = 30):
    """Bytes that differ from image ``a`` to image ``b``, by status (added, removed, changed content,
    same content with only mtime/mode/owner changed), with the number of paths on each bar.

    Parameters
    ----------
    {inv}
    a, b : str
        Images compared (tag or ID); ``b`` is the newer one.
    data : DataFrame, optional
        ``layerlab.analyses.diff_images(source, a, b)``, when already computed.
    {ax}
    {label_width}

    {returns_ax}
    """
    from .. import analyses

    inv = require_inventory(inv, "layerlab.plots")
    ax = get_ax(ax)
    d = analyses.diff_images(inv, a, b) if data is None else data
    if d.empty:
        return no_data(ax, "the two images have the same files")
    # Bytes a status accounts for: what b adds, what a had, or the new size of a changed file.
    weight = np.where(d["status"] == "removed", d["size_a"], d["size_b"]).astype(float)
    status = d["status"].astype(str).to_numpy(dtype=object)
    if "changes" in d.columns:
        # A path whose content is the same and only its mtime, mode or owner moved is not changed content.
        content = d["changes"].map(
            lambda c: bool(CONTENT_CHANGES & set(str(c).split(","))) if isinstance(c, str) else True)
        status = np.where((status == "changed") & ~content.to_numpy(dtype=bool), METADATA_ONLY, status)
    g = pd.DataFrame({"status": status, "bytes": weight}).groupby("status")
    summary = pd.DataFrame({"bytes": g["bytes"].sum(), "paths": g.size()})
    order = [s for s in ("added", "modified", "changed", METADATA_ONLY, "removed") if s in summary.index]
    summary = summary.reindex(order + sorted(set(summary.index) - set(order)))
    y = np.arange(len(summary))
    ax.barh(y, summary["bytes"], color=[STATUS_COLORS.get(s, "#bab0ac") for s in summary.index])
    for yi, (v, n) in enumerate(zip(summary["bytes"], summary["paths"])):
        ax.annotate(f"{human_bytes(v)} in {n} paths", (v, yi), xytext=(3, 0), textcoords="offset points", va="center",
                    fontsize=8)
    ax.set_yticks(y, summary.index)
    ax.invert_yaxis()
    top_x = float(summary["bytes"].max()) * 1.35 or 1.0
    ax.set_xlim(0, top_x)
    bytes_axis(ax, "x", "file content (apparent)", top_x)
    names = image_names(inv.images)
    ax.set_title(f"{names.get(inv.image_id(a), a)} → {names.get(inv.image_id(b), b)}", fontsize=10)
    return ax
