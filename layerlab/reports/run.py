"""The whole report: every notebook run on one source, one page each (``page``), and the index."""

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
from .index import about_html, disk_figures, write_index
from .page import made_by_layerlab, notebook_title, render_page, warm
from .params import check_parameters, coerce_value, known_parameters, notebooks, parameters

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


def render_all(source, out_dir, params=None, driver=None, *, jobs: int | None = None, show_code: bool = False,
               progress: bool | None = None, force: bool = False) -> Path:
    """Run every report notebook on ``source`` and write ``out_dir``/index.html and one page each.

    ``params`` are notebook parameters (``--param key=value``); names no notebook declares, and
    images or containers the source does not hold, are refused before anything runs. A source that
    cannot be read gives an index page that says so, then ReportError (``.path``: the index page).
    A failing cell keeps its executed notebook and page; NotebookFailed is raised after the index
    is written, naming the notebook and the cell. A file of a page's name there that no report
    wrote is kept (OutputError) unless ``force``; a symbolic link is never written through.
    Pages leave code out unless ``show_code``; the notebooks run concurrently, with a progress bar on a
    terminal (``progress``).
    """
    started = time.monotonic()
    params = dict(params or {})
    paths = notebooks()
    known = known_parameters(paths)
    check_parameters(params, known)
    if "source" in params:  # --param source=... names the source as well as the positional does
        source = params.pop("source")
    # Files of the same name that a report did not write (a user's own index.html) stay unless ``force``.
    out_dir = prepare_dir(out_dir, force=force, owned=made_by_layerlab,
                          names=["index.html"] + [p.stem + ext for p in paths for ext in (".html", ".ipynb")])
    workdir = Path(tempfile.mkdtemp(prefix="llreport-work-"))
    workers = max(1, min(len(paths), jobs or _cores()))
    # Each notebook is run by nbclient in a process of its own (threads here only wait on them):
    # nbclient is not thread-safe, and with ipykernel 6.29 and nbclient 0.10 (the declared
    # minimums) two notebooks run from threads of one process hung about one report in six,
    # while the same notebooks from separate processes never did (12 of 12). The workers start now,
    # so their imports overlap opening the source.
    pages = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    for _ in range(workers):
        pages.submit(warm)
    try:
        try:
            notebook_source, inv = _open_for_report(source, driver, workdir)
        except LayerlabError as e:
            index = write_index(out_dir, about_block=f"<p>Source: <code>{html.escape(str(source))}</code></p>",
                                entries=[], error=str(e), params=params)
            raise ReportError(f"the source could not be read, no notebook was run: {e} (the report's first page "
                              f"says so: {index})", path=str(index)) from None
        check_inputs(inv, {k: coerce_value(v, known.get(k)) for k, v in params.items()})
        shown_source = "sample" if source is None else (inv.source if hasattr(source, "files") else os.fspath(source))
        entries = []

        def one(path: Path) -> dict:
            declared = parameters(path)
            given = {k: v for k, v in params.items() if k in declared}
            shown = dict(given)
            if "source" in declared:
                given["source"] = notebook_source
                # the reader's source, not the temporary snapshot the notebooks read
                shown["source"] = shown_source
            if "driver" in declared:
                given["driver"] = None  # already applied when the source was opened
            title, question = _title_and_question(path)
            entry = {"title": title, "question": question, "html": path.stem + ".html", "ipynb": path.stem + ".ipynb"}
            failed = pages.submit(render_page, path, out_dir / entry["html"], show_code, given, shown).result()
            if failed is not None:
                e = NotebookFailed(failed.pop("message"), **failed)
                entry["error"] = (f"cell {e.cell}: " if e.cell is not None else "") + f"{e.ename}: {e.evalue[:200]}"
                entry["exception"] = e
            return entry

        from ..analyses.fix_first import fix_first
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
            findings = fix_first(inv)  # after summary_dict: it reuses the hidden rows that found
        index = write_index(out_dir, about_block=about_html(inv), entries=entries, params=params,
                            seconds=time.monotonic() - started, summary=summary, findings=findings,
                            disk=disk_figures(inv), source=shown_source)
        failed = [e for e in entries if e.get("error")]
        if failed:
            first = failed[0]["exception"]
            raise NotebookFailed(
                f"{len(failed)} of {len(entries)} notebooks failed; the report is at {index}. First: "
                + first.args[0], path=first.path, cell=first.cell, source=first.source, ename=first.ename,
                evalue=first.evalue)
        return index
    finally:
        pages.shutdown(cancel_futures=True)
        shutil.rmtree(workdir, ignore_errors=True)
