"""What every layerlab widget shares: lookups cached on the Inventory, drawing into an Output, a paged
table, and the static snapshot that stands in for the widget where callbacks cannot run (HTML
reports)."""

from __future__ import annotations

import html
import os

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display
from traitlets import HasTraits, Int, TraitError, observe, validate

from ..display import REPORT_ENV, image_names, short_name
from ..errors import LayerlabError
from ..tables import table_html

#: Rows a widget's table shows per page (the pager reaches the rest).
PAGE_ROWS = 15

#: One style sheet for every widget: tables aligned left with their headers, controls that wrap
#: instead of being cut at the right edge, the tree in a fixed-width font so its columns line up.
CSS = """<style>
.layerlab-table {border-collapse: collapse; font-size: 12px; margin: 2px 0;}
/* !important: JupyterLab's and the report's own table rules would otherwise align headers and cells
   differently (pandas also writes text-align: right on the header row) */
.layerlab-table th, .layerlab-table td {text-align: left !important; padding: 2px 12px 2px 0 !important;
  line-height: 1.3 !important; vertical-align: top; max-width: 36em; overflow-wrap: anywhere;}
/* long cells wrap rather than being cut at the end (paths are shortened in the middle by tables.readable) */
.layerlab-table th {border-bottom: 1px solid #999;}
.layerlab-controls {flex-wrap: wrap; gap: 4px 12px;}
.layerlab-tree select, .layerlab-tree-static {font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 12px;}
.layerlab-tree-static summary, .layerlab-tree-static div {white-space: pre;}
.layerlab-tree-header {font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px;
  white-space: pre; font-weight: bold; padding-left: 5px;}
.ll-added {color: #1a7f37;} .ll-modified {color: #9a6700;} .ll-removed {color: #cf222e; text-decoration: line-through;}
</style>"""


def image_choices(inv, include_untagged: bool = False, keep=()) -> list[tuple[str, str]]:
    """(name, image ID) for a widget's image dropdown: tagged images by name, as ``docker images``
    lists them; untagged ones (``<none>``: build steps, dangling images) only when asked, or when
    they are in ``keep`` (an image the widget was opened on). Sorted once per Inventory."""
    if "image_choices" not in inv.cache:
        images = inv.images
        names = image_names(images)
        order = pd.DataFrame({"image_id": images["image_id"], "name": names.to_numpy(),
                              "untagged": (images["tags"].map(len) == 0).to_numpy()})
        order = order.sort_values(["untagged", "name"], kind="stable")
        inv.cache["image_choices"] = list(zip(order["name"], order["image_id"], order["untagged"]))
    keep = set(keep)
    return [(n, i) for n, i, untagged in inv.cache["image_choices"] if include_untagged or not untagged or i in keep]


def image_name(inv, image_id: str) -> str:
    """The name ``image_choices`` shows for an image ID."""
    if "image_names" not in inv.cache:
        inv.cache["image_names"] = {i: n for n, i in image_choices(inv, include_untagged=True)}
    return inv.cache["image_names"].get(image_id) or short_name((), image_id)


def chain_rows(inv, image_id: str) -> pd.DataFrame:
    """The ``image_layers`` rows of one image, base first (one groupby per Inventory)."""
    if "chain_rows" not in inv.cache:
        inv.cache["chain_rows"] = {k: g.sort_values("position") for k, g in inv.image_layers.groupby("image_id")}
    return inv.cache["chain_rows"].get(image_id, inv.image_layers.iloc[0:0])


