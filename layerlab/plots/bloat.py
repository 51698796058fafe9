"""A chart of bloat: visible files an image rarely needs, per category, split by the layer that wrote them."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .._docstrings import fill_doc
from ..analyses.hygiene.bloat import RULES_TABLE
from ..display import command_label, human_bytes, image_names
from ..errors import OPTIONAL_IMAGE, expects
from ..frames.inventory import INVENTORY, require_inventory
from ._util import AX, COUNT, FRAME, bytes_axis, get_ax, no_data


@fill_doc
@expects(inv=INVENTORY, image=OPTIONAL_IMAGE, findings=FRAME, rules=RULES_TABLE, ax=AX, label_width=COUNT)
def bloat_categories(inv, image=None, *, findings: pd.DataFrame | None = None, rules=None, ax=None,
                     label_width: int = 40):
    """Bytes of each bloat category in an image, one bar per category, stacked by the layer
    (Dockerfile command) that wrote them.

    Parameters
    ----------
    {inv}
    {image}
        The image with the most layers when omitted.
    findings : DataFrame, optional
        ``layerlab.analyses.bloat(source, image)``, when already computed.
    rules : str or DataFrame, optional
        Extra bloat rules (see ``layerlab.analyses.bloat_rules``).
    {ax}
    {label_width}

    {returns_ax}
    """
    from .. import analyses

    inv = require_inventory(inv, "layerlab.plots.bloat_categories")
    ax = get_ax(ax)
    image_id = inv.resolve_image(image)
    f = analyses.bloat(inv, image_id, rules=rules) if findings is None else findings
    name = image_names(inv.images[inv.images["image_id"] == image_id]).iloc[0]
    if f.empty:
        ax.set_title(f"{name}: no bloat")
        return no_data(ax, "no visible file matches a bloat rule")
    totals = f.groupby("category")["bytes"].sum().sort_values(ascending=False)
    cats = list(totals.index)
    y = np.arange(len(cats))
    layers = sorted(f["position"].unique())
    palette = plt.get_cmap("tab10")
    colors = {pos: palette(i % 10) for i, pos in enumerate(layers)}
    left = np.zeros(len(cats))
    commands = f.drop_duplicates("position").set_index("position")["created_by"]
    for pos in layers:
        part = f[f["position"] == pos].set_index("category")["bytes"].reindex(cats).fillna(0).to_numpy(dtype=float)
        ax.barh(y, part, left=left, height=0.7, color=colors[pos],
                label=f"layer {pos}: {command_label(commands.get(pos), label_width)}")
        left += part
    for yi, total in zip(y, left):
        ax.annotate(human_bytes(total), (total, yi), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_yticks(y, cats)
    ax.invert_yaxis()
    top = float(left.max()) * 1.25 or 1.0
    ax.set_xlim(0, top)
    bytes_axis(ax, "x", "apparent", top)
    ax.legend(loc="lower right", fontsize=7, title="written by", title_fontsize=7)
    size = int(inv.images.set_index("image_id").loc[image_id, "size"])
    ax.set_title(f"{name}: {human_bytes(left.sum())} of its {human_bytes(size)} is files an image rarely needs")
    return ax
