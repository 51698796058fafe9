"""LayerExplorer: pick an image, step through its layers, filter paths."""

from __future__ import annotations

import html

import ipywidgets as widgets
import pandas as pd
from traitlets import Bool, Int, Unicode, observe

from .. import plots
from .._docstrings import fill_doc
from ..errors import OPTIONAL_IMAGE, Expect, expects
from ..display import command_label, human_bytes
from ..frames.inventory import INVENTORY, require_inventory
from ._base import (CSS, Busy, OneImagePicking, SnapshotMixin, Snapshot, TablePager, chain_rows, controls, draw,
                    image_name,
                    snapshot_table)


POSITION = Expect("a layer position (an int, 0 = base) or None", int, none=True)


@fill_doc
class LayerExplorer(OneImagePicking, SnapshotMixin, widgets.VBox):
    """Step through an image's layers: each layer's size and command, its largest files, what it
    overwrote or deleted in the layers below, and what a later layer does to each of its entries; a
    path filter narrows the chart and the table alike; the table pages 15 rows at a time.

    State lives in traits (``image``: an image ID, ``position``: 0 = base, clamped to the image's
    layers, ``path_filter``: a substring of the paths to list, ``show_untagged``: list ``<none>``
    images in the dropdown), so code can drive it as well as a person can:
    ``ex.image = "app:1"; ex.position = 2``.

    Parameters
    ----------
    {inv}
    image : str, optional
        Tag or ID to start on; the image with the most layers when omitted.
    position : int, optional
        Layer to start on; the layer holding the most hidden (wasted) bytes when omitted.
    """

    image = Unicode(help="image ID shown")
    position = Int(0, help="layer shown, 0 = base")
    path_filter = Unicode("", help="only list paths containing this text")
    show_untagged = Bool(False, help="list untagged (<none>) images in the image dropdown")

    @expects(inv=INVENTORY, image=OPTIONAL_IMAGE, position=POSITION)
    def __init__(self, inv, image=None, position: int | None = None, **kwargs):
        self._ready = False  # no drawing until every control exists and is linked
        self.inv = require_inventory(inv, "LayerExplorer")
        self._waste: dict[str, pd.DataFrame] = {}
        self._files: dict[str, pd.DataFrame] = {}
        first = self.inv.resolve_image(image)
        self.image_select = widgets.Dropdown(options=self._image_choices(first), value=first, description="image",
                                             layout=widgets.Layout(width="380px"))
        self.layer_slider = widgets.IntSlider(min=0, max=0, description="layer", continuous_update=False)
        self.filter_box = widgets.Text(placeholder="filter paths, e.g. /usr/lib", description="paths",
                                       continuous_update=False, layout=widgets.Layout(width="300px"))
        self.summary = widgets.HTML()
        self.chart = widgets.Output()
        self.table = TablePager()
        self.busy = Busy()
        super().__init__(children=[widgets.HTML(CSS), controls(self.image_select, self.layer_slider, self.filter_box,
                                                               self._untagged_box(), self.busy.label),
                                   self.chart, self.summary, self.table], **kwargs)
        self.add_class("layerlab-explorer")
        widgets.link((self.image_select, "value"), (self, "image"))
        widgets.link((self.layer_slider, "value"), (self, "position"))
        widgets.link((self.filter_box, "value"), (self, "path_filter"))
        self.image = first
        if position is None:
            w = self.waste()
            position = int(w.groupby("position")["bytes"].sum().idxmax()) if len(w) else 0
        self.position = position
        self._ready = True
        self._refresh(chart=True)

    # -- state ---------------------------------------------------------------------------------

    @observe("image")
    def _image_changed(self, change):
        ready, self._ready = self._ready, False  # one redraw, not one more when the slider re-clamps
        self.layer_slider.max = max(len(self.chain) - 1, 0)
        self.position = self.position  # re-clamp to the new image's layers
        self._ready = ready
        if ready:
            self._refresh(chart=True)

    @observe("position")
    def _position_changed(self, change):
        if self._ready:
            self._refresh(chart=True)

    @observe("path_filter")
    def _filter_changed(self, change):
        if self._ready:
            self._refresh(chart=True)

    # -- data (filters of cached frames) --------------------------------------------------------

    @property
    def chain(self) -> pd.DataFrame:
        """The image's layers, base first."""
        return chain_rows(self.inv, self.image)

    def waste(self) -> pd.DataFrame:
        from .. import analyses

        if self.image not in self._waste:
            # no duplicate_content rows: the explorer shows reclaimable bytes only, and finding
            # duplicates hashed 407 MB of a 150k-file image on its first open
            self._waste[self.image] = analyses.waste(self.inv, self.image, duplicates=False, progress=False)
        return self._waste[self.image]

    def image_files(self) -> pd.DataFrame:
        if self.image not in self._files:
            chain = self.chain
            files = self.inv.files_of(chain["layer_id"])
            self._files[self.image] = files.assign(position=files["layer_id"].map(dict(zip(chain["layer_id"],
                chain["position"]))).astype("int64"))
        return self._files[self.image]

    def layer_table(self) -> pd.DataFrame:
        """The rows listed for the current layer: path, kind, size and what the entry does to the
        layers below (adds, overwrites, deletes, makes opaque), what a later layer does to it (``later``:
        kept, or overwritten / deleted / copied again by layer N, as ``analyses.waste`` finds), largest
        first, path filter applied."""
        files = self.image_files()
        here = files[files["position"] == self.position]
        below = set(files.loc[(files["position"] < self.position) & (files["kind"] != "whiteout"), "path"])
        change = pd.Series("adds", index=here.index, dtype=object)
        change[here["path"].isin(below)] = "overwrites"
        # A directory appears again when something in it changed; that copies no content.
        change[here["path"].isin(below) & (here["kind"] == "dir")] = "updates dir"
        change[here["kind"] == "whiteout"] = "deletes"
        change[here["kind"] == "opaque"] = "hides lower contents"
        # What a later layer does to the entry (the waste the chart draws for this layer, path by path).
        w = self.waste()
        w = w[(w["position"] == self.position) & w["reclaimable"]]
        later = dict(zip(w["path"], [f"{r.replace('_', '-')} by layer {int(b)}" if r != "metadata_only"
                                     else f"copied again by layer {int(b)} (metadata only)"
                                     for r, b in zip(w["reason"], w["by_position"])]))
        out = pd.DataFrame({"path": here["path"], "kind": here["kind"], "size": here["size"], "change": change,
                            "later": [later.get(p, "kept") for p in here["path"]]})
        if self.path_filter:
            out = out[out["path"].str.contains(self.path_filter, regex=False, na=False)]
        return out.sort_values(["size", "path"], ascending=[False, True]).reset_index(drop=True)

    # -- drawing --------------------------------------------------------------------------------

    def plot(self, ax):
        """Draw the current image's layers with the current one outlined."""
        return plots.layer_sizes(self.inv, self.image, waste=self.waste(), highlight=self.position,
                                 path_filter=self.path_filter or None, ax=ax)

    def _summary_html(self, table: pd.DataFrame) -> str:
        chain = self.chain
        row = chain[chain["position"] == self.position].iloc[0]
        counts = table["change"].value_counts()
        w = self.waste()
        hid = w[w["by_position"] == self.position].groupby("reason")["bytes"].sum()
        hidden = ", ".join(f"{r.replace('_', '-')} {human_bytes(v)}" for r, v in hid.items() if v) or "nothing"
        return (f"<b>{image_name(self.inv, self.image)}</b> layer {self.position} (of 0–{len(chain) - 1}) · "
                f"{human_bytes(row['size'])} apparent · <code>{command_label(row['created_by'], 120)}</code><br>"
                f"{len(table)} entries listed · overwrites {counts.get('overwrites', 0)} paths · deletes "
                f"{counts.get('deletes', 0)} · opaque dirs {counts.get('hides lower contents', 0)} · "
                f"bytes it hides in the layers below: {hidden}"
                + (f"<br>chart and table: paths containing <code>{html.escape(self.path_filter)}</code>"
                   if self.path_filter else ""))

    def _refresh(self, chart: bool):
        with self.busy(f"reading layer {self.position}"):
            table = self.layer_table()
            if chart:
                draw(self.chart, self.plot)
            self.summary.value = self._summary_html(table)
            self.table.show(table)

    def snapshot(self) -> Snapshot:
        """The current state as HTML: the summary of the layer and the top of its table (the chart is
        drawn by the notebook cell above the widget, so it is not repeated)."""
        table = self.layer_table()
        return Snapshot(snapshot_table(self._summary_html(table), table),
                        f"{image_name(self.inv, self.image)} layer {self.position}")
