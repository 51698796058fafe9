"""What every layerlab widget shares: lookups cached on the Inventory, drawing into an Output, tables
drawn into a figure, and the static snapshot that stands in for the widget where callbacks cannot run
(HTML reports)."""

from __future__ import annotations

import base64
import io
import os

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from ..display import image_names, shorten

#: Set by ``layerlab.reports`` in the kernel it runs: widgets then display as their snapshot.
REPORT_ENV = "LAYERLAB_REPORT"

def image_choices(inv) -> list[tuple[str, str]]:
    """(name, image ID) for a widget's image dropdown: tagged images first, by name; untagged ones after,
    as ``docker images -a`` lists them. Built once per Inventory (hundreds of images stay fast)."""
    if "image_choices" not in inv.cache:
        images = inv.images
        names = image_names(images)
        order = pd.DataFrame({"image_id": images["image_id"], "name": names.to_numpy(),
                              "untagged": (images["tags"].map(len) == 0).to_numpy()})
        order = order.sort_values(["untagged", "name"], kind="stable")
        inv.cache["image_choices"] = list(zip(order["name"], order["image_id"]))
    return inv.cache["image_choices"]


def image_name(inv, image_id: str) -> str:
    """The name ``image_choices`` shows for an image ID."""
    if "image_names" not in inv.cache:
        inv.cache["image_names"] = {i: n for n, i in image_choices(inv)}
    return inv.cache["image_names"].get(image_id, image_id)


def chain_rows(inv, image_id: str) -> pd.DataFrame:
    """The ``image_layers`` rows of one image, base first (one groupby per Inventory)."""
    if "chain_rows" not in inv.cache:
        inv.cache["chain_rows"] = {k: g.sort_values("position") for k, g in inv.image_layers.groupby("image_id")}
    return inv.cache["chain_rows"].get(image_id, inv.image_layers.iloc[0:0])


def draw(output: widgets.Output, plot, figsize=(9, 4)):
    """Clear ``output`` and show the figure ``plot(ax)`` draws there (the figure is closed after)."""
    from IPython import get_ipython

    fig, ax = plt.subplots(figsize=figsize)
    try:
        plot(ax)
        fig.tight_layout()
        if get_ipython() is None:  # plain Python (tests, scripts): nowhere to show it
            return fig
        with output:
            output.clear_output(wait=True)
            display(fig)
        return fig
    finally:
        plt.close(fig)


def table_html(df: pd.DataFrame, max_rows: int = 15) -> str:
    """A compact HTML table for a widget (sizes already formatted by the caller)."""
    if df.empty:
        return "<i>nothing to show</i>"
    more = f"<div><i>… {len(df) - max_rows} more rows</i></div>" if len(df) > max_rows else ""
    return df.head(max_rows).to_html(index=False, border=0, classes="layerlab-table", escape=True) + more


class SnapshotMixin:
    """Widgets that can draw themselves statically: ``snapshot()`` returns a matplotlib Figure.

    In a report run (``LAYERLAB_REPORT`` set) the widget displays as that figure, a PNG, so the
    rendered HTML shows the state it was left in with no widget JavaScript.
    """

    def snapshot(self):  # pragma: no cover - each widget implements it
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs):
        if not os.environ.get(REPORT_ENV):
            return super()._repr_mimebundle_(**kwargs)
        fig = self.snapshot()
        try:
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        finally:
            plt.close(fig)
        return {"image/png": base64.b64encode(buf.getvalue()).decode("ascii"),
                "text/plain": f"<{type(self).__name__} snapshot>"}


def table_axes(ax, df: pd.DataFrame, title: str, rows: int = 8):
    ax.set_axis_off()
    ax.set_title(title, fontsize=9, loc="left")
    if df.empty:
        ax.text(0, 0.5, "nothing to show", transform=ax.transAxes)
        return ax
    cells = [[shorten(str(v), 60) for v in r] for r in df.head(rows).itertuples(index=False)]
    t = ax.table(cellText=cells, colLabels=list(df.columns), loc="upper left", cellLoc="left")
    t.auto_set_font_size(False)
    t.set_fontsize(8)
    t.auto_set_column_width(list(range(len(df.columns))))
    return ax
