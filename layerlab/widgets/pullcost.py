"""PullCostExplorer: a pull's timeline with sliders for the link's bandwidth and the downloads at once."""

from __future__ import annotations

import html

import ipywidgets as widgets
from traitlets import Float, Int, observe

from ..analyses.pullcost import PullCost, what_if
from ..display import human_bytes
from ..errors import Expect, expects
from ..tables import table_html
from ._base import CSS, Snapshot, SnapshotMixin, controls, draw

COST = Expect("a PullCost (from layerlab.pull_cost)", PullCost)


class PullCostExplorer(SnapshotMixin, widgets.VBox):
    """``PullCostExplorer(ll.pull_cost(ref))``: the pull as a timeline (downloads in parallel, unpacks in
    a row) and the what-if table (reordered, squashed, debloated), redrawn as the bandwidth (Mbit/s)
    and concurrency sliders move. The model runs again on the same layers; nothing is fetched."""

    mbit = Float(100.0)
    concurrency = Int(3)

    @expects(cost=COST)
    def __init__(self, cost: PullCost, **kwargs):
        super().__init__(**kwargs)
        self.cost = cost
        self.mbit = cost.inputs["bandwidth_bytes_per_second"] * 8 / 1e6
        self.concurrency = cost.inputs["concurrency"]
        self._mbit = widgets.FloatLogSlider(value=self.mbit, base=10, min=0, max=4, step=0.05,
                                            description="Mbit/s", continuous_update=False)
        self._conc = widgets.IntSlider(value=self.concurrency, min=1, max=10, description="at once",
                                       continuous_update=False)
        self._mbit.observe(lambda c: setattr(self, "mbit", c["new"]), "value")
        self._conc.observe(lambda c: setattr(self, "concurrency", c["new"]), "value")
        self._summary = widgets.HTML()
        self._chart = widgets.Output()
        self._table = widgets.HTML()
        self.children = [widgets.HTML(CSS), controls(self._mbit, self._conc), self._summary, self._chart, self._table]
        self._ready = True
        self._redraw()

    def current(self) -> PullCost:
        return self.cost.with_link(self.mbit * 1e6 / 8, self.concurrency)

    @observe("mbit", "concurrency")
    def _changed(self, _change) -> None:
        if getattr(self, "_ready", False):
            self._redraw()

    def _redraw(self) -> None:
        from ..plots.pullcost import pull_timeline

        cost = self.current()
        self._summary.value = html.escape(", ".join(
            f"{e}: {cost.total[e]:.2f} s, {human_bytes(cost.bytes[e])} fetched" for e in cost.total))
        draw(self._chart, lambda ax: pull_timeline(cost, ax=ax), figsize=(9, 0.5 + 0.35 * len(cost.layers) / 2))
        self._table.value = table_html(what_if(cost))

    def snapshot(self) -> Snapshot:
        """The current totals and the what-if table as static HTML (for reports)."""
        return Snapshot(f"<p>{self._summary.value}</p>" + self._table.value, f"pull of {self.cost.reference}")
