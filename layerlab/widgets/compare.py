"""ImageCompare: two images side by side, path by path; CopyUpExplorer: a container's copy-ups."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pandas as pd
from traitlets import TraitError, Unicode, observe, validate

from .. import plots
from .._docstrings import fill_doc
from ..errors import OPTIONAL_IMAGE, LayerlabError, expects
from ..frames.inventory import INVENTORY, require_inventory
from ..tables import diff_table
from ._base import SnapshotMixin, draw, image_choices, image_name, table_axes, table_html


@fill_doc
class ImageCompare(SnapshotMixin, widgets.VBox):
    """Compare two images: bytes added, removed and changed from ``a`` to ``b``, and the paths behind them.

    Traits ``a`` and ``b`` hold image IDs (a tag or ID prefix is accepted and resolved);
    ``path_filter`` narrows the table.

    Parameters
    ----------
    {inv}
    a, b : str, optional
        Images to compare; the two largest tagged images when omitted.
    """

    a = Unicode(help="image ID compared from")
    b = Unicode(help="image ID compared to")
    path_filter = Unicode("", help="only list paths containing this text")

    @expects(inv=INVENTORY, a=OPTIONAL_IMAGE, b=OPTIONAL_IMAGE)
    def __init__(self, inv, a=None, b=None, **kwargs):
        self._ready = False
        self.inv = require_inventory(inv, "ImageCompare")
        self._diffs: dict[tuple[str, str], pd.DataFrame] = {}
        opts = image_choices(self.inv)
        self.a_select = widgets.Dropdown(options=opts, description="from", layout=widgets.Layout(width="380px"))
        self.b_select = widgets.Dropdown(options=opts, description="to", layout=widgets.Layout(width="380px"))
        self.filter_box = widgets.Text(placeholder="filter paths", description="paths", continuous_update=False)
        self.chart = widgets.Output()
        self.summary = widgets.HTML()
        self.table = widgets.HTML()
        super().__init__(children=[widgets.HBox([self.a_select, self.b_select, self.filter_box]),
                                   self.chart, self.summary, self.table], **kwargs)
        self.add_class("layerlab-compare")
        widgets.link((self.a_select, "value"), (self, "a"))
        widgets.link((self.b_select, "value"), (self, "b"))
        widgets.link((self.filter_box, "value"), (self, "path_filter"))
        self.a, self.b = self.inv.pick_two(a, b)
        self._ready = True
        self._refresh()

    @validate("a", "b")
    def _valid_image(self, proposal):
        try:
            return self.inv.image_id(proposal["value"])
        except LayerlabError as e:
            raise TraitError(str(e)) from None

    @observe("a", "b", "path_filter")
    def _changed(self, change):
        if self._ready:
            self._refresh()

    def diff(self) -> pd.DataFrame:
        """``layerlab.analyses.diff_images(a, b)``, cached per pair."""
        from .. import analyses

        key = (self.a, self.b)
        if key not in self._diffs:
            self._diffs[key] = analyses.diff_images(self.inv, self.a, self.b)
        return self._diffs[key]

    def diff_table(self) -> pd.DataFrame:
        """The rows listed: the diff with the path filter applied, largest first."""
        d = self.diff()
        if self.path_filter:
            d = d[d["path"].astype(str).str.contains(self.path_filter, regex=False, na=False)]
        return d

    def plot(self, ax):
        return plots.image_diff(self.inv, self.a, self.b, data=self.diff(), ax=ax)

    def _refresh(self):
        table = self.diff_table()
        draw(self.chart, self.plot, figsize=(9, 3))
        self.summary.value = (f"<b>{image_name(self.inv, self.a)}</b> → <b>{image_name(self.inv, self.b)}</b>: "
                              f"{len(table)} paths differ")
        self.table.value = table_html(diff_table(table))

    def snapshot(self):
        fig, (ax, tab) = plt.subplots(2, 1, figsize=(10, 6), gridspec_kw={"height_ratios": [2, 2]})
        self.plot(ax)
        table_axes(tab, diff_table(self.diff_table()).drop(columns=['layer before', 'layer after']), "paths that differ, largest first")
        fig.tight_layout()
        return fig
