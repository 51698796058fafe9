"""Reports: parameters injected as papermill does, every notebook run on the sample with its key
outputs checked, self-contained HTML, and the two ways a report can go wrong."""

from __future__ import annotations

import html
import json
import re
import time
from pathlib import Path

import nbformat
import pytest

from layerlab import reports
from layerlab.cli import main
from layerlab.display import human_bytes
from layerlab.errors import NotebookFailed, ReportError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """Every notebook rendered on the sample, once, through the CLI; (out dir, seconds taken)."""
    out = tmp_path_factory.mktemp("report")
    started = time.monotonic()
    assert main(["report", "sample", "-o", str(out)]) == 0
    return out, time.monotonic() - started


def _executed(out: Path, stem: str):
    return nbformat.read(out / f"{stem}.ipynb", as_version=4)


def _outputs(nb, mime: str) -> list:
    return [o["data"][mime] for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if o.get("output_type") in ("display_data", "execute_result") and mime in o.get("data", {})]


def _errors(nb) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o["output_type"] == "error"]


def test_parameters_are_read_from_the_tagged_cell():
    params = reports.parameters(REPO / "notebooks" / "02-layers-and-waste.ipynb")
    assert params == {"source": "sample", "driver": None, "image": None}


def test_injected_cell_follows_the_parameters_cell_and_replaces_an_earlier_one():
    nb = nbformat.read(REPO / "notebooks" / "02-layers-and-waste.ipynb", as_version=4)
    once = reports.inject_parameters(nb, {"image": "layerlab/app:1"})
    twice = reports.inject_parameters(once, {"image": "layerlab/tree:1"})
    tags = [c.metadata.get("tags", []) for c in twice.cells]
    i = tags.index(["parameters"])
    assert tags[i + 1] == ["injected-parameters"]
    assert sum("injected-parameters" in t for t in tags) == 1
    assert "image = 'layerlab/tree:1'" in twice.cells[i + 1].source


def test_unknown_parameters_are_refused_listing_the_known(tmp_path):
    with pytest.raises(ReportError, match=r"unknown report parameter imgae; known parameters: .*image"):
        reports.render_all("sample", tmp_path, params={"imgae": "x"})
    assert main(["report", "sample", "-o", str(tmp_path), "--param", "imgae=x"]) == 2


def test_param_values_take_the_type_of_the_default():
    assert reports.coerce_value("none", None) is None
    assert reports.coerce_value("3", 1) == 3
    assert reports.coerce_value("a,b", []) == ["a", "b"]
    assert reports.coerce_value('["sample:vfs"]', []) == ["sample:vfs"]
    assert reports.coerce_value("layerlab/app:1", None) == "layerlab/app:1"


def test_all_reports_render_on_the_sample(report):
    # How long it takes is a benchmark's business, not a test's: a loaded machine must not fail it.
    out, _ = report
    index = (out / "index.html").read_text()
    for nb in reports.notebooks():
        assert f'href="{nb.stem}.html"' in index
        assert not _errors(_executed(out, nb.stem)), nb.name
    # Where and when the source was scanned, on the first page.
    assert re.search(r"scanned on host <b>[^<]+</b> at <b>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</b>", index)
    # What could be freed counts each (layer, path) once, hidden bytes as `reclaimable_once` does; what pruning frees.
    from layerlab.analyses.dive.totals import reclaimable_once

    hidden = reclaimable_once("sample")["reclaimable_bytes"]
    assert f"{human_bytes(hidden)} hidden by later layers" in html.unescape(index)
    assert "docker image prune frees" in index


def _cards(text: str) -> dict:
    return {html.unescape(k).strip(): html.unescape(v).strip()
            for v, k in re.findall(r'<div class="card"><b>([^<]*)</b><span>([^<]*)</span>', text)}


