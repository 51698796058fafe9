"""RowList: the file tree's listing, a scrolling list of monospace rows drawn by a small front end of
its own (anywidget), so it keeps its scroll place across updates, highlights the selected row and
colours rows by status.

Hand-written rather than a tree widget package: the one on the package index, ipytree (jsTree; last
release 2022), makes one widget model per node, so a 150k-entry image would cost thousands of comm
messages per switch of layer; an ipywidgets ``Select`` is one message but cannot colour a row,
highlight one or keep its scroll place when its options change. Here an update is one message (the
rows shown, at most ``tree.MAX_ROWS``) and a click is one message back.
"""

from __future__ import annotations

from typing import Callable

import anywidget
from traitlets import Int, List, Unicode

#: The CSS class of a row of each status (``tree.WORDS``' words): dive's colours.
STATUS_CLASS = {"added": "ll-added", "modified": "ll-modified", "removed": "ll-removed", "": ""}

# The front end: one scroll box whose rows are replaced in place (the box, and so its scroll
# position, stays); a click anywhere on a row sends its path to Python as one message.
_ESM = r"""
function render({ model, el }) {
  const box = document.createElement("div");
  box.className = "ll-rows-box";
  const head = document.createElement("div");
  head.className = "ll-rows-header";
  const body = document.createElement("div");
  body.className = "ll-rows-body";
  box.append(head, body);
  el.classList.add("ll-rows");
  el.append(box);

  const highlight = () => {
    const sel = model.get("selected");
    for (const row of body.querySelectorAll(".ll-selected")) row.classList.remove("ll-selected");
    for (const row of body.children) {
      if (row.dataset.path === sel && sel) { row.classList.add("ll-selected"); break; }
    }
  };
  const draw = () => {
    box.style.maxHeight = model.get("height");
    head.textContent = model.get("header");
    const frag = document.createDocumentFragment();
    for (const [path, cls, text] of model.get("rows")) {
      const row = document.createElement("div");
      row.className = "ll-row" + (cls ? " " + cls : "");
      row.dataset.path = path;
      row.textContent = text;
      row.title = path;
      frag.append(row);
    }
    const more = model.get("more");
    if (more) {
      const row = document.createElement("div");
      row.className = "ll-row ll-more";
      row.textContent = more;
      frag.append(row);
    }
    const top = box.scrollTop;  // replacing the rows keeps the box, and so the place the reader scrolled to
    body.replaceChildren(frag);
    box.scrollTop = top;
    highlight();
  };
  box.addEventListener("click", (event) => {
    const row = event.target.closest(".ll-row");
    if (!row || !row.dataset.path) return;
    model.send({ event: "click", path: row.dataset.path });
  });
  let timer = null;
  box.addEventListener("scroll", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { model.set("scroll_top", Math.round(box.scrollTop)); model.save_changes(); }, 200);
  });
  model.on("change:rows", draw);
  model.on("change:more", draw);
  model.on("change:header", draw);
  model.on("change:height", draw);
  model.on("change:selected", highlight);
  draw();
  // a view drawn again (the cell shown twice, the notebook reopened) starts where the reader was
  requestAnimationFrame(() => { box.scrollTop = model.get("scroll_top"); });
  return () => clearTimeout(timer);
}
export default { render };
"""

_CSS = """
.ll-rows {width: 100%;}
.ll-rows-box {overflow: auto; border: 1px solid var(--jp-border-color1, #ccc); width: 100%;
  font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; line-height: 1.35;}
.ll-rows-header {position: sticky; top: 0; font-weight: bold; white-space: pre; padding: 0 4px;
  background: var(--jp-layout-color1, #fff);}
.ll-row {white-space: pre; padding: 0 4px; cursor: pointer;}
.ll-row:hover {background: rgba(128, 128, 128, 0.15);}
.ll-row.ll-added {color: #1a7f37;}
.ll-row.ll-modified {color: #9a6700;}
.ll-row.ll-removed {color: #cf222e;}
.ll-row.ll-selected {background: #f2c744aa; font-weight: bold;}
.ll-row.ll-more {font-style: italic; cursor: default;}
"""


def row_key(path: str) -> str:
    """A path as a row's key: itself, or, for a name that is not valid UTF-8 (kept as surrogate escapes
    in the frames), its bytes written as escapes (a widget message is JSON, UTF-8 only)."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class RowList(anywidget.AnyWidget):
    """A list of monospace rows, each ``[path, css class, text]``: ``rows`` (what is shown),
    ``selected`` (the path highlighted), ``scroll_top`` (the front end's scroll position, in pixels,
    which an update of the rows keeps), ``header`` (a line over the rows that stays on top when they
    scroll), ``more`` (an italic line under them). A click on a row calls each ``on_click(handler)``
    with its path; ``click(path)`` does the same from code."""

    _esm = _ESM
    _css = _CSS
    rows = List(help="the rows shown, each [path, css class, text]").tag(sync=True)
    selected = Unicode("", help="the path of the highlighted row").tag(sync=True)
    scroll_top = Int(0, help="the front end's scroll position in pixels (kept across updates)").tag(sync=True)
    header = Unicode("", help="the line over the rows").tag(sync=True)
    more = Unicode("", help="a line under the rows (what was left out)").tag(sync=True)
    height = Unicode("32.4em", help="the list's height at most (CSS), 24 rows by default").tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._handlers: list[Callable[[str], None]] = []
        self.on_msg(self._message)

    def on_click(self, handler: Callable[[str], None]):
        """Call ``handler(path)`` on each click on a row."""
        self._handlers.append(handler)

    def click(self, path: str):
        """What a click on the row of ``path`` does."""
        for handler in self._handlers:
            handler(path)

    def _message(self, _widget, content, _buffers):
        if isinstance(content, dict) and content.get("event") == "click" and isinstance(content.get("path"), str):
            self.click(content["path"])

    def paths(self) -> list[str]:
        return [r[0] for r in self.rows]

    def lines(self) -> list[str]:
        """The rows' text, as shown."""
        return [r[2] for r in self.rows]

    def classes(self) -> dict[str, str]:
        """Each row's CSS class, by path."""
        return {r[0]: r[1] for r in self.rows}
