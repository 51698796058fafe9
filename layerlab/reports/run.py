"""Running notebooks and rendering them to self-contained HTML: one page each, and the whole report."""

from __future__ import annotations

import html
import os
import shutil
import sys
import tempfile
import threading
import time
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

from tqdm.auto import tqdm

from ..errors import LayerlabError, NotebookFailed, ReportError
from ..frames.output import prepare_dir
from ..widgets._base import REPORT_ENV
from .index import about_html, write_index
from .kernel import STARTUP
from .params import check_parameters, coerce_value, inject_parameters, known_parameters, notebooks, parameters

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
  table.dataframe { font-size: 12px; border-collapse: collapse; }
  table.dataframe th, table.dataframe td { padding: .2em .6em; text-align: left; }
  .layerlab-header { font-family: system-ui, sans-serif; margin: .5em 0 1em; color: #555; }
  .layerlab-inputs { font-size: 12px; background: #f6f6f6; border-left: 3px solid #bbb; padding: .3em .8em; }
</style>
{%- endblock extra_css -%}
"""


_EXPORTERS: dict = {}
_EXPORT_LOCK = threading.Lock()


def _exporter(show_code: bool):
    """One HTML exporter per ``show_code``, made once: making one compiles its templates again."""
    if show_code not in _EXPORTERS:
        _EXPORTERS[show_code] = _new_exporter(show_code)
    return _EXPORTERS[show_code]


def _new_exporter(show_code: bool):
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", extra_loaders=[DictLoader({"layerlab.html.j2": _TEMPLATE})],
                            embed_images=True, exclude_input_prompt=True, exclude_output_prompt=True,
                            exclude_input=not show_code)
    exporter.template_file = "layerlab.html.j2"
    return exporter


def notebook_title(nb, default: str = "layerlab report") -> str:
    """The notebook's first ``# heading``, which names its page."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return default


def to_html(nb, out_html, *, show_code: bool = False) -> Path:
    """Write ``nb`` as a self-contained HTML page (figures embedded, nothing fetched), titled by its
    heading; code cells are left out unless ``show_code``."""
    out_html = Path(out_html)
    resources = {"metadata": {"name": notebook_title(nb, out_html.stem)}}
    # The report's threads share the exporters; an exporter keeps state while it converts.
    with _EXPORT_LOCK:
        body, _ = _exporter(show_code).from_notebook_node(nb, resources=resources)
    out_html.write_text(body, encoding="utf-8")
    return out_html


def _header(nb, params: dict, index_link: bool) -> None:
    """A first cell for the page: a link back to the report's index and the inputs it was run with."""
    import nbformat

    parts = []
    if index_link:
        parts.append('<a href="index.html">← layerlab report</a>')
    if params:
        shown = ", ".join(f"<code>{html.escape(k)} = {html.escape(str(v))}</code>" for k, v in params.items() if v is not None)
        if shown:
            parts.append(f'<span class="layerlab-inputs">inputs: {shown}</span>')
    if parts:
        nb.cells.insert(0, nbformat.v4.new_markdown_cell('<div class="layerlab-header">' + " &nbsp; ".join(parts) + "</div>"))


def _failed_cell(nb) -> tuple[int, dict] | tuple[None, None]:
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                return i, out
    return None, None


def _running_cell(nb) -> int | None:
    """The code cell that was running: the first one without a reply (nbclient records each reply's
    time; cells run in order, and a kernel can die before it says a cell started)."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "shell.execute_reply" not in cell.get("metadata", {}).get("execution", {}):
            return i
    return None


def _mark_failure(nb, index: int | None, error: dict) -> None:
    """Put a banner at the top that links to the failing cell, as papermill does."""
    import nbformat

    what = f'{html.escape(error.get("ename", ""))}: {html.escape(str(error.get("evalue", ""))[:300])}'
    if index is None:
        banner = f'<div class="layerlab-failed"><b>This notebook failed</b> ({what}); the cells with output ran.</div>'
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(banner))
        return
    anchor = '<span id="layerlab-failed-cell"></span>'
    nb.cells[index].metadata.setdefault("tags", []).append("layerlab-failed")
    nb.cells.insert(index, nbformat.v4.new_markdown_cell(anchor))
    banner = (f'<div class="layerlab-failed"><b>This notebook failed at cell {index}</b> ({what}). '
              f'<a href="#layerlab-failed-cell">Go to the failing cell</a>; everything above it ran.</div>')
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(banner))


def execute(nb, cwd=None, timeout: int = 600):
    """Run every cell of ``nb`` in a fresh kernel; return the executed notebook.

    On a failing cell the run stops there and NotebookFailed is raised carrying the executed
    notebook (``.nb``) so the caller can still keep and render it.
    """
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    # IPC sockets in a private directory: nothing listens on the network while a report runs.
    kernel_dir = tempfile.mkdtemp(prefix="llreport-kernel-")
    # An IPython startup file sets the kernel up before the first cell (report tables); no cell is
    # added to the notebook, so cell numbers in errors are the notebook's own.
    startup = Path(kernel_dir) / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-layerlab.py").write_text(STARTUP)
    # The asynchronous manager, as nbclient expects: with the blocking one a kernel that dies leaves
    # nbclient waiting on its output forever, since its liveness check never gets to run.
    km = AsyncKernelManager(kernel_name="python3", transport="ipc", connection_file=os.path.join(kernel_dir, "kernel.json"))
    client = NotebookClient(nb, km=km, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd or os.getcwd())}})
    try:
        # The kernel gets LAYERLAB_REPORT=1: widgets then display as static snapshots.
        client.execute(env={**os.environ, REPORT_ENV: "1", "IPYTHONDIR": str(Path(kernel_dir) / "ipython")})
    except CellExecutionError:
        index, error = _failed_cell(nb)
        source = nb.cells[index].source if index is not None else ""
        failure = NotebookFailed(
            f"cell {index} failed: {error.get('ename') if error else 'error'}: "
            f"{str(error.get('evalue', '') if error else '')[:300]}\n  in: {source.strip().splitlines()[0] if source.strip() else ''}",
            cell=index, source=source, ename=(error or {}).get("ename", ""), evalue=str((error or {}).get("evalue", "")))
        failure.nb = nb
        raise failure from None
    except (DeadKernelError, CellTimeoutError) as e:
        # The kernel died or a cell ran past the timeout: the notebook fails, the report goes on.
        index = _running_cell(nb)
        source = nb.cells[index].source if index is not None else ""
        failure = NotebookFailed(f"cell {index}: {type(e).__name__}: {str(e).strip()[:300]}", cell=index, source=source,
                                 ename=type(e).__name__, evalue=str(e).strip()[:300])
        failure.nb = nb
        raise failure from None
    finally:
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
        shutil.rmtree(kernel_dir, ignore_errors=True)
    return nb


def render(notebook, out_html, *, keep_ipynb: bool = True, show_code: bool = False, index_link: bool = False,
           **params) -> Path:
    """Run ``notebook`` with ``params`` and write it as HTML at ``out_html``; return that path.

    The executed notebook is kept beside it (``.ipynb``). The page shows no code unless
    ``show_code``; it starts with the inputs it was run with (and a link to the report's index with
    ``index_link``). If a cell fails, the page is still written, with a banner linking to the failing
    cell, and NotebookFailed is raised naming it.
    """
    import nbformat

    notebook, out_html = Path(notebook), Path(out_html)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    nb = inject_parameters(nbformat.read(notebook, as_version=4), params)
    executed_path = out_html.with_suffix(".ipynb")
    try:
        # In the caller's folder, not the notebook's (inside site-packages for an installed wheel):
        # relative paths in parameters (--param compare=..., capture=...) mean what the user typed.
        nb = execute(nb)
    except NotebookFailed as failure:
        nb = failure.nb
        nbformat.write(nb, executed_path)
        _mark_failure(nb, failure.cell, _failed_cell(nb)[1] or {"ename": failure.ename, "evalue": failure.evalue})
        _header(nb, params, index_link)
        to_html(nb, out_html, show_code=True)  # the failing cell's code is what the reader needs
        failure.path = str(executed_path)
        failure.args = (f"{notebook.name}: {failure.args[0]}\n  executed notebook kept at {executed_path}, page at {out_html}",)
        raise
    if keep_ipynb:
        nbformat.write(nb, executed_path)
    _header(nb, params, index_link)
    return to_html(nb, out_html, show_code=show_code)


# -- the whole report ---------------------------------------------------------------------------

def _title_and_question(nb_path: Path) -> tuple[str, str]:
    """A notebook's heading, and the first sentence under it (the question its page answers)."""
    import re

    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    question = ""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            text = " ".join(line for line in cell.source.splitlines() if line.strip() and not line.startswith("#"))
            if text:
                question = re.split(r"(?<=[.?])\s", re.sub(r"[*`]", "", text), maxsplit=1)[0]
                break
    return notebook_title(nb, nb_path.stem), question


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


def _cores() -> int:
    """CPUs this process may run on (a container's or taskset's limit, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_inputs(inv, params: dict) -> None:
    """Refuse, before any notebook runs, parameters that name what the source does not hold: an
    image (``image``, ``image_a``, ``image_b``) or a container, with the error ``summary`` gives."""
    for key in ("image", "image_a", "image_b"):
        if params.get(key) not in (None, ""):
            inv.image_id(str(params[key]))
    if params.get("container") not in (None, ""):
        from ..analyses.stacking import container_row

        container_row(inv, str(params["container"]))


def _warm() -> None:
    """What every page's worker needs first, imported while the parent opens the source."""
    import nbclient  # noqa: F401
    import nbconvert  # noqa: F401


def _render_page(path: Path, out_html: Path, show_code: bool, params: dict) -> dict | None:
    """``render`` in a worker process; a failure comes back as NotebookFailed's fields (an
    exception with keyword-only attributes does not cross processes whole)."""
    try:
        render(path, out_html, show_code=show_code, index_link=True, **params)
    except NotebookFailed as e:
        return {"message": e.args[0], "path": e.path, "cell": e.cell, "source": e.source, "ename": e.ename,
                "evalue": e.evalue}
    return None


def render_all(source, out_dir, params=None, driver=None, *, jobs: int | None = None, show_code: bool = False,
               progress: bool | None = None) -> Path:
    """Run every report notebook on ``source`` and write ``out_dir``/index.html and one page each.

    ``params`` are notebook parameters (``--param key=value``); names no notebook declares, and
    images or containers the source does not hold, are refused before anything runs. A source that
    cannot be read gives an index page that says so, then ReportError (``.path``: the index page).
    A failing cell keeps its executed notebook and page; NotebookFailed is raised after the index
    is written, naming the notebook and the cell. Pages leave code out unless ``show_code``; the
    notebooks run concurrently, with a progress bar on a terminal (``progress``).
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
    workers = max(1, min(len(paths), jobs or _cores()))
    # Each notebook is run by nbclient in a process of its own (threads here only wait on them):
    # nbclient is not thread-safe, and with ipykernel 6.29 and nbclient 0.10 (the declared
    # minimums) two notebooks run from threads of one process hung about one report in six,
    # while the same notebooks from separate processes never did (12 of 12). The workers start now,
    # so their imports overlap opening the source.
    pages = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    for _ in range(workers):
        pages.submit(_warm)
    try:
        try:
            notebook_source, inv = _open_for_report(source, driver, workdir)
        except LayerlabError as e:
            index = write_index(out_dir, about_block=f"<p>Source: <code>{html.escape(str(source))}</code></p>",
                                entries=[], error=str(e), params=params)
            raise ReportError(f"the source could not be read, no notebook was run: {e} (the report's first page "
                              f"says so: {index})", path=str(index)) from None
        check_inputs(inv, {k: coerce_value(v, known.get(k)) for k, v in params.items()})
        entries = []

        def one(path: Path) -> dict:
            declared = parameters(path)
            given = {k: v for k, v in params.items() if k in declared}
            if "source" in declared:
                given["source"] = notebook_source
            if "driver" in declared:
                given["driver"] = None  # already applied when the source was opened
            title, question = _title_and_question(path)
            entry = {"title": title, "question": question, "html": path.stem + ".html", "ipynb": path.stem + ".ipynb"}
            failed = pages.submit(_render_page, path, out_dir / entry["html"], show_code, given).result()
            if failed is not None:
                e = NotebookFailed(failed.pop("message"), **failed)
                entry["error"] = (f"cell {e.cell}: " if e.cell is not None else "") + f"{e.ename}: {e.evalue[:200]}"
                entry["exception"] = e
            return entry

        from ..analyses.summary import summary_dict

        quiet = not sys.stderr.isatty() if progress is None else not progress
        running: list[str] = []
        lock = threading.Lock()

        def tracked(path: Path) -> dict:
            # The bar counts finished notebooks; its postfix names the ones running now.
            with lock:
                running.append(path.stem[:2])
                bar.set_postfix_str("running " + ", ".join(sorted(running)), refresh=True)
            try:
                return one(path)
            finally:
                with lock:
                    running.remove(path.stem[:2])
                    bar.set_postfix_str("running " + ", ".join(sorted(running)) if running else "", refresh=False)
                    bar.update()

        with tqdm(total=len(paths), desc=f"rendering notebooks ({workers} at a time)", unit="notebook",
                  disable=quiet) as bar, ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(tracked, p) for p in paths]
            # The index's figures, queued last: computed while the last notebooks finish.
            summary = pool.submit(summary_dict, inv)
            entries = [f.result() for f in futures]
            summary = summary.result()
        index = write_index(out_dir, about_block=about_html(inv), entries=entries, params=params,
                            seconds=time.monotonic() - started, summary=summary)
        failed = [e for e in entries if e.get("error")]
        if failed:
            first = failed[0]["exception"]
            raise NotebookFailed(
                f"{len(failed)} of {len(entries)} notebooks failed; the report is at {index}. First: "
                + first.args[0], path=first.path, cell=first.cell, source=first.source, ename=first.ename, evalue=first.evalue)
        return index
    finally:
        pages.shutdown(cancel_futures=True)
        shutil.rmtree(workdir, ignore_errors=True)
