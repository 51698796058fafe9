"""Running notebooks and rendering them to self-contained HTML: one page each, and the whole report."""

from __future__ import annotations

import html
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..errors import LayerlabError, NotebookFailed
from ..frames.output import prepare_dir
from ..widgets._base import REPORT_ENV
from .index import about_html, write_index
from .params import check_parameters, inject_parameters, known_parameters, notebooks, parameters

_TEMPLATE = """{%- extends 'index.html.j2' -%}
{#- Self-contained: no script or style is fetched from the network. -#}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}
<style>
  .layerlab-failed { background: #fde8e8; border: 2px solid #c0392b; padding: .6em 1em; margin: 1em 0; }
  .jp-Cell-inputWrapper .jp-InputArea-editor { font-size: 90%; }
  table.dataframe { font-size: 12px; }
</style>
{%- endblock extra_css -%}
"""


def _exporter():
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", extra_loaders=[DictLoader({"layerlab.html.j2": _TEMPLATE})],
                            embed_images=True, exclude_input_prompt=True, exclude_output_prompt=True)
    exporter.template_file = "layerlab.html.j2"
    return exporter


def to_html(nb, out_html) -> Path:
    """Write ``nb`` as a self-contained HTML page (figures embedded, nothing fetched)."""
    out_html = Path(out_html)
    body, _ = _exporter().from_notebook_node(nb)
    out_html.write_text(body, encoding="utf-8")
    return out_html


def _failed_cell(nb) -> tuple[int, dict] | tuple[None, None]:
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                return i, out
    return None, None


def _mark_failure(nb, index: int, error: dict) -> None:
    """Put a banner at the top that links to the failing cell, as papermill does."""
    import nbformat

    anchor = '<span id="layerlab-failed-cell"></span>'
    nb.cells[index].metadata.setdefault("tags", []).append("layerlab-failed")
    nb.cells.insert(index, nbformat.v4.new_markdown_cell(anchor))
    banner = (f'<div class="layerlab-failed"><b>This notebook failed at cell {index}</b> '
              f'({html.escape(error.get("ename", ""))}: {html.escape(str(error.get("evalue", ""))[:300])}). '
              f'<a href="#layerlab-failed-cell">Go to the failing cell</a>; everything above it ran.</div>')
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(banner))


def execute(nb, cwd=None, timeout: int = 600):
    """Run every cell of ``nb`` in a fresh kernel; return the executed notebook.

    On a failing cell the run stops there and NotebookFailed is raised carrying the executed
    notebook (``.nb``) so the caller can still keep and render it.
    """
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    # IPC sockets in a private directory: nothing listens on the network while a report runs.
    kernel_dir = tempfile.mkdtemp(prefix="llreport-kernel-")
    km = KernelManager(kernel_name="python3", transport="ipc", connection_file=os.path.join(kernel_dir, "kernel.json"))
    client = NotebookClient(nb, km=km, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd or os.getcwd())}})
    try:
        # The kernel gets LAYERLAB_REPORT=1: widgets then display as static snapshots.
        client.execute(env={**os.environ, REPORT_ENV: "1"})
    except CellExecutionError:
        index, error = _failed_cell(nb)
        source = nb.cells[index].source if index is not None else ""
        failure = NotebookFailed(
            f"cell {index} failed: {error.get('ename') if error else 'error'}: "
            f"{str(error.get('evalue', '') if error else '')[:300]}\n  in: {source.strip().splitlines()[0] if source.strip() else ''}",
            cell=index, source=source, ename=(error or {}).get("ename", ""), evalue=str((error or {}).get("evalue", "")))
        failure.nb = nb
        raise failure from None
    finally:
        if km.has_kernel:
            km.shutdown_kernel(now=True)
        shutil.rmtree(kernel_dir, ignore_errors=True)
    return nb


