"""Reports: run the notebooks on a source with parameters and render them to self-contained HTML.

    import layerlab.reports as reports
    reports.render_all("/var/lib/docker", "reports/")            # every notebook + index.html
    reports.render("notebooks/02-layers-and-waste.ipynb", "out.html", image="app:1")

Parameters follow papermill's contract: each notebook has one cell tagged ``parameters`` with
working defaults; given values go into a cell tagged ``injected-parameters`` right after it.
"""

from __future__ import annotations

import ast
import contextlib
import datetime as _dt
import html
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..errors import LayerlabError, NotebookFailed, ReportError

#: Where the notebooks are: $LAYERLAB_NOTEBOOKS, else the checkout's notebooks/ folder.
def notebooks_dir() -> Path:
    env = os.environ.get("LAYERLAB_NOTEBOOKS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "notebooks"


def notebooks() -> list[Path]:
    """The report notebooks, in reading order (their file names start with a number)."""
    # Fleet notebooks read many hosts' snapshots: `layerlab fleet report` renders them, not this.
    found = sorted(p for p in notebooks_dir().glob("[0-9]*.ipynb") if not p.stem.endswith("-fleet"))
    if not found:
        raise ReportError(f"no notebooks in {notebooks_dir()}; run from a layerlab checkout or set LAYERLAB_NOTEBOOKS")
    return found


# -- parameters ---------------------------------------------------------------------------------

def _parameters_cell(nb) -> int | None:
    for i, cell in enumerate(nb.cells):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            return i
    return None


def parameters(nb) -> dict:
    """The parameters a notebook declares, ``{name: default}``, from its ``parameters`` cell."""
    import nbformat

    if isinstance(nb, (str, os.PathLike)):
        nb = nbformat.read(nb, as_version=4)
    index = _parameters_cell(nb)
    if index is None:
        return {}
    out = {}
    for node in ast.parse(nb.cells[index].source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                out[node.targets[0].id] = None
    return out


def known_parameters(paths=None) -> dict:
    """Every parameter any report notebook declares, with the first default seen."""
    known: dict = {}
    for path in paths or notebooks():
        for name, default in parameters(path).items():
            known.setdefault(name, default)
    return known


def check_parameters(params: dict, known) -> None:
    """Raise ReportError naming the unknown parameters and listing the known ones."""
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ReportError(
            f"unknown report parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"known parameters: {', '.join(sorted(known))}"
        )


def coerce_value(value, default):
    """A ``--param`` string as the type of the notebook's default: ``none`` -> None, numbers, booleans,
    Python literals for lists; text stays text."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.lower() in ("none", "null"):
        return None
    if isinstance(default, bool):
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ReportError(f"expected true or false, got {value!r}")
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        try:
            return type(default)(text)
        except ValueError:
            raise ReportError(f"expected a number, got {value!r}") from None
    if isinstance(default, (list, tuple, dict)):
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return [v.strip() for v in text.split(",") if v.strip()]
    return value


def inject_parameters(nb, params: dict):
    """A copy of ``nb`` with ``params`` in a cell tagged ``injected-parameters`` right after the
    ``parameters`` cell (replacing an earlier injected cell), as papermill does."""
    import nbformat

    nb = nbformat.from_dict(nb)  # a copy
    known = parameters(nb)
    check_parameters(params, known)
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    if not params:
        return nb
    lines = ["# Parameters (injected by layerlab report)"]
    lines += [f"{name} = {coerce_value(value, known.get(name))!r}" for name, value in params.items()]
    cell = nbformat.v4.new_code_cell("\n".join(lines), metadata={"tags": ["injected-parameters"]})
    index = _parameters_cell(nb)
    nb.cells.insert(index + 1, cell)
    return nb


# -- running and rendering ----------------------------------------------------------------------

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
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from jupyter_client.manager import KernelManager

    # IPC sockets in a private directory: nothing listens on the network while a report runs.
    kernel_dir = tempfile.mkdtemp(prefix="llreport-kernel-")
    km = KernelManager(kernel_name="python3", transport="ipc", connection_file=os.path.join(kernel_dir, "kernel.json"))
    client = NotebookClient(nb, km=km, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd or os.getcwd())}})
    from ..widgets._base import REPORT_ENV

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


def about(inv) -> dict:
    """Where and when a source was read: source, driver, image store, host, scanned_at, counts."""
    m = inv.meta
    return {
        "source": m.get("source") or "",
        "driver": m.get("driver"),
        "image_store": m.get("image_store"),
        "host": m.get("host"),
        "scanned_at": m.get("scanned_at"),
        "snapshot": m.get("snapshot"),
        "layerlab_version": m.get("layerlab_version"),
        "images": int((inv.images["tags"].map(len) > 0).sum()),
        "all_images": len(inv.images),
        "containers": len(inv.containers),
        "skipped": len(inv.skipped),
    }


def about_html(inv) -> str:
    """One paragraph that says where and when the source was scanned, for the top of every page."""
    a = about(inv)
    when = a["scanned_at"] or "an unknown time"
    with contextlib.suppress(ValueError, TypeError):
        when = _dt.datetime.fromisoformat(str(a["scanned_at"])).strftime("%Y-%m-%d %H:%M:%S UTC")
    skipped = (f' <b style="color:#c0392b">{a["skipped"]} item(s) could not be read</b> (see the <code>skipped</code> frame).'
               if a["skipped"] else "")
    return (f'<p class="layerlab-about">Source <code>{html.escape(str(a["source"]))}</code> '
            f'({html.escape(str(a["image_store"]))}, {html.escape(str(a["driver"]))} driver), scanned on host '
            f'<b>{html.escape(str(a["host"]))}</b> at <b>{html.escape(when)}</b>: {a["images"]} tagged images '
            f'({a["all_images"]} with untagged), {a["containers"]} containers.{skipped}</p>')


class About:
    """Displays ``about_html`` in a notebook: ``reports.About(inv)`` as a cell's last line."""

    def __init__(self, inv):
        self.inv = inv

    def _repr_html_(self):
        return about_html(self.inv)

    def __repr__(self):
        return about_html(self.inv)


def available(sources) -> dict:
    """``{name: Inventory}`` for each source in ``sources`` (a list, or a dict of name -> source) that
    opens; sources that do not are left out with a warning (e.g. a sample driver not captured)."""
    import warnings

    from ..sources import open_source

    items = sources.items() if isinstance(sources, dict) else ((str(s).removeprefix("sample:"), s) for s in sources)
    out = {}
    for name, source in items:
        try:
            out[name] = open_source(source)
        except LayerlabError as e:
            warnings.warn(f"left out {source}: {e}", stacklevel=2)
    return out


_INDEX_CSS = """body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}
.error{background:#fde8e8;border:2px solid #c0392b;padding:1em}.ok{color:#2e7d32}.failed{color:#c0392b}
li{margin:.4em 0}code{background:#f4f4f4;padding:0 .2em}"""


def _write_index(out_dir: Path, *, about_block: str, entries: list[dict], error: str | None = None,
                 params: dict | None = None, seconds: float | None = None) -> Path:
    items = []
    for e in entries:
        if e.get("error"):
            items.append(f'<li><a href="{e["html"]}">{html.escape(e["title"])}</a> <span class="failed">failed</span>: '
                         f'{html.escape(e["error"])} (executed notebook: <a href="{e["ipynb"]}">{e["ipynb"]}</a>)</li>')
        else:
            items.append(f'<li><a href="{e["html"]}">{html.escape(e["title"])}</a> <span class="ok">✓</span></li>')
    body = []
    if error:
        body.append(f'<div class="error"><h2>The source could not be read</h2><p>{html.escape(error)}</p>'
                    "<p>No notebook was run. Fix the source (or run <code>layerlab report sample</code> to see "
                    "the bundled sample) and make the report again.</p></div>")
    body.append(about_block)
    if params:
        body.append("<p>Parameters: " + ", ".join(f"<code>{html.escape(k)}={html.escape(repr(v))}</code>" for k, v in params.items()) + "</p>")
    if items:
        body.append("<ol>" + "".join(items) + "</ol>")
    made = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    body.append(f'<p style="color:#777">Made by layerlab at {made}' + (f" in {seconds:.1f}s" if seconds else "") + ".</p>")
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>layerlab report</title>'
            f"<style>{_INDEX_CSS}</style></head><body><h1>layerlab report</h1>{''.join(body)}</body></html>")
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


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
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="llreport-work-"))
    try:
        try:
            notebook_source, inv = _open_for_report(source, driver, workdir)
        except LayerlabError as e:
            return _write_index(out_dir, about_block=f"<p>Source: <code>{html.escape(str(source))}</code></p>",
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
        index = _write_index(out_dir, about_block=about_html(inv), entries=entries, params=params,
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


from .registries import audit_or_none, registry_blobs, registry_frames_or_none, sample_capture  # noqa: E402

__all__ = [
    "About", "about", "audit_or_none", "available", "registry_blobs", "registry_frames_or_none", "sample_capture", "about_html", "check_parameters", "coerce_value", "execute", "inject_parameters",
    "known_parameters", "notebooks", "notebooks_dir", "parameters", "render", "render_all", "to_html",
]
