"""Real-browser tests: JupyterLab on loopback driven by Debian's Chromium through Playwright, and a
rendered report opened in the same browser. Screenshots go to tests/artifacts/ (gitignored)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from harness.tiers import require

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _browser_missing() -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} missing (apt-get install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright not installed (pip install playwright)"
    if shutil.which("jupyter-lab") is None and shutil.which("jupyter") is None:
        return "jupyterlab not installed (pip install jupyterlab)"
    return None


@pytest.fixture(scope="module")
def browser():
    require(_browser_missing())
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """JupyterLab on 127.0.0.1 serving a copy of notebooks/, stopped (whole process group) after."""
    require(_browser_missing())
    root = tmp_path_factory.mktemp("lab")
    for nb in (REPO / "notebooks").glob("*.ipynb"):
        shutil.copy(nb, root / nb.name)
    port, token = _free_port(), "layerlab-test"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(root / ".jupyter"), "JUPYTER_RUNTIME_DIR": str(root / ".runtime"),
           "LAYERLAB_DATA": str(REPO / "data")}
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", "--ServerApp.disable_check_xsrf=True",
           "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           f"--ServerApp.root_dir={root}", "--allow-root"]
    log = open(root / "lab.log", "wb")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL) if proc.poll() is None else None
                raise RuntimeError("jupyter lab did not start:\n" + (root / "lab.log").read_text()[-3000:])
            time.sleep(0.3)
    yield base, token, root
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    log.close()


def _explorer_state(page) -> dict:
    """The explorer's chart image and table text as the browser shows them."""
    return page.evaluate("""() => {
        const ex = document.querySelector('.layerlab-explorer');
        if (!ex) return null;
        const img = ex.querySelector('img');
        const tables = ex.querySelectorAll('table');
        return {img: img ? img.src : null,
                table: tables.length ? tables[tables.length - 1].innerText : '',
                summary: ex.innerText};
    }""")


def _run_notebook_02(browser, jupyterlab):
    """A page with notebook 02 open in JupyterLab and all its cells run; the page errors collected."""
    base, token, root = jupyterlab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/lab/tree/02-layers-and-waste.ipynb?token={token}")
    page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-Notebook')", timeout=60_000)
    # Wait for the kernel before running, so "run all" is not lost.
    page.wait_for_function("""() => { const w = window.jupyterapp.shell.currentWidget;
        return w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel &&
               w.sessionContext.session.kernel.status === 'idle'; }""", timeout=60_000)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    return page, errors


def test_explorer_in_jupyterlab_follows_the_image_picked(browser, jupyterlab, artifacts):
    page, errors = _run_notebook_02(browser, jupyterlab)
    page.wait_for_function("""() => { const ex = document.querySelector('.layerlab-explorer');
        return ex && ex.querySelector('img') && ex.querySelectorAll('table').length > 0; }""", timeout=120_000)
    page.locator(".layerlab-explorer").scroll_into_view_if_needed()
    before = _explorer_state(page)
    page.screenshot(path=str(artifacts / "lab-explorer-before.png"), full_page=False)

    select = page.locator(".layerlab-explorer select").first
    options = select.locator("option").all_inner_texts()
    current = select.evaluate("s => s.options[s.selectedIndex].text")
    target = "layerlab/tree:1" if current != "layerlab/tree:1" else "layerlab/bloat:1"
    assert target in options, options
    started = time.monotonic()
    select.select_option(label=target)
    page.wait_for_function("""(before) => { const ex = document.querySelector('.layerlab-explorer');
        const img = ex.querySelector('img'); const t = ex.querySelectorAll('table');
        return img && img.src !== before.img && t.length && t[t.length - 1].innerText !== before.table; }""",
                           arg=before, timeout=30_000)
    elapsed = time.monotonic() - started
    after = _explorer_state(page)
    page.locator(".layerlab-explorer").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "lab-explorer-after.png"), full_page=False)
    assert after["img"] != before["img"], "the chart did not change"
    assert after["table"] != before["table"], "the table did not change"
    assert target in after["summary"], after["summary"][:300]
    # the table's headers sit over their cells (JupyterLab's own rules aligned them apart)
    align = page.evaluate("""() => { const t = document.querySelector('.layerlab-explorer table.layerlab-table');
        const th = t.querySelector('th'), td = t.querySelector('td');
        return [getComputedStyle(th).textAlign, getComputedStyle(td).textAlign,
                th.getBoundingClientRect().left - td.getBoundingClientRect().left]; }""")
    assert align[0] == align[1] and abs(align[2]) < 1, align
    assert "NaN" not in after["table"]
    # The round trip through the browser, the kernel and matplotlib; generous for a loaded CI box.
    assert elapsed < 10, f"the explorer took {elapsed:.1f}s to follow the image"
    assert not errors, errors
    page.close()


