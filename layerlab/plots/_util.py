"""What every chart shares: colours, byte axes labelled with their unit and size kind, an empty chart's message."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, MaxNLocator

from ..display import unit_for
from ..errors import Expect

# What the charts' parameters take (checked by layerlab.errors.expects before a chart draws).
AX = Expect("a matplotlib Axes or None", Axes, none=True)
FRAME = Expect("a DataFrame (the analysis, already computed) or None", pd.DataFrame, none=True)
COUNT = Expect("a whole number (an int)", int)
POSITION = Expect("a layer position (an int) or None", int, none=True)
LAYER = Expect("a layer_id (a string) or None", str, none=True)
COMPRESSED = Expect("a registry frame, a dict of digest to bytes, or None", pd.DataFrame, dict, none=True)
BLOBS = Expect("a registry frame (a DataFrame), or None (the chart says there is none)", pd.DataFrame, none=True)

#: What a byte count measures; every byte axis names one of these.
SIZE_KINDS = {
    "apparent": "apparent size",
    "disk": "on-disk size",
    "compressed": "compressed size",
    "content": "file content (apparent)",
}

#: One colour per reason bytes sit in an image, shared by every chart and widget.
REASON_COLORS = {
    "kept": "#4c78a8",
    "overwritten": "#e45756",
    "deleted": "#f58518",
    "metadata_only": "#b279a2",
    "duplicate_content": "#9d755d",
}
REASON_LABELS = {
    "kept": "kept (visible in the image)",
    "overwritten": "overwritten by a later layer",
    "deleted": "deleted by a later layer",
    "metadata_only": "metadata-only copy",
    "duplicate_content": "duplicate content",
}


def get_ax(ax):
    return ax if ax is not None else plt.gca()


def bytes_axis(ax, axis: str, kind: str, max_bytes: float | None = None) -> str:
    """Format ``axis`` ("x" or "y") of ``ax`` in one readable unit and label it with what it measures.

    ``kind`` is a key of SIZE_KINDS or a free description; returns the unit chosen.
    """
    if max_bytes is None:
        lo, hi = (ax.get_xlim() if axis == "x" else ax.get_ylim())
        max_bytes = max(abs(lo), abs(hi))
    unit, factor = unit_for(max_bytes)
    fmt = FuncFormatter(lambda v, _pos: f"{v / factor:g}")
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_formatter(fmt)
    target.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    label = f"{SIZE_KINDS.get(kind, kind)} ({unit})"
    (ax.set_xlabel if axis == "x" else ax.set_ylabel)(label)
    return unit


def no_data(ax, message: str):
    """Draw ``message`` in an empty Axes: a chart with nothing to show still says why."""
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, wrap=True, color="0.35")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def label_room(ax, axis: str = "y", fontsize: float = 8, spacing: float = 1.35) -> int:
    """How many tick labels of ``fontsize`` points fit along ``axis`` of ``ax`` without touching."""
    fig = ax.figure
    box = ax.get_position()
    inches = (box.height * fig.get_figheight()) if axis == "y" else (box.width * fig.get_figwidth())
    return max(int(inches * 72 / (fontsize * spacing)), 1)


def thin_ticks(ax, axis: str, labels, *, fontsize: float = 8, keep=(), rotation: float = 0, **kwargs) -> list[int]:
    """Set one tick per item on ``axis`` but label only as many as fit: every k-th item, plus the
    indices in ``keep`` (the highlighted or the largest), so 400 labels do not become a smear.
    Returns the indices labelled."""
    import numpy as np

    labels = list(labels)
    n = len(labels)
    room = label_room(ax, axis, fontsize, 1.35 if axis == "y" or rotation else 6.0)
    if n <= room:
        shown = list(range(n))
    else:
        step = int(np.ceil(n / room))
        shown = []
        # the kept first (in the order given: most wanted first), then every step-th; none closer than a step
        for i in [int(k) for k in keep if 0 <= k < n] + list(range(0, n, step)):
            if all(abs(i - j) >= step for j in shown):
                shown.append(i)
        shown.sort()
    text = [labels[i] if i in set(shown) else "" for i in range(n)]
    set_ticks = ax.set_yticks if axis == "y" else ax.set_xticks
    set_ticks(np.arange(n), text, fontsize=fontsize, rotation=rotation, **kwargs)
    if n > len(shown):
        (ax.set_ylabel if axis == "y" else ax.set_xlabel)(
            ((ax.get_ylabel() if axis == "y" else ax.get_xlabel()) or "") + f" ({len(shown)} of {n} labelled)")
    return shown