def render(notebook, out_html, *, keep_ipynb: bool = True, **params) -> Path:
    """Run ``notebook`` with ``params`` and write it as HTML at ``out_html``; return that path.

    The executed notebook is kept beside it (``.ipynb``). If a cell fails, the page is still
    written, with a banner linking to the failing cell, and NotebookFailed is raised naming it.
    """
    import nbformat

    notebook, out_html = Path(notebook), Path(out_html)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    nb = inject_parameters(nbformat.read(notebook, as_version=4), params)
    executed_path = out_html.with_suffix(".ipynb")
    try:
        nb = execute(nb, cwd=notebook.parent)
    except NotebookFailed as failure:
        nb = failure.nb
        nbformat.write(nb, executed_path)
        _mark_failure(nb, failure.cell, _failed_cell(nb)[1] or {})
        to_html(nb, out_html)
        failure.path = str(executed_path)
        failure.args = (f"{notebook.name}: {failure.args[0]}\n  executed notebook kept at {executed_path}, page at {out_html}",)
        raise
    if keep_ipynb:
        nbformat.write(nb, executed_path)
    return to_html(nb, out_html)


# -- the whole report ---------------------------------------------------------------------------

def _title(nb_path: Path) -> str:
    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return nb_path.stem


def _open_for_report(source, driver, workdir: Path):
    """Open ``source`` once; a live data root is scanned to a snapshot so each notebook reads it fast.

    Returns (what the notebooks should open, the Inventory)."""
    from ..frames.inventory import Inventory
    from ..frames.snapshot import is_snapshot
    from ..sources import open_source

    if isinstance(source, Inventory):
        path = workdir / "source.layerlab"
        source.save(path)
        return str(path), source
    text = "sample" if source is None else os.fspath(source)
    inv = open_source(text, driver=driver)
    if text == "sample" or text.startswith("sample:") or is_snapshot(text):
        return text if not is_snapshot(text) else str(Path(text).resolve()), inv
    path = workdir / "source.layerlab"
    inv.save(path)
    return str(path), inv


def render_all(source, out_dir, params=None, driver=None, *, jobs: int | None = None) -> Path:
    """Run every report notebook on ``source`` and write ``out_dir``/index.html and one page each.

    ``params`` are notebook parameters (``--param key=value``); names no notebook declares are
    refused with the list of known ones. A source that cannot be read gives an index page that
    says so. A failing cell keeps its executed notebook and page; NotebookFailed is raised after
    the index is written, naming the notebook and the cell.
    """
    started = time.monotonic()
    params = dict(params or {})
    paths = notebooks()
    known = known_parameters(paths)
    check_parameters(params, known)
    if "source" in params:  # --param source=... names the source as well as the positional does
        source = params.pop("source")
    out_dir = prepare_dir(Path(out_dir))
    workdir = Path(tempfile.mkdtemp(prefix="llreport-work-"))
    try:
        try:
            notebook_source, inv = _open_for_report(source, driver, workdir)
        except LayerlabError as e:
            return write_index(out_dir, about_block=f"<p>Source: <code>{html.escape(str(source))}</code></p>",
                                entries=[], error=str(e), params=params)
        entries = []

        def one(path: Path) -> dict:
            declared = parameters(path)
            given = {k: v for k, v in params.items() if k in declared}
            if "source" in declared:
                given["source"] = notebook_source
            if "driver" in declared:
                given["driver"] = None  # already applied when the source was opened
            entry = {"title": _title(path), "html": path.stem + ".html", "ipynb": path.stem + ".ipynb"}
            try:
                render(path, out_dir / entry["html"], **given)
            except NotebookFailed as e:
                entry["error"] = f"cell {e.cell}: {e.ename}: {e.evalue[:200]}"
                entry["exception"] = e
            return entry

        workers = jobs or min(len(paths), max(os.cpu_count() or 1, 1), 4)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            entries = list(pool.map(one, paths))
        index = write_index(out_dir, about_block=about_html(inv), entries=entries, params=params,
                             seconds=time.monotonic() - started)
        failed = [e for e in entries if e.get("error")]
        if failed:
            first = failed[0]["exception"]
            raise NotebookFailed(
                f"{len(failed)} of {len(entries)} notebooks failed; the report is at {index}. First: "
                + first.args[0], path=first.path, cell=first.cell, source=first.source, ename=first.ename, evalue=first.evalue)
        return index
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