def test_index_figures_agree_with_summary_json(report, capsys):
    out, _ = report
    assert main(["summary", "sample", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    h = reports.index.headline(summary)
    text = (out / "index.html").read_text()
    cards = _cards(text)
    t = summary["totals"]
    assert cards[f"images, as docker images lists them ({t['tagged_images']} tagged; {t['all_images']} with "
                 "intermediate build images)"] == str(t["images"])
    reclaimable = t["reclaimable_bytes"]  # each (layer, path) once
    assert h["reclaimable_bytes"] == reclaimable < sum(i["reclaimable_bytes"] for i in summary["images"])
    freed = [v for k, v in cards.items() if k.startswith("could be freed: ")]
    assert len(freed) == 1 and f"could be freed: {human_bytes(reclaimable)} hidden by later layers" in "".join(cards)
    prune = f"dangling images: docker image prune frees {human_bytes(t['prunable_bytes'])}"
    assert cards[prune] == str(t["dangling_images"])
    # The same image counts on every page's first line as in summary --json.
    page = (out / "01-tour.html").read_text()
    assert (f"{t['images']} images ({t['tagged_images']} tagged; "
            f"{t['all_images']} with intermediate build images)") in page
    # And no page is titled "Notebook", shows code, or leaks a bare string repr.
    for page in out.glob("0*.html"):
        text = page.read_text()
        assert "<title>Notebook</title>" not in text and 'href="index.html"' in text, page.name
        assert "import layerlab" not in text, page.name
        assert not re.search(r"<pre>'[^']*'</pre>", text), page.name


def test_index_answers_in_order_and_lists_fixes_counted_once(report):
    from layerlab import analyses, open_source
    from layerlab.analyses.dive.totals import reclaimable_once

    text = html.unescape((Path(report[0]) / "index.html").read_text())
    order = ["<h2>1. Disk", "<h2>2. What to fix first", "<h2>3. The largest images", "<h2>4. Dangling images",
             "<h2>What to do next", "<h2>The pages"]
    at = [text.find(h) for h in order]
    assert -1 not in at and at == sorted(at), dict(zip(order, at))
    inv = open_source("sample")
    findings = analyses.fix_first(inv)
    a = findings.attrs
    # Each (layer, path) once: the hidden part is the honest total, the rows add up to the whole.
    assert a["hidden_bytes"] == reclaimable_once(inv)["reclaimable_bytes"]
    assert int(findings["bytes"].sum()) == a["total_bytes"] == a["hidden_bytes"] + a["bloat_bytes"]
    assert not findings.duplicated(["layer_id", "what"]).any()
    fixes = text.split("<h2>2. What to fix first")[1].split("<h2>3.")[0]
    assert fixes.count("<tr><td>") == min(10, len(findings)) > 0
    for r in findings.head(10).itertuples():
        assert r.image in fixes and human_bytes(r.bytes) in fixes and r.fix in fixes
    # The largest images, largest first, as many as the index's count (or the top ten and the rest summed).
    largest = text.split("<h2>3. The largest images")[1].split("<h2>4.")[0]
    listed = inv.listed.sort_values("size", ascending=False)
    sizes = [human_bytes(s) for s in listed["size"].head(10)]
    positions = [largest.find(f'<td class="num">{s}</td>') for s in sizes]
    assert -1 not in positions and positions == sorted(positions)
    # The next commands name the image with the most to free.
    assert f"layerlab bloat sample {findings['image'].iloc[0]}" in text


def test_every_page_ends_with_what_to_do_next(report):
    for nb in reports.notebooks():
        cells = [c for c in _executed(report[0], nb.stem).cells if c.cell_type == "markdown"]
        assert cells[-1].source.startswith("## What to do next"), nb.name


def test_a_host_report_labels_the_sample_and_shows_the_given_source(tmp_path, monkeypatch):
    """A report on another source (an Inventory: saved to a temporary snapshot, as a live data root
    is) shows the source the user gave, not the temporary one, and labels the sample's sections."""
    import shutil

    from layerlab import open_source

    nbs = tmp_path / "nbs"
    nbs.mkdir()
    for stem in ("04-storage-drivers", "05-registries", "06-drivers-measured"):
        shutil.copy(REPO / "notebooks" / f"{stem}.ipynb", nbs)
    monkeypatch.setenv("LAYERLAB_NOTEBOOKS", str(nbs))
    inv = open_source("sample")
    out = tmp_path / "out"
    reports.render_all(inv, out, progress=False)
    for page in ("04-storage-drivers", "05-registries", "06-drivers-measured"):
        text = (out / f"{page}.html").read_text()
        inputs = re.search(r'<span class="layerlab-inputs">(.*?)</span>', text).group(1)
        assert "source.layerlab" not in inputs and "llreport-work" not in inputs, inputs
        assert html.escape(inv.source) in inputs, inputs
        if page != "05-registries":
            assert "The bundled sample, not your data" in text, page
    # The registry page does not pass the sample's registry off as the host's.
    registries = (out / "05-registries.html").read_text()
    assert "No registry capture here" in registries and "The bundled sample" not in registries


def test_pages_are_self_contained(report):
    out, _ = report
    for page in out.glob("*.html"):
        text = page.read_text()
        assert not re.search(r"<script[^>]+src=", text), page.name
        assert not re.search(r"<link[^>]+href=\"https?:", text), page.name
        if page.name != "index.html":
            assert "data:image/png;base64," in text, page.name


def test_tour_key_outputs(report):
    nb = _executed(report[0], "01-tour")
    html = "".join(_outputs(nb, "text/html"))
    assert len(_outputs(nb, "image/png")) == 3  # size kinds, treemap, file sizes
    assert html.count("layerlab/") >= 5 and "ll-exited" in html
    images_table = [h for h in _outputs(nb, "text/html") if "shared" in h and "unique" in h][0]
    assert images_table.split("<tbody>")[1].count("<tr") == 5  # five tagged images in the sample


def test_waste_notebook_key_outputs(report):
    nb = _executed(report[0], "02-layers-and-waste")
    pngs = _outputs(nb, "image/png")
    # waste per image, layer sizes, bloat by category, the largest packages (the widgets' snapshots are HTML)
    assert len(pngs) == 4
    html = "".join(_outputs(nb, "text/html"))
    assert "/data/big.bin" in html and "overwritten" in html and "deleted" in html
    # The explorer as its summary and table, the file tree as a static tree of <details>.
    assert 'class="layerlab-tree-static"' in html and "<details open>" in html
    # The widgets rendered as still HTML, not as widgets the page cannot show.
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                   for c in nb.cells for o in c.get("outputs", []))


def test_sharing_notebook_key_outputs(report):
    nb = _executed(report[0], "03-sharing-and-dedup")
    assert len(_outputs(nb, "image/png")) == 2  # matrix, dedup (the compare snapshot is HTML)
    html = "".join(_outputs(nb, "text/html"))
    assert "layerlab/base:1" in html and "added" in html


def test_drivers_notebook_key_outputs(report):
    nb = _executed(report[0], "04-storage-drivers")
    assert len(_outputs(nb, "image/png")) == 2  # copy-ups, driver footprint (the widget snapshot is HTML)
    html = "".join(_outputs(nb, "text/html"))
    assert "copied up" in html and "whiteout (deletes)" in html and "opaque dir" in html


def test_registries_notebook_key_outputs(report):
    nb = _executed(report[0], "05-registries")
    html = "".join(_outputs(nb, "text/html"))
    assert "known to a registry" in html
    if reports.sample_capture() is not None:
        assert "garbage-collect would delete" in html
        assert "reordered" in html and "squashed" in html  # the pull's what-if (sizes from the capture)
    # sharing, size kinds, and the pull's timeline when the capture gives compressed sizes
    assert len(_outputs(nb, "image/png")) == 2 + (reports.sample_capture() is not None)


def test_a_parameter_reaches_the_notebooks(tmp_path):
    out = reports.render(REPO / "notebooks" / "02-layers-and-waste.ipynb", tmp_path / "02.html",
                         image="layerlab/tree:1")
    assert "layerlab/tree:1" in out.read_text()


def test_unreadable_source_gives_a_first_page_saying_so(tmp_path):
    missing = tmp_path / "no-such-root"
    with pytest.raises(ReportError, match="could not be read") as info:
        reports.render_all(str(missing), tmp_path / "out")
    index = Path(info.value.path)
    assert main(["report", str(missing), "-o", str(tmp_path / "out2")]) == 2  # CI and `make report` see it fail
    text = index.read_text()
    assert "The source could not be read" in text and str(missing) in text
    assert not list((tmp_path / "out").glob("0*.html"))


def test_a_failing_cell_keeps_the_notebook_and_is_named(tmp_path, monkeypatch):
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    nb = nbformat.read(REPO / "notebooks" / "01-tour.ipynb", as_version=4)
    nb.cells.insert(4, nbformat.v4.new_code_cell("inv.images.no_such_column"))
    nbformat.write(nb, nbdir / "01-broken.ipynb")
    monkeypatch.setenv("LAYERLAB_NOTEBOOKS", str(nbdir))
    with pytest.raises(NotebookFailed) as info:
        reports.render_all("sample", tmp_path / "out")
    err = info.value
    assert err.cell == 5  # after the injected-parameters cell
    assert "no_such_column" in err.source and err.ename == "AttributeError"
    assert "01-broken.ipynb" in str(err) and "cell 5" in str(err)
    kept = nbformat.read(tmp_path / "out" / "01-broken.ipynb", as_version=4)
    assert _errors(kept)
    page = (tmp_path / "out" / "01-broken.html").read_text()
    assert "This notebook failed at cell 5" in page
    assert "failed" in (tmp_path / "out" / "index.html").read_text()


def _timing_notebooks(nbdir: Path, n: int) -> None:
    """``n`` notebooks that record when their kernel ran (and its pid) and sleep a little."""
    nbdir.mkdir()
    for i in range(n):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell(f"# Timing {i}\n\nWhen did kernel {i} run?"),
                    nbformat.v4.new_code_cell('source = "sample"', metadata={"tags": ["parameters"]}),
                    nbformat.v4.new_code_cell("import os, time\nstart = time.time()\ntime.sleep(1.5)\n"
                                              "print(os.getpid(), start, time.time())")]
        nbformat.write(nb, nbdir / f"0{i}-timing.ipynb")


