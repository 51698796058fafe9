"""LayerExplorer: pick an image, step through its layers, filter paths."""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
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
#: What an entry does to the layers below it, as the layer table says it.
CHANGES = np.array(["adds", "hides lower contents", "deletes", "updates dir", "overwrites"], dtype=object)


class ImageRows:
    """What the explorer works out once per image, so that a layer switch or a filter only takes rows
    out of arrays: each layer's rows in the table's order (largest first, then by path), the lowest
    layer holding each path, what a later layer does to each entry (a 169k-entry image: the layer
    table took 4-7 s a switch when pandas compared the paths of every layer below)."""

    def __init__(self, files: pd.DataFrame, waste: pd.DataFrame, layers: int):
        self.files = files.reset_index(drop=True)
        self.kinds = self.files["kind"].to_numpy(dtype=object)
        pos = self.files["position"].to_numpy()
        w = waste[waste["reclaimable"]]
        # The image's paths and the waste's numbered together, by arrow (hashing 169k Python strings,
        # or an Index of them, took most of a first open).
        both = pd.concat([pd.Series(pd.array(self.files["path"], dtype="string[pyarrow]")),
                          pd.Series(pd.array(w["path"].to_numpy(dtype=object), dtype="string[pyarrow]"))],
                         ignore_index=True)
        codes, uniques = pd.factorize(both.array)
        codes, waste_codes = codes[:len(self.files)], codes[len(self.files):]
        # Path order as the table sorts it (code points).
        rank = np.empty(len(uniques), dtype=np.int64)
        rank[uniques.argsort()] = np.arange(len(uniques))
        order = np.lexsort((rank[codes], -self.files["size"].to_numpy(dtype=np.int64)))
        order = order[np.argsort(pos[order], kind="stable")]
        self.bounds = np.searchsorted(pos[order], np.arange(layers + 1))
        self.order = order
        lowest = np.full(len(uniques), np.iinfo(np.int64).max)
        shown = self.kinds != "whiteout"
        np.minimum.at(lowest, codes[shown], pos[shown])
        self.lowest = lowest[codes]  # the lowest layer holding the row's path (not as a whiteout)
        # What a later layer does to each entry, as analyses.waste finds it (reclaimable rows only).
        labels = np.array(["kept"] + [f"{r.replace('_', '-')} by layer {int(b)}" if r != "metadata_only"
                                      else f"copied again by layer {int(b)} (metadata only)"
                                      for r, b in zip(w["reason"], w["by_position"])], dtype=object)
        keys = waste_codes * (layers + 1) + w["position"].to_numpy()
        last = ~pd.Index(keys).duplicated(keep="last")  # one label a path and layer (the last, as a dict keeps)
        hit = pd.Index(keys[last]).get_indexer(codes * (layers + 1) + pos)
        self.later = labels[np.concatenate([[-1], np.flatnonzero(last)])[hit + 1] + 1]  # not found (-1): "kept"
        self.filters: dict[str, np.ndarray] = {}

    text = pd.Series(["kept"]).dtype  # the dtype pandas gives a column of labels

    def count(self, position: int) -> int:
        """How many entries the layer has."""
        return int(self.bounds[position + 1] - self.bounds[position])

    def layer(self, position: int, path_filter: str = "") -> np.ndarray:
        """Row numbers of a layer's entries, in the table's order, path filter applied."""
        rows = self.order[self.bounds[position]:self.bounds[position + 1]]
        if path_filter:
            if path_filter not in self.filters:  # a mask of the image's paths, kept per filter text
                if len(self.filters) > 8:
                    self.filters.clear()
                self.filters[path_filter] = self.files["path"].str.contains(path_filter, regex=False,
                                                                            na=False).to_numpy(dtype=bool)
            rows = rows[self.filters[path_filter][rows]]
        return rows


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
        self._rows: dict[str, ImageRows] = {}
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

    def image_rows(self) -> ImageRows:
        """The current image's rows, indexed once (``ImageRows``)."""
        if self.image not in self._rows:
            self._rows[self.image] = ImageRows(self.image_files(), self.waste(), len(self.chain))
        return self._rows[self.image]

    def layer_table(self) -> pd.DataFrame:
        """The rows listed for the current layer: path, kind, size and what the entry does to the
        layers below (adds, overwrites, deletes, makes opaque), what a later layer does to it (``later``:
        kept, or overwritten / deleted / copied again by layer N, as ``analyses.waste`` finds), largest
        first, path filter applied."""
        ix = self.image_rows()
        rows = ix.layer(self.position, self.path_filter)
        kinds = ix.kinds[rows]
        below = ix.lowest[rows] < self.position
        # A directory appears again when something in it changed; that copies no content.
        change = CHANGES[np.select([kinds == "opaque", kinds == "whiteout", below & (kinds == "dir"), below],
                                   [1, 2, 3, 4], 0)]
        files = ix.files
        return pd.DataFrame({"path": files["path"].take(rows).reset_index(drop=True),
                             "kind": files["kind"].take(rows).reset_index(drop=True),
                             "size": files["size"].take(rows).reset_index(drop=True),
                             "change": pd.Series(change, dtype=object),
                             # text, as pandas infers it from the layer's labels (a filter leaving none keeps it)
                             "later": pd.Series(ix.later[rows], dtype=ix.text) if ix.count(self.position)
                             else []})

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
