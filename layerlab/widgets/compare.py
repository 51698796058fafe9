"""ImageCompare: two images side by side, path by path."""

from __future__ import annotations

import ipywidgets as widgets
import pandas as pd
from traitlets import Bool, Unicode, observe, validate

from .. import plots
from .._docstrings import fill_doc
from ..display import human_bytes
from ..errors import OPTIONAL_IMAGE, expects
from ..frames.inventory import INVENTORY, require_inventory
from ..tables import diff_table
from ._base import (CSS, Busy, ImagePicking, Snapshot, SnapshotMixin, TablePager, controls, draw, image_name,
                    set_options,
                    snapshot_table)


@fill_doc
class ImageCompare(ImagePicking, SnapshotMixin, widgets.VBox):
    """Compare two images: bytes added, removed and changed from ``a`` to ``b``, and the paths behind them.

    Traits ``a`` and ``b`` hold image IDs (a tag or ID prefix is accepted and resolved);
    ``path_filter`` narrows the chart and the table alike (both show the same paths);
    ``show_untagged`` lists ``<none>`` images in the dropdowns. The table pages 15 rows at a time.

    Parameters
    ----------
    {inv}
    a, b : str, optional
        Images to compare; the two largest tagged images when omitted.
    """

    a = Unicode(help="image ID compared from")
    b = Unicode(help="image ID compared to")
    path_filter = Unicode("", help="only chart and list paths containing this text")
    show_untagged = Bool(False, help="list untagged (<none>) images in the image dropdowns")

    @expects(inv=INVENTORY, a=OPTIONAL_IMAGE, b=OPTIONAL_IMAGE)
    def __init__(self, inv, a=None, b=None, **kwargs):
        self._ready = False
        self.inv = require_inventory(inv, "ImageCompare")
        self._diffs: dict[tuple[str, str], pd.DataFrame] = {}
        from ..analyses.fix_first import pick_pair

        first, second = pick_pair(self.inv, a, b)  # two tags of one repository, or two images sharing a base
        opts = self._image_choices(first, second)
        self.a_select = widgets.Dropdown(options=opts, value=first, description="from",
                                         layout=widgets.Layout(width="340px"))
        self.b_select = widgets.Dropdown(options=opts, value=second, description="to",
                                         layout=widgets.Layout(width="340px"))
        self.filter_box = widgets.Text(placeholder="filter paths", description="paths", continuous_update=False,
                                       layout=widgets.Layout(width="260px"))
        self.chart = widgets.Output()
        self.summary = widgets.HTML()
        self.table = TablePager()
        self.busy = Busy()
        super().__init__(children=[widgets.HTML(CSS), controls(self.a_select, self.b_select, self.filter_box,
                                                               self._untagged_box(), self.busy.label),
                                   self.chart, self.summary, self.table], **kwargs)
        self.add_class("layerlab-compare")
        widgets.link((self.a_select, "value"), (self, "a"))
        widgets.link((self.b_select, "value"), (self, "b"))
        widgets.link((self.filter_box, "value"), (self, "path_filter"))
        self._ready = True
        self._refresh()

    @validate("a", "b")
    def _valid_image(self, proposal):
        return self._picked_image(proposal, self.a_select, self._set_choices)

    def _set_choices(self, *keep):
        opts = self._image_choices(self.a, self.b, *keep)
        set_options(self.a_select, opts, self.a_select.value, self)
        set_options(self.b_select, opts, self.b_select.value, self)

    @observe("show_untagged")
    def _untagged_changed(self, change):
        self._set_choices()

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
        """The paths shown, in the chart and in the table: the diff with the path filter applied."""
        d = self.diff()
        if self.path_filter:
            d = d[d["path"].astype(str).str.contains(self.path_filter, regex=False, na=False)]
        return d

    def plot(self, ax):
        """The bytes of the paths shown (the filter applies to the chart as to the table)."""
        shown = self.diff_table()
        if shown.empty and self.path_filter and len(self.diff()):
            ax.set_axis_off()
            ax.text(0.5, 0.5, f"no differing path contains {self.path_filter!r}", ha="center", va="center",
                    transform=ax.transAxes)
            return ax
        return plots.image_diff(self.inv, self.a, self.b, data=shown, ax=ax)

    def _summary_html(self, shown: pd.DataFrame) -> str:
        by = shown["status"].value_counts()
        counts = ", ".join(f"{by[s]} {s}" for s in ("added", "changed", "removed") if by.get(s, 0))
        if by.get("changed", 0) and "changes" in shown.columns:
            from ..plots.waste import CONTENT_CHANGES

            changed = shown.loc[shown["status"] == "changed", "changes"].astype(str)
            same = int((~changed.map(lambda c: bool(CONTENT_CHANGES & set(c.split(","))))).sum())
            if same:
                counts += f"; of the changed, {same} have the same content (mtime, mode or owner only)"
        where = f" matching <code>{self.path_filter}</code>" if self.path_filter else ""
        moved = human_bytes(int(shown[["size_a", "size_b"]].max(axis=1).sum())) if len(shown) else human_bytes(0)
        return (f"<b>{image_name(self.inv, self.a)}</b> → <b>{image_name(self.inv, self.b)}</b>: "
                f"{len(shown)} paths differ{where} ({counts or 'none'}; {moved} of file content, apparent)")

    def _refresh(self):
        with self.busy("comparing"):
            shown = self.diff_table()
            draw(self.chart, self.plot, figsize=(9, 3))
            self.summary.value = self._summary_html(shown)
            self.table.show(diff_table(shown))

    def snapshot(self) -> Snapshot:
        """The current state as HTML: the summary and the top of the table (no chart: the notebook
        draws it in the cell above)."""
        shown = self.diff_table()
        return Snapshot(snapshot_table(self._summary_html(shown), diff_table(shown), what="paths"),
                        f"{image_name(self.inv, self.a)} → {image_name(self.inv, self.b)}")
