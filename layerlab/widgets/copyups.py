"""CopyUpExplorer: a container's read-write layer, and what it copied up from the image."""

from __future__ import annotations

import ipywidgets as widgets
import pandas as pd
from traitlets import TraitError, Unicode, observe, validate

from .. import plots
from .._docstrings import fill_doc
from ..errors import CONTAINER, expects
from ..frames.inventory import INVENTORY, require_inventory
from ..tables import copy_ups_table
from ._base import CSS, Snapshot, SnapshotMixin, TablePager, draw, snapshot_table


@fill_doc
class CopyUpExplorer(SnapshotMixin, widgets.VBox):
    """Pick a container and see its read-write layer: what it copied up from the image and what it wrote new.

    Trait ``container`` holds a container ID ("" for every container).

    Parameters
    ----------
    {inv}
    container : str, optional
        Container name or ID to start on; the first container when omitted.
    """

    container = Unicode("", help="container ID shown")

    @expects(inv=INVENTORY, container=CONTAINER)
    def __init__(self, inv, container=None, **kwargs):
        self._ready = False
        self.inv = require_inventory(inv, "CopyUpExplorer")
        self._ups: dict[str, pd.DataFrame] = {}
        # Largest read-write layer first: the one worth looking at.
        c = self.inv.containers.assign(rw=self.inv.containers["rw_size"].fillna(0)).sort_values(["rw", "name"],
            ascending=[False, True])
        options = [(f"{n} ({i[:12]})", i) for n, i in zip(c["name"], c["container_id"])]
        self.container_select = widgets.Dropdown(options=options, description="container",
                                                 layout=widgets.Layout(width="420px"))
        self.chart = widgets.Output()
        self.summary = widgets.HTML()
        self.table = TablePager()
        super().__init__(children=[widgets.HTML(CSS), self.container_select, self.chart, self.summary, self.table],
                         **kwargs)
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
        self.summary.value = self._summary_html(ups)
        self.table.show(copy_ups_table(ups))

    def _summary_html(self, ups: pd.DataFrame) -> str:
        name = self.inv.containers.set_index("container_id")["name"].get(self.container, "every container")
        return f"<b>{name}</b>: {len(ups)} paths in the read-write layer"

    def snapshot(self) -> Snapshot:
        """The current state as HTML: the summary and the top of the read-write layer's table (no
        chart: the notebook draws it in the cell above)."""
        if self.inv.containers.empty:
            return Snapshot("<i>no containers in this source</i>", "no containers")
        ups = self.copy_ups()
        return Snapshot(snapshot_table(self._summary_html(ups), copy_ups_table(ups).drop(columns=["container"]),
                                       what="paths"),
                        self._summary_html(ups))
