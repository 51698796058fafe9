"""LayerExplorer: pick an image, step through its layers, filter paths."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pandas as pd
from traitlets import Int, TraitError, Unicode, observe, validate

from .. import plots
from .._docstrings import fill_doc
from ..errors import LayerlabError
from ..display import command_label, human_bytes
from ..frames.inventory import require_inventory
from ._base import SnapshotMixin, chain_rows, draw, image_choices, image_name, table_axes, table_html


@fill_doc
class LayerExplorer(SnapshotMixin, widgets.VBox):
    """Step through an image's layers: each layer's size and command, its largest files, and what it
    overwrote or deleted in the layers below; a path filter narrows the table.

    State lives in traits (``image``: an image ID, ``position``: 0 = base, clamped to the image's
    layers, ``path_filter``: a substring of the paths to list), so code can drive it as well as a
    person can: ``ex.image = "app:1"; ex.position = 2``.

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

    def __init__(self, inv, image=None, position: int | None = None, **kwargs):
        self._ready = False  # no drawing until every control exists and is linked
        self.inv = require_inventory(inv, "LayerExplorer")
        self._waste: dict[str, pd.DataFrame] = {}
        self._files: dict[str, pd.DataFrame] = {}
        self.image_select = widgets.Dropdown(options=image_choices(self.inv), description="image",
                                             layout=widgets.Layout(width="420px"))
        self.layer_slider = widgets.IntSlider(min=0, max=0, description="layer", continuous_update=False)
        self.filter_box = widgets.Text(placeholder="filter paths, e.g. /usr/lib", description="paths",
                                       continuous_update=False)
        self.summary = widgets.HTML()
        self.chart = widgets.Output()
        self.table = widgets.HTML()
        super().__init__(children=[widgets.HBox([self.image_select, self.layer_slider, self.filter_box]),
                                   self.chart, self.summary, self.table], **kwargs)
        self.add_class("layerlab-explorer")
        widgets.link((self.image_select, "value"), (self, "image"))
        widgets.link((self.layer_slider, "value"), (self, "position"))
        widgets.link((self.filter_box, "value"), (self, "path_filter"))
        self.image = self.inv.resolve_image(image)
        if position is None:
            w = self.waste()
            position = int(w.groupby("position")["bytes"].sum().idxmax()) if len(w) else 0
        self.position = position
        self._ready = True
        self._refresh(chart=True)

    # -- state ---------------------------------------------------------------------------------

    @validate("image")
    def _valid_image(self, proposal):
        try:
            return self.inv.image_id(proposal["value"])
        except LayerlabError as e:
            raise TraitError(str(e)) from None

    @validate("position")
    def _valid_position(self, proposal):
        last = len(self.chain) - 1 if self.image else 0
        return min(max(int(proposal["value"]), 0), max(last, 0))

    @observe("image")
    def _image_changed(self, change):
        self.layer_slider.max = max(len(self.chain) - 1, 0)
        self.position = self.position  # re-clamp to the new image's layers
        if self._ready:
            self._refresh(chart=True)

    @observe("position")
    def _position_changed(self, change):
        if self._ready:
            self._refresh(chart=True)

    @observe("path_filter")
    def _filter_changed(self, change):
        if self._ready:
            self._refresh(chart=False)

    # -- data (filters of cached frames) --------------------------------------------------------

    @property
    def chain(self) -> pd.DataFrame:
        """The image's layers, base first."""
        return chain_rows(self.inv, self.image)

    def waste(self) -> pd.DataFrame:
        from .. import analyses

        if self.image not in self._waste:
            self._waste[self.image] = analyses.waste(self.inv, self.image)
        return self._waste[self.image]

    def image_files(self) -> pd.DataFrame:
        if self.image not in self._files:
            chain = self.chain
            files = self.inv.files_of(chain["layer_id"])
            self._files[self.image] = files.assign(position=files["layer_id"].map(dict(zip(chain["layer_id"], chain["position"]))).astype("int64"))
        return self._files[self.image]

    def layer_table(self) -> pd.DataFrame:
        """The rows listed for the current layer: path, kind, size and what the entry does to the
        layers below (adds, overwrites, deletes, makes opaque), largest first, path filter applied."""
        files = self.image_files()
        here = files[files["position"] == self.position]
        below = set(files.loc[(files["position"] < self.position) & (files["kind"] != "whiteout"), "path"])
        change = pd.Series("adds", index=here.index, dtype=object)
        change[here["path"].isin(below)] = "overwrites"
        # A directory appears again when something in it changed; that copies no content.
        change[here["path"].isin(below) & (here["kind"] == "dir")] = "updates dir"
        change[here["kind"] == "whiteout"] = "deletes"
        change[here["kind"] == "opaque"] = "hides lower contents"
        out = pd.DataFrame({"path": here["path"], "kind": here["kind"], "size": here["size"], "change": change})
        if self.path_filter:
            out = out[out["path"].str.contains(self.path_filter, regex=False, na=False)]
        return out.sort_values(["size", "path"], ascending=[False, True]).reset_index(drop=True)

    # -- drawing --------------------------------------------------------------------------------

    def plot(self, ax):
        """Draw the current image's layers with the current one outlined."""
        return plots.layer_sizes(self.inv, self.image, waste=self.waste(), highlight=self.position, ax=ax)

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
                f"bytes it hides in the layers below: {hidden}")

    def _refresh(self, chart: bool):
        table = self.layer_table()
        if chart:
            draw(self.chart, self.plot)
        self.summary.value = self._summary_html(table)
        shown = table.assign(size=table["size"].map(human_bytes))
        self.table.value = table_html(shown)

    def snapshot(self):
        """A static Figure of the current state: the layer chart and the top of the layer's table."""
        fig, (ax, tab) = plt.subplots(2, 1, figsize=(10, 7), gridspec_kw={"height_ratios": [3, 2]})
        self.plot(ax)
        table_axes(tab, self.layer_table().assign(size=lambda d: d["size"].map(human_bytes)),
                    f"layer {self.position}: largest entries")
        fig.tight_layout()
        return fig
