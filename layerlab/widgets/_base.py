"""What every layerlab widget shares: cached per-source lookups, drawing into an Output, and the
static snapshot that stands in for the widget where callbacks cannot run (HTML reports)."""

from __future__ import annotations

import base64
import io
import os
import weakref

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from ..plots._util import image_names, inventory

#: Set by ``layerlab.reports`` in the kernel it runs: widgets then display as their snapshot.
REPORT_ENV = "LAYERLAB_REPORT"

_indexes: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class SourceIndex:
    """Lookups built once per Inventory so a widget's handlers stay fast on hosts with hundreds of
    images: files by layer, image names, each image's chain."""

    def __init__(self, inv):
        self.inv = inv
        self._files_by_layer = None
        images = inv.images
        tagged = images["tags"].map(len) > 0
        # Tagged images first, by name; untagged ones after, as docker images -a lists them.
        names = image_names(images)
        order = pd.DataFrame({"image_id": images["image_id"], "name": names.to_numpy(), "untagged": ~tagged.to_numpy()})
        order = order.sort_values(["untagged", "name"], kind="stable")
        self.image_options = list(zip(order["name"], order["image_id"]))
        self.names = dict(zip(order["image_id"], order["name"]))
        self.chains = {k: g.sort_values("position") for k, g in inv.image_layers.groupby("image_id")}

    def files_of(self, layer_ids) -> pd.DataFrame:
        if self._files_by_layer is None:
            self._files_by_layer = self.inv.files.groupby("layer_id").indices
        parts = [self._files_by_layer.get(lid) for lid in layer_ids]
        parts = [p for p in parts if p is not None]
        if not parts:
            return self.inv.files.iloc[0:0]
        import numpy as np

        return self.inv.files.iloc[np.concatenate(parts)]


def source_index(source) -> SourceIndex:
    inv = inventory(source)
    index = _indexes.get(inv)
    if index is None:
        index = _indexes[inv] = SourceIndex(inv)
    return index


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
