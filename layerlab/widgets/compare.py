"""ImageCompare: two images side by side, path by path; CopyUpExplorer: a container's copy-ups."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pandas as pd
from traitlets import TraitError, Unicode, observe, validate

from .. import plots
from .._docstrings import fill_doc
from ..errors import LayerlabError
from ..plots._util import pick_two
from ..reports.tables import copy_ups_table, diff_table
from ._base import SnapshotMixin, draw, source_index, table_html
from .explorer import _table_axes


@fill_doc
class ImageCompare(SnapshotMixin, widgets.VBox):
    """Compare two images: bytes added, removed and changed from ``a`` to ``b``, and the paths behind them.

    Traits ``a`` and ``b`` hold image IDs (a tag or ID prefix is accepted and resolved);
    ``path_filter`` narrows the table.

    Parameters
    ----------
    {source}
    a, b : str, optional
        Images to compare; the two largest tagged images when omitted.
    """

    a = Unicode(help="image ID compared from")
    b = Unicode(help="image ID compared to")
    path_filter = Unicode("", help="only list paths containing this text")

    def __init__(self, source=None, a=None, b=None, **kwargs):
        self._ready = False
        self._index = source_index(source)
        self.inv = self._index.inv
        self._diffs: dict[tuple[str, str], pd.DataFrame] = {}
        opts = self._index.image_options
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
        self.a, self.b = pick_two(self.inv, a, b)
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
        names = self._index.names
        self.summary.value = (f"<b>{names.get(self.a, self.a)}</b> → <b>{names.get(self.b, self.b)}</b>: "
                              f"{len(table)} paths differ")
        self.table.value = table_html(diff_table(table))

    def snapshot(self):
        fig, (ax, tab) = plt.subplots(2, 1, figsize=(10, 6), gridspec_kw={"height_ratios": [2, 2]})
        self.plot(ax)
        _table_axes(tab, diff_table(self.diff_table()).drop(columns=['layer before', 'layer after']), "paths that differ, largest first")
        fig.tight_layout()
        return fig


@fill_doc
class CopyUpExplorer(SnapshotMixin, widgets.VBox):
    """Pick a container and see its read-write layer: what it copied up from the image and what it wrote new.

    Trait ``container`` holds a container ID ("" for every container).

    Parameters
    ----------
    {source}
    container : str, optional
        Container name or ID to start on; the first container when omitted.
    """

    container = Unicode("", help="container ID shown")

    def __init__(self, source=None, container=None, **kwargs):
        self._ready = False
        self._index = source_index(source)
        self.inv = self._index.inv
        self._ups: dict[str, pd.DataFrame] = {}
        # Largest read-write layer first: the one worth looking at.
        c = self.inv.containers.assign(rw=self.inv.containers["rw_size"].fillna(0)).sort_values(["rw", "name"], ascending=[False, True])
        options = [(f"{n} ({i[:12]})", i) for n, i in zip(c["name"], c["container_id"])]
        self.container_select = widgets.Dropdown(options=options, description="container",
                                                 layout=widgets.Layout(width="420px"))
        self.chart = widgets.Output()
        self.summary = widgets.HTML()
        self.table = widgets.HTML()
        super().__init__(children=[self.container_select, self.chart, self.summary, self.table], **kwargs)
        self.add_class("layerlab-copyups")
        if options:  # an empty dropdown's value is None, which is no container ID
            widgets.link((self.container_select, "value"), (self, "container"))
        if container:
            self.container = container
        elif options:
            self.container = options[0][1]
        self._ready = True
        self._refresh()

    @validate("container")
    def _valid_container(self, proposal):
        value = proposal["value"]
        if not value:
            return value
        c = self.inv.containers
        hits = c[(c["name"] == value) | c["container_id"].str.startswith(value)]
        if len(hits) != 1:
            raise TraitError(f"no single container {value!r}; containers: {', '.join(c['name'])}")
        return hits["container_id"].iloc[0]

    @observe("container")
    def _changed(self, change):
        if self._ready:
            self._refresh()

    def copy_ups(self) -> pd.DataFrame:
        from .. import analyses

        key = self.container
        if key not in self._ups:
            self._ups[key] = analyses.copy_ups(self.inv, key or None)
        return self._ups[key]

    def plot(self, ax):
        name = self.inv.containers.set_index("container_id")["name"].get(self.container) if self.container else None
        return plots.copy_ups(self.inv, name, data=self.copy_ups(), ax=ax)

    def _refresh(self):
        if self.inv.containers.empty:
            self.summary.value = "<i>no containers in this source</i>"
            return
        draw(self.chart, self.plot, figsize=(9, 3.5))
        ups = self.copy_ups()
        self.summary.value = f"{len(ups)} paths in the read-write layer"
        self.table.value = table_html(copy_ups_table(ups))

    def snapshot(self):
        fig, (ax, tab) = plt.subplots(2, 1, figsize=(10, 6), gridspec_kw={"height_ratios": [2, 2]})
        self.plot(ax)
        _table_axes(tab, copy_ups_table(self.copy_ups()).drop(columns=['container']), "read-write layer, largest first")
        fig.tight_layout()
        return fig
