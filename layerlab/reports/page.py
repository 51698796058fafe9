"""One report page: a notebook run in a fresh kernel and written as self-contained HTML.

Kept apart from the whole report (``run``) and light to import (no pandas, no widgets): each page
of a report is rendered in a worker process that imports only this module and nbclient/nbconvert,
while its kernel imports what the notebook needs.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import stat
import sys
import tempfile
import threading
from pathlib import Path

from ..display import REPORT_ENV
from ..errors import NotebookFailed
from .kernel import STARTUP
from .params import inject_parameters
from ..untrusted import load_json

_TEMPLATE = """{%- extends 'index.html.j2' -%}
{#- Self-contained: no script or style is fetched from the network. -#}
{%- block html_head_js -%}<meta name="generator" content="layerlab">{%- endblock html_head_js -%}
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


#: In the head of every page layerlab writes: how a later report knows a file of the same name is its own.
GENERATOR = '<meta name="generator" content="layerlab">'


def made_by_layerlab(path: Path) -> bool:
    """Whether the file at ``path`` is a page, an index or an executed notebook a layerlab report wrote
    (by its content: a user's own ``index.html`` is not replaced without --force). A symbolic link,
    a FIFO or anything but a regular file is not."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return False
        if Path(path).suffix == ".ipynb":
            if st.st_size > 256 << 20:
                return False
            try:
                meta = load_json(f.read(), str(path), limit=None).get("metadata") or {}
            except (ValueError, AttributeError):
                return False
            return isinstance(meta, dict) and isinstance(meta.get("layerlab"), dict)
        head = f.read(64 << 10)
    # nbconvert rewrites the head (attributes sorted): look for the tag, either order
    return _GENERATOR_TAG.search(head) is not None or b"<title>layerlab report</title>" in head


_GENERATOR_TAG = re.compile(rb'<meta (name="generator" content="layerlab"|content="layerlab" name="generator")\s*/?>')


def write_own(path: Path, text: str) -> Path:
    """Write ``text`` to ``path``, never through a symbolic link there (O_NOFOLLOW: OSError ELOOP)."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def write_notebook(nb, path: Path) -> None:
    """An executed notebook written as nbformat does, marked as layerlab's own, never through a link."""
    import nbformat

    nb.metadata["layerlab"] = {"written_by": "layerlab report"}
    write_own(path, nbformat.writes(nb))


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
    return write_own(out_html, body)


def _header(nb, params: dict, index_link: bool) -> None:
    """A first cell for the page: a link back to the report's index and the inputs it was run with."""
    import nbformat

    parts = []
    if index_link:
        parts.append('<a href="index.html">← layerlab report</a>')
    if params:
        shown = ", ".join(f"<code>{html.escape(k)} = {html.escape(str(v))}</code>" for k,
                          v in params.items() if v is not None)
        if shown:
            parts.append(f'<span class="layerlab-inputs">inputs: {shown}</span>')
    if parts:
        nb.cells.insert(0,
                        nbformat.v4.new_markdown_cell('<div class="layerlab-header">' + " &nbsp; ".join(parts)
                                                      + "</div>"))


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
    km = AsyncKernelManager(kernel_name="python3", transport="ipc",
                            connection_file=os.path.join(kernel_dir, "kernel.json"))
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
            f"{str(error.get('evalue', '') if error else '')[:300]}\n  in: "
            f"{source.strip().splitlines()[0] if source.strip() else ''}",
            cell=index, source=source, ename=(error or {}).get("ename", ""),
            evalue=str((error or {}).get("evalue", "")))
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
           shown_inputs: dict | None = None, **params) -> Path:
    """Run ``notebook`` with ``params`` and write it as HTML at ``out_html``; return that path.

    The executed notebook is kept beside it (``.ipynb``). The page shows no code unless
    ``show_code``; it starts with the inputs it was run with (and a link to the report's index with
    ``index_link``). If a cell fails, the page is still written, with a banner linking to the failing
    cell, and NotebookFailed is raised naming it. ``shown_inputs`` is what the inputs box shows when
    it differs from ``params`` (the source the user named, not the temporary snapshot read).
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
        write_notebook(nb, executed_path)
        _mark_failure(nb, failure.cell, _failed_cell(nb)[1] or {"ename": failure.ename, "evalue": failure.evalue})
        _header(nb, params if shown_inputs is None else shown_inputs, index_link)
        to_html(nb, out_html, show_code=True)  # the failing cell's code is what the reader needs
        failure.path = str(executed_path)
        failure.args = (f"{notebook.name}: {failure.args[0]}\n  executed notebook kept at {executed_path}, page at "
                        f"{out_html}",)
        raise
    if keep_ipynb:
        write_notebook(nb, executed_path)
    _header(nb, params if shown_inputs is None else shown_inputs, index_link)
    return to_html(nb, out_html, show_code=show_code)


# -- the worker process of one page (run.render_all) ----------------------------------------------

def skip_iri_format_checker() -> None:
    """Keep jsonschema from loading its ``iri`` format checker in this process (one of layerlab's own).

    nbformat imports jsonschema, whose format checkers import ``rfc3987_syntax`` when it is
    installed (nbformat's ``jsonschema[format-nongpl]`` installs it); that module compiles some 35
    Lark grammars at import, over a second of CPU in every process that reads a notebook
    (jsonschema issue 1428). No notebook schema uses the ``iri`` format, so the checker is left out
    of the report's processes; a user's kernel is never touched.
    """
    sys.modules.setdefault("rfc3987_syntax", None)  # import of it then raises ImportError, which jsonschema expects


def warm() -> None:
    """What every page's worker needs first, imported while the parent opens the source."""
    skip_iri_format_checker()
    import nbclient  # noqa: F401
    import nbconvert  # noqa: F401


def render_page(path: Path, out_html: Path, show_code: bool, params: dict, shown: dict | None = None) -> dict | None:
    """``render`` in a worker process; a failure comes back as NotebookFailed's fields (an
    exception with keyword-only attributes does not cross processes whole)."""
    skip_iri_format_checker()
    try:
        render(path, out_html, show_code=show_code, index_link=True, shown_inputs=shown, **params)
    except NotebookFailed as e:
        return {"message": e.args[0], "path": e.path, "cell": e.cell, "source": e.source, "ename": e.ename,
                "evalue": e.evalue}
    return None