class Busy:
    """A line that says a widget is working, shown when an update has run for half a second (a
    shorter one would only flicker): ``with self.busy("reading layer 3"): ...``. The line is set
    from a timer thread; the kernel sends widget messages from any thread at once, so it shows
    while the update still holds the kernel."""

    AFTER = 0.5

    def __init__(self):
        self.label = widgets.HTML("")
        self.label.add_class("layerlab-busy")
        self.shown = 0  # how many updates showed it (what the tests read)

    def __call__(self, what: str = "updating"):
        import contextlib
        import threading

        @contextlib.contextmanager
        def running():
            lock, state = threading.Lock(), {"done": False}

            def show():
                with lock:
                    if not state["done"]:
                        self.label.value = f'<span style="color:#9a6700">⏳ {html.escape(what)}…</span>'
                        self.shown += 1

            timer = threading.Timer(self.AFTER, show)
            timer.daemon = True
            timer.start()
            try:
                yield
            finally:
                timer.cancel()
                with lock:
                    state["done"] = True
                    if self.label.value:
                        self.label.value = ""

        return running()


def controls(*children) -> widgets.HBox:
    """A row of controls that wraps onto a second line in a narrow notebook rather than overflowing."""
    box = widgets.HBox(list(children), layout=widgets.Layout(flex_flow="row wrap", width="100%"))
    box.add_class("layerlab-controls")
    return box


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


def page_html(df: pd.DataFrame, page: int = 0, rows: int = PAGE_ROWS) -> str:
    """Rows ``page * rows`` onwards of ``df`` as an HTML table (``tables.table_html``: the format every
    report table has), with a line saying which rows these are."""
    if df.empty:
        return "<i>nothing to show</i>"
    start = page * rows
    part = df.iloc[start:start + rows]
    note = f"<div><i>rows {start + 1}–{start + len(part)} of {len(df)}</i></div>" if len(df) > rows else ""
    return table_html(part) + note


class TablePager(widgets.VBox):
    """A table shown ``rows`` rows at a time, with buttons to page through the rest.

    ``frame`` is what it pages (set with ``show``); ``page`` (trait, 0 = first) is clamped to the
    pages there are, so code can drive it: ``pager.page = 1`` shows rows 16-30.
    """

    page = Int(0, help="page shown, 0 = the first")

    def __init__(self, rows: int = PAGE_ROWS, **kwargs):
        self.rows = rows
        self.frame = pd.DataFrame()
        self.html = widgets.HTML()
        self.prev_button = widgets.Button(description="‹ previous", layout=widgets.Layout(width="110px"))
        self.next_button = widgets.Button(description="next ›", layout=widgets.Layout(width="110px"))
        self.where = widgets.Label()
        self.prev_button.on_click(lambda _: setattr(self, "page", self.page - 1))
        self.next_button.on_click(lambda _: setattr(self, "page", self.page + 1))
        self.nav = widgets.HBox([self.prev_button, self.next_button, self.where])
        super().__init__(children=[self.html, self.nav], **kwargs)

    @property
    def pages(self) -> int:
        return max((len(self.frame) + self.rows - 1) // self.rows, 1)

    def show(self, frame: pd.DataFrame):
        """Page through ``frame`` from its first page."""
        self.frame = frame.reset_index(drop=True)
        if self.page == 0:
            self._render()
        self.page = 0

    def shown(self) -> pd.DataFrame:
        """The rows on the current page."""
        return self.frame.iloc[self.page * self.rows:(self.page + 1) * self.rows]

    @observe("page")
    def _page_changed(self, change):
        clamped = min(max(int(change["new"]), 0), self.pages - 1)
        if clamped != change["new"]:
            self.page = clamped
            return
        self._render()

    def _render(self):
        self.html.value = page_html(self.frame, self.page, self.rows)
        self.nav.layout.display = "" if self.pages > 1 else "none"
        self.prev_button.disabled = self.page == 0
        self.next_button.disabled = self.page >= self.pages - 1
        self.where.value = f"page {self.page + 1} of {self.pages}"


class Snapshot:
    """A widget's state as static HTML (what a report shows in its place): ``html`` holds it."""

    def __init__(self, html_text: str, title: str = ""):
        self.html = CSS + html_text
        self.title = title

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"<layerlab widget snapshot: {self.title}>"


def snapshot_table(summary_html: str, table: pd.DataFrame, rows: int = PAGE_ROWS, what: str = "rows") -> str:
    """The still form of a summary line and a table: the summary, the first ``rows`` rows through
    ``tables.table_html``, and how many there are in all (a static page cannot page through them)."""
    more = f"<div><i>the first {rows} of {len(table):,} {what}</i></div>" if len(table) > rows else ""
    body = table_html(table.head(rows)) if len(table) else "<i>nothing to show</i>"
    return f"<div>{summary_html}</div>{body}{more}"


class SnapshotMixin:
    """Widgets that can show themselves statically: ``snapshot()`` returns a ``Snapshot`` (HTML).

    In a report run (``LAYERLAB_REPORT`` set) the widget displays as that HTML: the state it was
    left in, its summary and the top of its table, and no chart (the notebook draws the chart in a
    cell of its own; repeating it in a still picture said nothing new).
    """

    def snapshot(self) -> Snapshot:  # pragma: no cover - each widget implements it
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs):
        if not os.environ.get(REPORT_ENV):
            return super()._repr_mimebundle_(**kwargs)
        snap = self.snapshot()
        return {"text/html": snap.html, "text/plain": f"<{type(self).__name__} snapshot: {html.unescape(snap.title)}>"}