def _spans(out: Path, n: int) -> list[tuple[int, float, float]]:
    spans = []
    for i in range(n):
        text = "".join(o.get("text", "") for c in _executed(out, f"0{i}-timing").cells if c.cell_type == "code"
                       for o in c.get("outputs", []))
        pid, start, end = text.split()
        spans.append((int(pid), float(start), float(end)))
    return spans


def test_notebooks_run_concurrently_one_kernel_each_bounded_by_jobs(tmp_path, monkeypatch, capsys):
    nbdir = tmp_path / "nbs"
    _timing_notebooks(nbdir, 3)
    monkeypatch.setenv("LAYERLAB_NOTEBOOKS", str(nbdir))

    reports.render_all("sample", tmp_path / "serial", jobs=1, progress=False)
    serial = sorted(_spans(tmp_path / "serial", 3), key=lambda s: s[1])
    assert all(a[2] <= b[1] for a, b in zip(serial, serial[1:])), f"jobs=1 overlapped: {serial}"

    reports.render_all("sample", tmp_path / "parallel", jobs=2, progress=True)
    spans = _spans(tmp_path / "parallel", 3)
    assert len({pid for pid, _, _ in spans}) == 3, "each notebook has its own kernel"
    # At most two at any moment, and at least two at some moment.
    at = [sum(s <= t < e for _, s, e in spans) for _, t, _ in spans]
    assert max(at) == 2, spans
    err = capsys.readouterr().err
    assert "3/3" in err and "2 at a time" in err and "running" in err, err[-500:]
    index = (tmp_path / "parallel" / "index.html").read_text()
    assert [index.index(f"0{i}-timing.html") for i in range(3)] == sorted(index.index(f"0{i}-timing.html")
                                                                          for i in range(3))


