"""A chart of an image's packages: the largest ones, coloured by ecosystem, beside the files no package owns."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .._docstrings import fill_doc
from ..display import human_bytes, image_names
from ..errors import OPTIONAL_IMAGE, expects
from ..frames.inventory import INVENTORY, require_inventory
from ._util import AX, COUNT, bytes_axis, get_ax, no_data


@fill_doc
@expects(inv=INVENTORY, image=OPTIONAL_IMAGE, ax=AX, top=COUNT)
def package_bars(inv, image=None, *, top: int = 15, ax=None):
    """The ``top`` largest packages of an image by the bytes of their files, one bar each, coloured by
    ecosystem, and one bar for the files no package owns.

    Parameters
    ----------
    {inv}
    {image}
        The image with the most layers when omitted.
    top : int
        How many packages to draw.
    {ax}

    {returns_ax}
    """
    from ..analyses.packages import package_sizes, packages

    inv = require_inventory(inv, "layerlab.plots.package_bars")
    ax = get_ax(ax)
    image_id = inv.resolve_image(image)
    name = image_names(inv.images[inv.images["image_id"] == image_id]).iloc[0]
    pk = packages(inv, image_id).head(top)
    if pk.empty:
        ax.set_title(f"{name}: no packages")
        why = inv.skipped[inv.skipped["what"] == "package database"]["reason"]
        return no_data(ax, why.iloc[0] if len(why) else "no package database in the image")
    sizes = package_sizes(inv, image_id).set_index("ecosystem")["bytes"]
    labels = [f"{r.name} {r.version}" for r in pk.itertuples(index=False)] + ["(no package)"]
    values = np.append(pk["bytes"].to_numpy(dtype=float), float(sizes.get("(no package)", 0)))
    ecosystems = list(pk["ecosystem"]) + ["(no package)"]
    palette = plt.get_cmap("tab10")
    colors = {e: palette(i % 10) for i, e in enumerate(dict.fromkeys(ecosystems))}
    y = np.arange(len(labels))
    for e in colors:
        mask = np.array([x == e for x in ecosystems])
        ax.barh(y[mask], values[mask], height=0.7, color=colors[e], label=e)
    for yi, v in zip(y, values):
        ax.annotate(human_bytes(v), (v, yi), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    high = float(values.max()) * 1.25 or 1.0
    ax.set_xlim(0, high)
    bytes_axis(ax, "x", "apparent", high)
    ax.legend(loc="lower right", fontsize=7, title="ecosystem", title_fontsize=7)
    total = sizes.drop("(no package)", errors="ignore").sum()
    ax.set_title(f"{name}: {len(packages(inv, image_id))} packages, {human_bytes(total)} in their files")
    return ax