def set_options(dropdown, options, value, owner=None):
    """Give ``dropdown`` new options keeping ``value`` selected. ipywidgets moves a selection to its
    first option when the options change; while it passes there, ``owner`` (a widget whose trait is
    linked to the dropdown) is ``frozen``: its validators keep the trait as it is (``keep_if_frozen``)."""
    if owner is not None:
        owner._frozen = True
    try:
        dropdown.options = options
        dropdown.value = value
    finally:
        if owner is not None:
            owner._frozen = False


def keep_if_frozen(widget, proposal):
    """The trait's current value while ``set_options`` changes a linked dropdown's options, else None."""
    if getattr(widget, "_frozen", False):
        return getattr(widget, proposal["trait"].name)
    return None


class ImagePicking:
    """The image dropdown's untagged switch, shared by the widgets that pick images: ``show_untagged``
    (a trait, False by default) lists ``<none>`` images too; an untagged image the widget is set to is
    listed whatever the switch says."""

    def _image_choices(self, *keep):
        return image_choices(self.inv, self.show_untagged, keep=[k for k in keep if k])

    def _picked_image(self, proposal, select, on_unlisted) -> str:
        """Validate an image trait: its current value while a dropdown's options change, else the
        image ID the value names (a TraitError saying why when none); ``on_unlisted(image_id)`` runs
        for an image ``select`` does not list (an untagged image asked for by code)."""
        frozen = keep_if_frozen(self, proposal)
        if frozen is not None:
            return frozen
        try:
            image_id = self.inv.image_id(proposal["value"])
        except LayerlabError as e:
            raise TraitError(str(e)) from None
        if image_id not in dict(select.options).values():
            on_unlisted(image_id)
        return image_id

    def _untagged_box(self):
        box = widgets.Checkbox(value=False, description="untagged images", indent=False,
                               layout=widgets.Layout(width="150px"))
        widgets.link((box, "value"), (self, "show_untagged"))
        return box


class OneImagePicking(ImagePicking, HasTraits):
    """``ImagePicking`` for a widget with one image dropdown (``image_select``) and a layer
    ``position`` (its traits ``image``, ``position``, ``show_untagged``): the image asked for is
    validated and listed, the dropdown follows ``show_untagged``, the position stays within the
    image's layers."""

    @validate("image")
    def _valid_image(self, proposal):
        return self._picked_image(proposal, self.image_select, lambda image_id: set_options(
            self.image_select, self._image_choices(image_id, self.image), self.image_select.value, self))

    @observe("show_untagged")
    def _untagged_changed(self, change):
        set_options(self.image_select, self._image_choices(self.image), self.image, self)

    @validate("position")
    def _valid_position(self, proposal):
        last = len(self.chain) - 1 if self.image else 0
        return min(max(int(proposal["value"]), 0), max(last, 0))
