"""A pull as a timeline: each layer's download (several at once) and unpack (one after another)."""

from __future__ import annotations

from ..analyses.pullcost import PullCost
from ..display import command_label, human_bytes
from ..errors import Expect, expects
from ._util import AX, get_ax, no_data

COST = Expect("a PullCost (from layerlab.pull_cost)", PullCost)
ENGINE = Expect("'dockerd' or 'containerd'", str)
COLORS = {"download": "#4c78a8", "unpack": "#f58518"}


@expects(cost=COST, engine=ENGINE, ax=AX)
def pull_timeline(cost: PullCost, engine: str = "dockerd", ax=None):
    """One row per layer (base at the top): its download as a bar from start to end (downloads overlap,
    up to the concurrency) and its unpack (one after another, in layer order); layers already on the
    host are marked present. Returns the Axes."""
    ax = get_ax(ax)
    rows = cost.layers[cost.layers["engine"] == engine].sort_values("position")
    if rows.empty:
        return no_data(ax, f"no {engine} layers in this pull")
    labelled = set()

    def label(kind):  # one legend entry per kind
        if kind in labelled:
            return None
        labelled.add(kind)
        return kind

    for y, r in enumerate(rows.itertuples(index=False)):
        if r.fetched:
            ax.broken_barh([(r.download_start, r.download_end - r.download_start)], (y - 0.4, 0.38),
                           color=COLORS["download"], label=label("download"))
        if r.unpacked:
            ax.broken_barh([(r.unpack_start, max(r.unpack_end - r.unpack_start, 1e-4))], (y + 0.02, 0.38),
                           color=COLORS["unpack"], label=label("unpack"))
        if not r.fetched and not r.unpacked:
            ax.text(0, y, " present on the host", va="center", fontsize=8, color="#555")
    labels = [f"{r.position}: {human_bytes(r.size)} {command_label(r.created_by, 40) if r.created_by else ''}"
              for r in rows.itertuples(index=False)]
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("seconds from the start of the pull")
    inputs = cost.inputs
    ax.set_title(f"{cost.reference} ({engine}): {cost.total[engine]:.2f} s, "
                 f"{human_bytes(inputs['bandwidth_bytes_per_second'])}/s, {inputs['concurrency']} at once")
    if labelled:
        ax.legend(loc="lower right", fontsize=8)
    return ax