def test_a_dead_kernel_fails_its_page_and_the_others_render(tmp_path, monkeypatch):
    nbdir = tmp_path / "nbs"
    _timing_notebooks(nbdir, 2)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Dies\n\nWhat if the kernel dies?"),
                nbformat.v4.new_code_cell("print('before')"), nbformat.v4.new_code_cell("import os\nos._exit(1)")]
    nbformat.write(nb, nbdir / "09-dies.ipynb")
    monkeypatch.setenv("LAYERLAB_NOTEBOOKS", str(nbdir))
    with pytest.raises(NotebookFailed) as info:
        reports.render_all("sample", tmp_path / "out", jobs=2, progress=False)
    assert info.value.ename == "DeadKernelError" and "09-dies.ipynb" in str(info.value) and "1 of 3" in str(info.value)
    assert info.value.cell == 2
    assert len(_spans(tmp_path / "out", 2)) == 2  # the other notebooks ran to the end
    page = (tmp_path / "out" / "09-dies.html").read_text()
    assert "This notebook failed at cell 2" in page and "DeadKernelError" in page and "before" in page
    index = (tmp_path / "out" / "index.html").read_text()
    assert re.search(r'09-dies\.html">Dies</a> <span class="failed">failed</span>: cell 2: DeadKernelError',
                     index), index
