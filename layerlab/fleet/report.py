"""``layerlab fleet report``: the fleet notebook rendered to HTML, like the single-host reports."""

from __future__ import annotations

import html
import time
from pathlib import Path

from ..errors import NotebookFailed, ReportError
from ..reports.index import write_index
from ..reports.params import notebooks_dir
from ..frames.output import prepare_dir
from ..reports.page import made_by_layerlab, render

NOTEBOOK = "07-fleet.ipynb"


def render_fleet(paths, out_dir, *, scheduler: str | None = None, force: bool = False, **params) -> Path:
    """Run the fleet notebook on ``paths`` (snapshot folders, folders, globs, URLs) and write
    ``out_dir``/index.html and the page; returns the index."""
    nb = notebooks_dir() / NOTEBOOK
    if not nb.is_file():
        raise ReportError(f"no fleet notebook at {nb}; run from a layerlab checkout or set LAYERLAB_NOTEBOOKS")
    # Never into /, through a symbolic link, or over a file of the same name no report wrote.
    out_dir = prepare_dir(out_dir, names=["index.html", nb.stem + ".html", nb.stem + ".ipynb"],
                          owned=made_by_layerlab, force=force)
    started = time.monotonic()
    paths = [str(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    entry = {"title": "Fleet", "html": nb.stem + ".html", "ipynb": nb.stem + ".ipynb"}
    failure = None
    try:
        render(nb, out_dir / entry["html"], index_link=True, paths=paths, scheduler=scheduler, **params)
    except NotebookFailed as e:
        entry["error"] = f"cell {e.cell}: {e.ename}: {e.evalue[:200]}"
        failure = e
    about = "<p>Fleet of " + ", ".join(f"<code>{html.escape(p)}</code>" for p in paths) + (
        f" on the Dask scheduler <code>{html.escape(scheduler)}</code>" if scheduler else " on a LocalCluster") + "</p>"
    index = write_index(out_dir, about_block=about, entries=[entry], seconds=time.monotonic() - started)
    if failure is not None:
        raise failure
    return index
