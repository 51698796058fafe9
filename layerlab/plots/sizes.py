"""Charts of where the bytes are: directories, file sizes, and the three ways of counting a layer."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._docstrings import fill_doc
from ..display import command_label, human_bytes, image_names, shorten
from ..errors import OPTIONAL_IMAGE, Expect, expects
from ..frames.inventory import INVENTORY, require_inventory
from ._util import AX, COMPRESSED, COUNT, LAYER, bytes_axis, get_ax, no_data, thin_ticks

SOURCES = Expect("a dict of name to Inventory", dict)


def _dir_at_depth(path: str, depth: int) -> str:
    parts = path.strip("/").split("/")
    if len(parts) <= depth:  # a file directly in a shallow directory counts for that directory
        parts = parts[:-1] or parts
    return "/" + "/".join(parts[:depth])


@fill_doc
@expects(inv=INVENTORY, image=OPTIONAL_IMAGE, layer=LAYER, depth=COUNT, top=COUNT, ax=AX)
def treemap(inv, image=None, *, layer=None, depth: int = 2, top: int = 24, ax=None):
    """Treemap of the file content bytes of an image's layers (or of one layer) by directory.

    Every layer's files count, including those a later layer overwrote or deleted: this is what the
    image weighs, not what its container sees.

    Parameters
    ----------
    {inv}
    image : str, optional
        Image tag or ID; the image with the most layers when neither it nor ``layer`` is given.
    layer : str, optional
        A ``layer_id`` (chain ID, ``container:<id>``) to map instead of a whole image.
    depth : int
        Directory depth to group by (2: ``/usr/lib``).
    {top}
    {ax}

    {returns_ax}
    """
    import squarify

    inv = require_inventory(inv, "layerlab.plots")
    ax = get_ax(ax)
    if layer is not None:
        files = inv.files[inv.files["layer_id"] == layer]
        what = f"layer {shorten(layer, 30)}"
    else:
        image_id = inv.resolve_image(image)
        files = inv.image_files(image_id)
        what = _image_name(inv, image_id)
    files = files[files["kind"] == "file"]
    if files.empty or files["size"].sum() == 0:
        return no_data(ax, f"no file content in {what}")
    sizes = files.groupby(files["path"].map(lambda p: _dir_at_depth(p,
                                                                    depth)))["size"].sum().sort_values(ascending=False)
    sizes = sizes[sizes > 0]
    if len(sizes) > top:
        sizes = pd.concat([sizes.iloc[: top - 1], pd.Series({"(other)": sizes.iloc[top - 1 :].sum()})])
    total = sizes.sum()
    labels = [f"{d}\n{human_bytes(v)}" if v / total > 0.03 else "" for d, v in sizes.items()]
    colors = [_palette(i) for i in range(len(sizes))]
    squarify.plot(sizes=sizes.to_numpy(dtype=float), label=labels, color=colors, ax=ax, pad=False,
                  text_kwargs={"fontsize": 10}, edgecolor="white", linewidth=1)
    ax.set_axis_off()
    ax.set_title(f"{what}: file content by directory (apparent bytes, {human_bytes(total)} in all)")
    return ax


def _palette(i: int):
    import matplotlib

    return matplotlib.colormaps["tab20"](i % 20)


def _image_name(inv, image_id: str) -> str:
    return image_names(inv.images[inv.images["image_id"] == image_id]).iloc[0]


@fill_doc
@expects(inv=INVENTORY, image=OPTIONAL_IMAGE, layer=LAYER, ax=AX)
def file_sizes(inv, image=None, *, layer=None, ax=None):
    """Histogram of regular-file sizes (log-scaled bins), in an image's layers, one layer, or the whole source.

    Parameters
    ----------
    {inv}
    image : str, optional
        Image tag or ID; every layer in the source when neither it nor ``layer`` is given.
    layer : str, optional
        One ``layer_id``.
    {ax}

    {returns_ax}
    """
    inv = require_inventory(inv, "layerlab.plots")
    ax = get_ax(ax)
    if layer is not None:
        files, what = inv.files[inv.files["layer_id"] == layer], f"layer {shorten(layer, 30)}"
    elif image is not None:
        image_id = inv.image_id(image)
        files, what = inv.image_files(image_id), _image_name(inv, image_id)
    else:
        files, what = inv.files, "all layers"
    sizes = files.loc[files["kind"] == "file", "size"].to_numpy(dtype=float)
    if len(sizes) == 0:
        return no_data(ax, f"no regular files in {what}")
    empty = int((sizes == 0).sum())
    sizes = sizes[sizes > 0]
    if len(sizes):
        lo, hi = np.floor(np.log10(sizes.min())), np.ceil(np.log10(sizes.max())) + 1e-9
        bins = np.logspace(lo, max(hi, lo + 1), int(max(hi - lo, 1) * 4) + 1)
        ax.hist(sizes, bins=bins, color="#4c78a8", edgecolor="white")
        ax.set_xscale("log")
    ax.xaxis.set_major_formatter(_log_bytes_formatter())
    ax.set_xlabel("file size (apparent, log scale)")
    ax.set_ylabel("files")
    note = f"; {empty} empty files not shown" if empty else ""
    ax.set_title(f"{what}: {len(sizes) + empty} regular files{note}")
    return ax


def _log_bytes_formatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: human_bytes(v).replace(" ", "\u00a0") if v >= 1 else "")


@expects(blobs=COMPRESSED)
def compressed_sizes(blobs) -> dict:
    """A ``{digest: compressed bytes}`` map from a registry frame (``registry_layers``, ``registry_blobs``,
    a storage audit's blobs) or a mapping (``analyses.drivers.compressed.blob_sizes``)."""
    from ..analyses.drivers.compressed import blob_sizes

    return blob_sizes(blobs)


@fill_doc
@expects(inv=INVENTORY, image=OPTIONAL_IMAGE, compressed=COMPRESSED, ax=AX, label_width=COUNT, top=COUNT)
def size_kinds(inv, image=None, *, compressed=None, ax=None, label_width: int = 34, top: int = 15):
    """Each layer of an image (or each image) counted three ways: apparent, on disk, compressed.

    Apparent is the layerdb size Docker reports, on disk is the blocks the driver allocated
    (``du``), compressed is the registry blob (known only for layers pulled or pushed, and only when
    ``compressed`` gives their sizes).

    Parameters
    ----------
    {inv}
    image : str, optional
        Image tag or ID: one bar group per layer. Without it, one group per image ``docker images``
        lists (the sum of its layers), the ``top`` largest and the rest summed.
    compressed : DataFrame or dict, optional
        Compressed sizes by blob digest: a ``registry_layers`` or ``registry_blobs`` frame, a
        registry storage audit's blobs, or ``{{digest: bytes}}``.
    {ax}
    {label_width}

    {returns_ax}
    """
    from ..analyses.drivers.compressed import layer_compressed

    inv = require_inventory(inv, "layerlab.plots")
    ax = get_ax(ax)
    layers = inv.layers.set_index("layer_id")
    # Known or unknown by the one rule (analyses.drivers.compressed.layer_compressed), as every table says.
    rule = layer_compressed(inv, compressed).set_index("layer_id")
    comp = dict(zip(rule.index, rule["compressed_size"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)))
    why = rule["unknown_reason"]

    def comp_size(layer_id):
        return comp.get(layer_id, np.nan)

    if image is not None:
        image_id = inv.image_id(image)
        chain = inv.image_layers[inv.image_layers["image_id"] == image_id].sort_values("position")
        rows = pd.DataFrame({
            "label": [f"{p}: {command_label(c, label_width - 4)}" for p,
                      c in zip(chain["position"], chain["created_by"])],
            "apparent": chain["size"].to_numpy(dtype=float),
            "disk": [float(layers.at[i, "disk_usage"]) if pd.notna(layers.at[i, "disk_usage"]) else np.nan
                     for i in chain["layer_id"]],
            "compressed": [comp_size(i) for i in chain["layer_id"]],
        })
        title = f"{_image_name(inv, image_id)}: each layer counted " + "{ways}"
        layer_ids = list(chain["layer_id"])
    else:
        images = inv.listed  # as docker images lists them: the count every page gives
        names = image_names(images, label_width)
        il = inv.image_layers[inv.image_layers["image_id"].isin(images["image_id"])]
        il = il.assign(disk=il["layer_id"].map(layers["disk_usage"]).astype("Float64"),
                       comp=[comp_size(i) for i in il["layer_id"]])
        g = il.groupby("image_id")
        rows = pd.DataFrame({
            "label": names.reindex(g.size().index).to_numpy(),
            "apparent": g["size"].sum().to_numpy(dtype=float),
            "disk": g["disk"].sum(min_count=1).to_numpy(dtype=float, na_value=np.nan),
            # An image's compressed size is known only when every one of its layers' is.
            "compressed": g["comp"].apply(lambda s: s.sum() if s.notna().all() else np.nan).to_numpy(dtype=float),
        })
        rows = rows.sort_values("apparent", ascending=False, kind="stable").reset_index(drop=True)
        title = "each image counted {ways}"
        if len(rows) > top + 1:  # the largest, the rest summed on one bar
            rest = rows.iloc[top:]
            summed = {"label": f"{len(rest)} more images", "apparent": rest["apparent"].sum(),
                      "disk": rest["disk"].sum() if rest["disk"].notna().all() else np.nan,
                      "compressed": rest["compressed"].sum() if rest["compressed"].notna().all() else np.nan}
            rows = pd.concat([rows.head(top), pd.DataFrame([summed])], ignore_index=True)
            title = f"the {top} largest of {len(rest) + top} images, each counted " + "{ways}"
        layer_ids = list(il["layer_id"].unique())
    if rows.empty:
        return no_data(ax, "no layers to show")
    y = np.arange(len(rows))
    h = 0.27
    series = [("apparent", "apparent (uncompressed tar content)", "#4c78a8"),
              ("disk", "on disk (allocated blocks)", "#72b7b2"),
              ("compressed", "compressed (registry blob)", "#f58518")]
    drawn = 0
    for k, (col, label, color) in enumerate(series):
        values = rows[col].to_numpy(dtype=float)
        known = ~np.isnan(values)
        if known.any():
            ax.barh(y[known] + (k - 1) * h, values[known], height=h, label=label, color=color)
            drawn += 1
    title = title.format(ways={1: "one way", 2: "two ways", 3: "three ways"}[max(drawn, 1)])
    thin_ticks(ax, "y", rows["label"], fontsize=9)
    ax.invert_yaxis()
    # Outside the plot: bars of every length run to the right edge.
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    bytes_axis(ax, "x", "bytes: apparent / on disk / compressed",
               np.nanmax(rows[["apparent", "disk", "compressed"]].to_numpy(dtype=float)))
    missing = int(np.isnan(rows["compressed"].to_numpy(dtype=float)).sum())
    if missing:
        what = "layers" if image is not None else "images"
        reasons = sorted(set(why[why.notna()].reindex(layer_ids).dropna()))
        title += (f"\n(compressed size unknown for {missing} of {len(rows)} {what}: "
                  + "; ".join(reasons) + ")")
    ax.set_title(title, fontsize=10)
    return ax


@fill_doc
@expects(sources=SOURCES, ax=AX)
def driver_footprint(sources: dict, *, ax=None):
    """Apparent and on-disk bytes of all image layers, per storage driver, side by side.

    Parameters
    ----------
    sources : dict
        ``{{name: Inventory}}``, e.g. ``{{"overlay2": ll.sample(), "vfs": ll.sample("vfs")}}``.
    {ax}

    {returns_ax}
    """
    ax = get_ax(ax)
    rows = []
    for name, inv in sources.items():
        inv = require_inventory(inv, "layerlab.plots.driver_footprint")
        layers = inv.layers[inv.layers["kind"] == "image"]
        rows.append({"driver": name, "apparent": float(layers["size"].sum()),
                     "disk": float(layers["disk_usage"].sum()) if layers["disk_usage"].notna().any() else np.nan,
                     "layers": len(layers)})
    df = pd.DataFrame(rows)
    if df.empty:
        return no_data(ax, "no sources given")
    x = np.arange(len(df))
    ax.bar(x - 0.2, df["apparent"], width=0.4, label="apparent (layerdb size)", color="#4c78a8")
    ax.bar(x + 0.2, df["disk"].fillna(0), width=0.4, label="on disk (allocated blocks, as du counts them)",
           color="#72b7b2")
    ax.set_xticks(x, [f"{d}\n{n} layers" for d, n in zip(df["driver"], df["layers"])])
    bytes_axis(ax, "y", "bytes: apparent / on disk", np.nanmax(df[["apparent", "disk"]].to_numpy(dtype=float)))
    ax.legend(fontsize=8)
    title = "the same images stored by different drivers"
    if "btrfs" in set(df["driver"]):
        # du counts every extent in every subvolume; btrfs shares unchanged extents between snapshots.
        # In the title, not over the plot: a note inside the axes sat over the tallest bars.
        title += ("\n(btrfs: du counts extents that snapshots share in each of them; what each layer owns alone "
                  "is far less, see the drivers-measured page)")
    ax.set_title(title, fontsize=9)
    return ax