def _tree_rows(page) -> list[dict]:
    """The file tree's rows as the browser shows them: text, classes, colour, background."""
    return page.evaluate("""() => Array.from(document.querySelectorAll('.layerlab-tree .ll-row[data-path]')).map(r => {
        const s = getComputedStyle(r);
        return {path: r.dataset.path, text: r.textContent, cls: r.className, color: s.color,
                background: s.backgroundColor}; })""")


def _tree_scroll(page) -> float:
    return page.evaluate("() => document.querySelector('.layerlab-tree .ll-rows-box').scrollTop")


def test_file_tree_in_jupyterlab_colours_highlights_and_keeps_its_place(browser, jupyterlab, artifacts):
    page, errors = _run_notebook_02(browser, jupyterlab)
    page.wait_for_function("() => document.querySelectorAll('.layerlab-tree .ll-row[data-path]').length > 5",
                           timeout=120_000)
    page.locator(".layerlab-tree").scroll_into_view_if_needed()
    before = _tree_rows(page)
    # rows coloured by status, as dive colours them: the layer shown adds files (green)
    colours = {"ll-added": "rgb(26, 127, 55)", "ll-modified": "rgb(154, 103, 0)", "ll-removed": "rgb(207, 34, 46)"}
    marked = [r for r in before if any(c in r["cls"].split() for c in colours)]
    assert marked, [r["text"] for r in before[:20]]
    for r in marked:
        status = next(c for c in colours if c in r["cls"].split())
        assert r["color"] == colours[status], r
        assert r["text"][0] == {"ll-added": "+", "ll-modified": "~", "ll-removed": "-"}[status], r
    plain = [r for r in before if r["cls"] == "ll-row"]
    assert plain and all(r["color"] not in colours.values() for r in plain)
    # scroll the list, then click a closed directory shown there: it opens, is highlighted, the list stays put
    box_height = page.evaluate("() => document.querySelector('.layerlab-tree .ll-rows-box').clientHeight")
    assert box_height < 40 * len(before), "the list scrolls within its box"
    box = page.locator(".layerlab-tree .ll-rows-box")
    # open closed directories (clicks) until the rows overflow the box
    for _ in range(8):
        sizes = box.evaluate("b => [b.scrollHeight, b.clientHeight]")
        if sizes[0] > sizes[1] + 100:
            break
        shown = _tree_rows(page)
        closed = [r for r in shown if "▸ " in r["text"]]
        assert closed, [r["text"] for r in shown]
        page.locator(f".layerlab-tree .ll-row[data-path='{closed[0]['path']}']").click()
        page.wait_for_function("""(p) => { const r = document.querySelector(`.layerlab-tree .ll-row[data-path='${p}']`);
            return r && r.classList.contains('ll-selected') && r.textContent.includes('▾ '); }""",
                               arg=closed[0]["path"], timeout=30_000)  # selected and open
    assert sizes[0] > sizes[1] + 100, (sizes, len(_tree_rows(page)))  # rows enough to scroll
    before = _tree_rows(page)
    # the reader scrolls down (the mouse wheel) to a closed directory (holding files) below the first screen
    path, offset = box.evaluate("""b => { const row = Array.from(b.querySelectorAll('.ll-row[data-path]')).find(
            r => r.textContent.includes('▸ ') && !r.textContent.includes(' 0 B ') && r.offsetTop > b.clientHeight);
        return row ? [row.dataset.path, row.offsetTop - b.offsetTop] : [null, 0]; }""")
    assert path, [r["text"] for r in before]
    box.hover()
    page.mouse.wheel(0, offset - 120)
    page.wait_for_function("() => document.querySelector('.layerlab-tree .ll-rows-box').scrollTop > 0",
                           timeout=10_000)
    page.wait_for_timeout(400)  # the scroll settles (and reaches the kernel as the scroll_top trait)
    scrolled = _tree_scroll(page)
    target = next(r for r in before if r["path"] == path)
    assert before.index(target) > 0
    row = page.locator(f".layerlab-tree .ll-row[data-path='{path}']")
    row.click()
    page.wait_for_function("(n) => document.querySelectorAll('.layerlab-tree .ll-row[data-path]').length > n",
                           arg=len(before), timeout=30_000)
    after = _tree_rows(page)
    clicked = next(r for r in after if r["path"] == target["path"])
    assert "▾ " in clicked["text"] and "ll-selected" in clicked["cls"].split(), clicked
    assert clicked["background"] not in ("rgba(0, 0, 0, 0)", "transparent"), clicked
    assert sum("ll-selected" in r["cls"].split() for r in after) == 1
    assert any(r["path"].startswith(target["path"] + "/") for r in after)
    assert abs(_tree_scroll(page) - scrolled) <= 1, (scrolled, _tree_scroll(page))  # kept its place
    # the details line names the entry clicked, with its permissions and owner
    page.wait_for_function("(p) => document.querySelector('.layerlab-tree').innerText.includes(p + ' ·')",
                           arg=target["path"], timeout=30_000)
    page.screenshot(path=str(artifacts / "lab-tree-open.png"), full_page=False)
    row.click()  # and a second click closes it again, still in place
    page.wait_for_function("(n) => document.querySelectorAll('.layerlab-tree .ll-row[data-path]').length === n",
                           arg=len(before), timeout=30_000)
    assert abs(_tree_scroll(page) - scrolled) <= 1
    assert not errors, errors
    page.close()


