"""Charts of the storage-driver measurements (layerlab.analyses.drivers.measurements): layers and writes per driver.

Each function takes the frame it draws (``analyses.drivers.measurements.load_measurements()``, the model
comparison ``compare_model(...)``, or a containerd Inventory) and an optional ``ax=``, draws on it and
returns the Axes.
"""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import FixedLocator, NullLocator

from ..frames.inventory import require_inventory
from ._util import bytes_axis, get_ax, no_data

#: Drivers in the order the charts show them, and their colours.
ORDER = ("overlay2", "containerd", "aufs", "vfs", "btrfs")
COLORS = {"overlay2": "#4c78a8", "containerd": "#72b7b2", "aufs": "#9d755d", "vfs": "#e45756", "btrfs": "#f58518"}


def _label(driver: str, measured: bool) -> str:
    return driver if measured else f"{driver} (rebuilt)"


def layer_footprint(data, *, ax=None):
    """On-disk bytes of each image layer and of an unchanged container, per driver (allocated blocks).

    vfs stores every layer as a full copy; btrfs' blocks (``du``) look like vfs', but its exclusive
    bytes (hatched) show what each snapshot owns alone.
    """
    m = data
    ax = get_ax(ax)
    rows = m[(m["object"] == "image_layer") | (m["workload"] == "noop")].copy()
    if rows.empty:
        return no_data(ax, "no measurements")
    rows["what"] = np.where(rows["object"] == "container", "container", "layer " + rows["position"].astype("string"))
    whats = list(dict.fromkeys(rows.sort_values(["object", "position"], ascending=[False, True])["what"]))
    drivers = [d for d in ORDER if d in set(rows["driver"])]
    width = 0.8 / len(drivers)
    x = np.arange(len(whats))
    for i, d in enumerate(drivers):
        g = rows[rows["driver"] == d].set_index("what").reindex(whats)
        measured = bool(g["measured"].dropna().all())
        ax.bar(x + i * width, g["layer_disk_bytes"].fillna(0), width, color=COLORS.get(d), label=_label(d, measured))
        if g["exclusive_bytes"].notna().any():
            ax.bar(x + i * width, g["exclusive_bytes"].fillna(0), width, color="none", edgecolor="black", hatch="//",
                   label=f"{d}: exclusive (btrfs filesystem du)")
    ax.set_xticks(x + width * (len(drivers) - 1) / 2, whats)
    ax.set_xlabel("image layers of the measured image (0 = base) and an unchanged container")
    bytes_axis(ax, "y", "disk")
    ax.set_title("What each driver stores per layer (allocated blocks)")
    # Outside the plot: inside it would cover the tallest bars.
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def write_costs(model, *, ax=None):
    """What each workload added to a container layer, per driver: measured bars, model as markers.

    Bytes are on disk: allocated blocks of the container layer minus an unchanged one's; for btrfs
    the exclusive data extents (what the container owns alone). ``model`` is
    ``analyses.drivers.measurements.compare_model(...)``'s frame.
    """
    cmp = model
    ax = get_ax(ax)
    if cmp.empty:
        return no_data(ax, "no measurements")
    workloads = list(dict.fromkeys(cmp["workload"]))
    drivers = [d for d in ORDER if d in set(cmp["driver"])]
    width = 0.8 / len(drivers)
    x = np.arange(len(workloads))
    for i, d in enumerate(drivers):
        g = cmp[cmp["driver"] == d].set_index("workload").reindex(workloads)
        measured = bool(g["measured"].dropna().all())
        ax.bar(x + i * width, g["exclusive_bytes_measured"], width, color=COLORS.get(d), label=_label(d, measured))
        ax.scatter(x + i * width, g["exclusive_bytes_model"], marker="_", s=120, color="black", zorder=3,
                   label="model (simulate_writes)" if i == 0 else None)
    ax.axhline(0, color="0.5", linewidth=0.8)
    values = cmp[["exclusive_bytes_measured", "exclusive_bytes_model"]].to_numpy(dtype=float)
    _symlog_bytes(ax, ax.yaxis, min(float(values.min()), 0.0), float(values.max()))
    ax.set_xticks(x + width * (len(drivers) - 1) / 2, workloads)
    ax.set_xlabel("workload (one container each; 'all' runs every write)")
    ax.set_ylabel("on-disk size added (symlog; btrfs: exclusive)")
    ax.set_title("What a write costs per driver: measured (bars) and modelled (marks)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def _bytes_formatter():
    from matplotlib.ticker import FuncFormatter

    from ..display import human_bytes

    return FuncFormatter(lambda v, _pos: ("-" if v < 0 else "") + human_bytes(abs(v)) if v else "0")


MARKERS = ("o", "s", "^", "D", "v")


def _symlog_bytes(ax, axis, lo: float, hi: float) -> None:
    """A symlog byte axis with ticks only at 0 and powers of ten from 10 kB (nearer ones collide)."""
    (ax.set_xscale if axis is ax.xaxis else ax.set_yscale)("symlog", linthresh=4096)
    ticks = [0.0] + [s * 10.0 ** k for k in range(4, 13) for s in (-1, 1) if lo * 10 <= s * 10.0 ** k <= hi * 10]
    axis.set_major_locator(FixedLocator(sorted(ticks)))
    axis.set_minor_locator(NullLocator())
    axis.set_major_formatter(_bytes_formatter())


def model_agreement(model, *, ax=None):
    """Predicted against measured on-disk write cost, one point per driver and workload (diagonal = exact);
    ``model`` is ``analyses.drivers.measurements.compare_model(...)``'s frame."""
    cmp = model
    ax = get_ax(ax)
    if cmp.empty:
        return no_data(ax, "no measurements")
    drivers = [d for d in ORDER if d in set(cmp["driver"])]
    # Drivers often agree exactly: hollow markers of decreasing size keep every one visible.
    for i, d in enumerate(drivers):
        g = cmp[cmp["driver"] == d]
        ax.scatter(g["exclusive_bytes_measured"], g["exclusive_bytes_model"], s=110 - 18 * i, facecolors="none",
                   edgecolors=COLORS.get(d), linewidths=1.6, marker=MARKERS[i % len(MARKERS)], label=d)
    lo = float(min(cmp["exclusive_bytes_measured"].min(), cmp["exclusive_bytes_model"].min(), 0))
    hi = float(max(cmp["exclusive_bytes_measured"].max(), cmp["exclusive_bytes_model"].max()))
    ax.plot([lo, hi], [lo, hi], color="0.6", linewidth=0.8, zorder=0)
    for axis in (ax.xaxis, ax.yaxis):
        _symlog_bytes(ax, axis, lo, hi)
    ax.set_xlabel("measured: on-disk size added (symlog)")
    ax.set_ylabel("model: on-disk size added (symlog)")
    ax.set_title("simulate_writes against the measurements")
    ax.legend(fontsize=8, loc="upper left")
    return ax


def store_copies(inv, *, ax=None):
    """A containerd store's two copies side by side: content blobs and unpacked snapshots (apparent and on disk)."""
    from ..analyses.drivers.store_usage import store_usage

    usage = store_usage(require_inventory(inv, "layerlab.plots.store_copies"))
    ax = get_ax(ax)
    if usage.empty:
        return no_data(ax, "empty store")
    copies = ["content", "snapshots"]
    bottoms = {(c, k): 0 for c in copies for k in ("size", "disk_usage")}
    palette = {"layer": "#4c78a8", "manifest": "#b279a2", "config": "#9d755d", "index": "#bab0ac", "other": "#bab0ac",
               "image": "#72b7b2", "container": "#f58518", "init": "#e45756"}
    xs = {("content", "size"): 0, ("content", "disk_usage"): 1, ("snapshots", "size"): 2.5,
          ("snapshots", "disk_usage"): 3.5}
    seen = set()
    for r in usage.itertuples(index=False):
        for col in ("size", "disk_usage"):
            key = (r.copy, col)
            value = getattr(r, col)
            label = f"{r.copy}: {r.kind}" if (r.copy, r.kind) not in seen else None
            seen.add((r.copy, r.kind))
            ax.bar(xs[key], value, 0.8, bottom=bottoms[key], color=palette.get(r.kind, "#bab0ac"), label=label)
            bottoms[key] += value
    ax.set_xticks(list(xs.values()), ["blobs\napparent", "blobs\non disk", "snapshots\napparent", "snapshots\non disk"])
    bytes_axis(ax, "y", "bytes (apparent or on disk, as labelled)")
    ax.set_title("containerd store: compressed blobs and unpacked snapshots are two copies")
    ax.legend(fontsize=8)
    return ax
