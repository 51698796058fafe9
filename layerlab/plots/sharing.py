"""Charts of what images share: the image x layer matrix, dedup ratios, registry blob sharing."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

from .._docstrings import fill_doc
from ..display import command_label, human_bytes, image_names, unit_for
from ..errors import FLAG, expects
from ..frames.inventory import INVENTORY, require_inventory
from ._util import AX, BLOBS, COUNT, FRAME, bytes_axis, get_ax, no_data, thin_ticks


@fill_doc
@expects(inv=INVENTORY, include_untagged=FLAG, top=COUNT, ax=AX, label_width=COUNT)
def sharing_matrix(inv, *, include_untagged: bool = False, top: int = 40, ax=None, label_width: int = 34):
    """Which image uses which layer: one row per image, one column per layer, coloured by layer size.

    Columns run from the most shared layer to the least; a layer used by several images is stored
    once. Cells are blank where the image does not use the layer.

    Parameters
    ----------
    {inv}
    include_untagged : bool
        Also show untagged images (classic-builder steps, dangling builds).
    top : int
        Most images (rows) and layers (columns) to show; the largest are kept.
    {ax}
    {label_width}

    {returns_ax}
    """
    inv = require_inventory(inv, "layerlab.plots")
    ax = get_ax(ax)
    images = inv.images if include_untagged else inv.tagged
    images = images.sort_values(["size", "image_id"], ascending=[False, True]).head(top)
    il = inv.image_layers[inv.image_layers["image_id"].isin(images["image_id"])]
    if il.empty:
        return no_data(ax, "no image layers to show")
    layers = (il.groupby("layer_id").agg(size=("size", "first"), users=("image_id", "nunique"),
                                         first_pos=("position", "min"))
              .sort_values(["users", "first_pos", "size"], ascending=[False, True, False]).head(top))
    matrix = (il[il["layer_id"].isin(layers.index)].pivot_table(index="image_id", columns="layer_id", values="size",
                                                                aggfunc="first")
              .reindex(index=images["image_id"], columns=layers.index))
    unit, factor = unit_for(float(np.nanmax(matrix.to_numpy(dtype=float))) if matrix.notna().any().any() else 1)
    values = matrix.to_numpy(dtype=float) / factor
    shown = np.ma.masked_invalid(values)
    # A log scale when one layer dwarfs the rest: on a linear one a 2.4 GB layer makes every other cell one colour.
    positive = values[np.isfinite(values) & (values > 0)]
    norm = None
    if len(positive) and positive.max() / positive.min() > 100:
        from matplotlib.colors import LogNorm

        norm = LogNorm(vmin=positive.min(), vmax=positive.max())
        # empty layers at the low end, still drawn; unused cells stay blank
        shown = np.ma.masked_invalid(np.where(values > 0, values, np.where(np.isnan(values), np.nan, positive.min())))
    mesh = ax.imshow(shown, aspect="auto", cmap="viridis", interpolation="nearest", norm=norm)
    cbar = ax.figure.colorbar(mesh, ax=ax, pad=0.01)
    cbar.set_label(f"layer apparent size ({unit}{', log scale' if norm is not None else ''})")
    ax.set_xlabel("layer (the command that made it × images using it), most shared first")
    ax.set_ylabel("image")
    names = image_names(images, label_width)
    thin_ticks(ax, "y", names.reindex(matrix.index).to_numpy(), fontsize=8)
    made_by = il.drop_duplicates("layer_id").set_index("layer_id")["created_by"]
    thin_ticks(ax, "x",
               [f"{command_label(made_by.get(lid), 28)} ×{n}" for lid, n in zip(layers.index, layers["users"])],
               rotation=35, ha="right", rotation_mode="anchor", fontsize=7)
    ax.set_title("image × layer: who uses what (blank: not used)")
    return ax


@fill_doc
@expects(inv=INVENTORY, data=FRAME, ax=AX)
def dedup_ratios(inv, *, data: pd.DataFrame | None = None, ax=None):
    """How much sharing saves: bytes if every image were stored alone, with each layer stored once,
    and (when files are hashed) with each distinct file content stored once; ratios on the bars.

    Parameters
    ----------
    {inv}
    data : DataFrame, optional
        Rows of (``what``, ``bytes``) to draw instead, e.g. from ``layerlab.analyses``; the first
        row is the baseline the ratios are taken against.
    {ax}

    {returns_ax}
    """
    ax = get_ax(ax)
    if data is None:
        from ..analyses import dedup_levels

        data = dedup_levels(require_inventory(inv, "layerlab.plots.dedup_ratios"))
    df = data.reset_index(drop=True)
    if df.empty or not df["bytes"].iloc[0]:
        return no_data(ax, "no image layers to compare")
    base = float(df["bytes"].iloc[0])
    colors = ["#bab0ac", "#4c78a8", "#54a24b", "#72b7b2"]
    bars = ax.bar(np.arange(len(df)), df["bytes"], color=colors[: len(df)])
    for bar, value in zip(bars, df["bytes"]):
        ratio = base / value if value else np.nan
        ax.annotate(f"{human_bytes(value)}\n{ratio:.2f}×" if len(df) else "",
                    (bar.get_x() + bar.get_width() / 2, value),
                    ha="center", va="bottom", fontsize=9, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(np.arange(len(df)), [textwrap.fill(w, 22) for w in df["what"]], fontsize=8)
    bytes_axis(ax, "y", "apparent", float(df["bytes"].max()) * 1.2)
    ax.set_ylim(0, float(df["bytes"].max()) * 1.2)
    ax.set_title("dedup: what sharing saves (ratio = stored alone ÷ stored)")
    return ax


@fill_doc
@expects(blobs=BLOBS, top=COUNT, ax=AX)
def registry_sharing(blobs: pd.DataFrame, *, top: int = 20, ax=None):
    """Largest registry layer blobs by compressed size, coloured by how many references use each.

    Parameters
    ----------
    blobs : DataFrame
        A ``registry_blobs`` frame (``digest``, ``size``, ``reference_count``, ``repository_count``),
        e.g. ``registry_frames(refs).blobs``; a ``registry_layers`` frame; or a storage audit's
        ``blobs`` (layer blobs, counted by the repositories that link them).
    {top}
    {ax}

    {returns_ax}
    """
    ax = get_ax(ax)
    if blobs is None or len(blobs) == 0:
        return no_data(ax, "no registry blobs to show")
    if "kind" in blobs.columns and "repositories" in blobs.columns:  # a storage audit's blobs
        blobs = blobs[blobs["kind"] == "layer"]
        blobs = blobs.assign(reference_count=blobs["repositories"].map(len),
                             repository_count=blobs["repositories"].map(len))
    elif "reference_count" not in blobs.columns:  # a registry_layers frame
        g = blobs.groupby("digest")
        blobs = pd.DataFrame({"size": g["size"].max(), "reference_count": g["reference"].nunique(),
                              "repository_count": g["repository"].nunique()}).reset_index()
    df = blobs.sort_values(["size", "digest"], ascending=[False, True]).head(top)
    counts = df["reference_count"].to_numpy()
    import matplotlib

    cmap = matplotlib.colormaps["YlOrRd"]
    norm = matplotlib.colors.Normalize(vmin=0, vmax=max(int(counts.max()), 2))
    y = np.arange(len(df))
    ax.barh(y, df["size"], color=[cmap(norm(c)) for c in counts], edgecolor="0.3", linewidth=0.4)
    for yi, (size, refs, repos) in enumerate(zip(df["size"], df["reference_count"], df["repository_count"])):
        ax.annotate(f"{_count(refs, 'reference')} in {_count(repos, 'repository', 'repositories')}", (size, yi),
                    xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    bar = ax.figure.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.01)
    bar.set_label("references using the blob")
    ax.set_yticks(y, [d.removeprefix("sha256:")[:12] for d in df["digest"]], fontsize=8)
    ax.invert_yaxis()
    ax.set_ylabel("layer blob (digest prefix)")
    bytes_axis(ax, "x", "compressed", float(df["size"].max()) * 1.7)
    ax.set_xlim(0, float(df["size"].max()) * 1.7)
    shared = blobs[blobs["reference_count"] > 1]
    ax.set_title(f"the {len(df)} largest registry layer blobs; {len(shared)} of all {len(blobs)} blobs "
                 f"({human_bytes(shared['size'].sum())} compressed) are shared by more than one reference", fontsize=10)
    return ax


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"