def test_rendered_report_shows_its_figures_without_console_errors(browser, tmp_path, artifacts):
    from layerlab.reports import render

    out = render(REPO / "notebooks" / "02-layers-and-waste.ipynb", tmp_path / "02.html")
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    messages, failed = [], []
    page.on("console", lambda m: messages.append((m.type, m.text)))
    page.on("pageerror", lambda e: messages.append(("pageerror", str(e))))
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.goto(out.as_uri())
    page.wait_for_load_state("load")
    images = page.locator("img")
    assert images.count() >= 3
    # Every figure is embedded and decodes to a real picture.
    sizes = page.evaluate("() => Array.from(document.images).map(i => [i.src.slice(0, 22), i.naturalWidth, "
                          "i.naturalHeight])")
    assert all(src.startswith("data:image/png") and w > 200 and h > 100 for src, w, h in sizes), sizes
    page.screenshot(path=str(artifacts / "report-02.png"), full_page=True)
    errors = [m for m in messages if m[0] in ("error", "pageerror")]
    assert not errors, errors
    assert not failed, failed
    assert "layerlab/app:1" in page.inner_text("body")
    page.close()


#: What a page for readers must not show: Python's own output instead of a sentence or a table.
_PAGE_CHECK = r"""() => {
    const outputs = Array.from(document.querySelectorAll('.jp-OutputArea-output'));
    const text = document.body.innerText;
    const found = [];
    const add = (what, sample) => found.push(what + ': ' + String(sample).slice(0, 160));
    if (/Traceback \(most recent call last\)/.test(text)) add('traceback', 'Traceback');
    for (const el of document.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]'))
        add('stderr output', el.innerText);
    for (const m of text.match(/(^|[^\w])(NaN|NaT|<NA>)(?![\w])/g) || []) add('missing value shown raw', m);
    for (const el of outputs) {
        const t = el.innerText.trim();
        if (/^(['"]).*\1$/s.test(t)) add('a quoted string repr', t);
        if (/\[\s*'[^']*'/.test(t) || /\(\s*'[^']*',/.test(t)) add('a list or tuple repr', t);
        if (/\{\s*'[^']*'\s*:/.test(t)) add('a dict repr', t);
        if (/ object at 0x[0-9a-f]+/.test(t)) add('an object repr', t);
        if (/^<[\w.]+ [^>]*>$/.test(t)) add('an object repr', t);
        if (/\bdtype: \w+/.test(t)) add('a Series repr', t);
    }
    for (const td of document.querySelectorAll('.jp-OutputArea-output td')) {
        const t = td.innerText.trim();
        if (t === 'True' || t === 'False') add('a Python bool in a table', t);
        if (/^(sha256:)?[0-9a-f]{64}$/.test(t)) add('a whole digest in a table (12 characters name it)', t);
    }
    const root = document.documentElement;
    if (root.scrollWidth > root.clientWidth) add('horizontal scroll', root.scrollWidth + ' > ' + root.clientWidth);
    // An output wider than the page gets its own scroll bar instead: as bad for a reader.
    for (const el of document.querySelectorAll('.jp-OutputArea-output, .jp-OutputArea-output *'))
        if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible')
            add('horizontal scroll',
                el.tagName + ' ' + el.scrollWidth + ' > ' + el.clientWidth + ': ' + el.innerText.slice(0, 60));
    if (document.title.trim() === 'Notebook' || !document.title.trim()) add('title', JSON.stringify(document.title));
    return found;
}"""


@pytest.fixture(scope="module")
def full_report(tmp_path_factory):
    """Every page of the report on the sample, rendered as `layerlab report sample` does."""
    require(_browser_missing())
    from layerlab.reports import render_all

    out = tmp_path_factory.mktemp("full-report")
    render_all("sample", out, progress=False)
    return out


def test_every_report_page_reads_as_prose_not_python(browser, full_report, artifacts):
    pages = [full_report / "index.html"] + sorted(full_report.glob("0*.html"))
    assert len(pages) >= 7, pages
    problems = {}
    for path in pages:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        found = page.evaluate(_PAGE_CHECK) + [f"page error: {e}" for e in errors]
        if found:
            problems[path.name] = found
            page.screenshot(path=str(artifacts / f"report-{path.stem}.png"), full_page=True)
        page.close()
    assert not problems, "\n".join(f"{name}:\n  " + "\n  ".join(found) for name, found in problems.items())


def test_the_page_check_finds_python_output(browser, tmp_path):
    """The check above on a page made of what it must catch, printed by a real kernel."""
    import nbformat

    from layerlab.errors import NotebookFailed
    from layerlab.reports import to_html
    from layerlab.reports.page import execute

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in (
        "'a string'", "['layerlab/app:1', 'layerlab/app:stable']", "object()",
        "import pandas as pd\npd.Series([1.0, float('nan')])",
        "from IPython.display import HTML\nHTML('<table><tr><td>True</td></tr></table>')",
        "import sys\nprint('careful', file=sys.stderr)",
        "from IPython.display import HTML\nHTML('<div style=\"width:3000px\">wide</div>')", "1 / 0")]
    with pytest.raises(NotebookFailed) as info:
        execute(nb)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(to_html(info.value.nb, tmp_path / "Notebook.html").as_uri())
    found = " / ".join(page.evaluate(_PAGE_CHECK))
    page.close()
    for what in ("traceback", "stderr output", "missing value shown raw", "a quoted string repr",
                 "a list or tuple repr",
                 "an object repr", "a Series repr", "a Python bool in a table", "horizontal scroll", "title"):
        assert what + ":" in found, (what, found)


@pytest.fixture(scope="module")
def host_report(host, tmp_path_factory):
    """Every page of the report on a host-shaped store (tests/harness/host.py), as `layerlab report` makes it."""
    require(_browser_missing())
    from layerlab.reports import render_all

    out = tmp_path_factory.mktemp("host-report")
    render_all(str(host[0]), out, progress=False)
    return out, host


def test_a_host_report_reads_as_prose_and_leads_with_what_to_fix(browser, host_report, artifacts):
    import html as html_lib
    import re

    import layerlab as ll

    out, (snapshot, made) = host_report
    pages = [out / "index.html"] + sorted(out.glob("0*.html"))
    problems = {}
    for path in pages:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        found = page.evaluate(_PAGE_CHECK)
        if found:
            problems[path.name] = found
            page.screenshot(path=str(artifacts / f"host-report-{path.stem}.png"), full_page=True)
        page.close()
    assert not problems, "\n".join(f"{name}:\n  " + "\n  ".join(found) for name, found in problems.items())

    inv = ll.open_source(snapshot)
    index = html_lib.unescape((out / "index.html").read_text())
    # The counts docker images gives, the untagged imports among the dangling, the large image's bloat first.
    assert f"<b>{len(inv.listed)}</b><span>images, as docker images lists them" in index
    assert re.search(rf"<h2>4. Dangling images: {made['untagged']}</h2>", index)
    fixes = index.split("<h2>2. What to fix first")[1].split("<h2>3.")[0]
    first = fixes.split("<tr><td>1</td>")[1].split("</tr>")[0]
    assert made["big"] in first and "python-bytecode" in first, first
    largest = index.split("<h2>3. The largest images")[1].split("<h2>4.")[0]
    assert f"{len(inv.listed) - 10} more images" in largest
    for path in out.glob("0*.html"):
        text = path.read_text()
        inputs = re.search(r'<span class="layerlab-inputs">(.*?)</span>', text)
        assert inputs is None or "llreport-work" not in inputs.group(1), path.name
        if "source" in (inputs.group(1) if inputs else ""):
            assert str(snapshot) in html_lib.unescape(inputs.group(1)), path.name
    for stem in ("04-storage-drivers", "06-drivers-measured"):
        assert "The bundled sample, not your data" in (out / f"{stem}.html").read_text(), stem
    assert "No registry capture here" in (out / "05-registries.html").read_text()
