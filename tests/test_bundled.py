"""Offline tier (the bundled sample): the sample, the driver measurements and the notebooks resolve through
importlib.resources (the data packages the wheel carries), the overrides still win, and
``layerlab notebooks`` copies the notebooks out."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import nbformat
import pytest

import layerlab as ll
from layerlab.analyses.drivers.measurements import load_measurements, measurements_dir
from layerlab.cli import main
from layerlab.cli.notebooks import copy_notebooks
from layerlab.errors import ReportError, SnapshotError
from layerlab.reports.params import notebooks, notebooks_dir
from layerlab.sources.sample import DRIVERS, data_dir

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_overrides(monkeypatch):
    monkeypatch.delenv("LAYERLAB_DATA", raising=False)
    monkeypatch.delenv("LAYERLAB_NOTEBOOKS", raising=False)


def test_sample_and_notebooks_resolve_through_importlib_resources(no_overrides):
    data = Path(str(files("layerlab._bundled.data")))
    book = Path(str(files("layerlab._bundled.notebooks")))
    assert data_dir() == data and notebooks_dir() == book and measurements_dir() == data / "drivers"
    for driver in DRIVERS:
        assert ll.sample_path(driver).parent == data
        assert len(ll.sample(driver).files) > 100
    # The report's notebooks; the fleet notebook is rendered by `layerlab fleet report` instead.
    assert [p.name for p in notebooks()] == sorted(p.name for p in book.iterdir() if p.suffix == ".ipynb"
                                                   and not p.stem.endswith("-fleet"))
    assert len(notebooks()) >= 6
    assert len(load_measurements()) > 0


def test_the_data_packages_are_the_repositorys_own_folders(no_overrides):
    # The tests run from an editable install: setup.py maps notebooks/ and data/ into the package,
    # so what importlib.resources finds is the checkout's folders, not a second copy.
    assert Path(str(files("layerlab._bundled.notebooks"))).resolve() == REPO / "notebooks"
    assert Path(str(files("layerlab._bundled.data"))).resolve() == REPO / "data"


def test_overrides_win(monkeypatch, tmp_path):
    monkeypatch.setenv("LAYERLAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("LAYERLAB_NOTEBOOKS", str(tmp_path / "nb"))
    assert data_dir() == tmp_path / "data" and notebooks_dir() == tmp_path / "nb"
    with pytest.raises(SnapshotError, match="LAYERLAB_DATA"):
        ll.sample()
    with pytest.raises(ReportError, match="LAYERLAB_NOTEBOOKS"):
        notebooks()


def test_notebooks_command_copies_them_out_and_keeps_edits(no_overrides, tmp_path, capsys):
    target = tmp_path / "mine"
    assert main(["notebooks", str(target)]) == 0
    copied = sorted(p.name for p in target.glob("*.ipynb"))
    # the report's notebooks and the fleet notebook the README promises
    assert copied == sorted([p.name for p in notebooks()] + ["07-fleet.ipynb"])
    assert "jupyter lab" in capsys.readouterr().out
    for path in target.glob("*.ipynb"):
        nbformat.validate(nbformat.read(path, as_version=4))

    edited = target / copied[0]
    edited.write_text(edited.read_text().replace("layerlab", "layerlab ", 1))
    kept = edited.read_text()
    assert main(["notebooks", str(target)]) == 2  # refuses: the user's edits stay
    assert edited.read_text() == kept and copied[0] in capsys.readouterr().err
    assert len(copy_notebooks(target, force=True)) == len(copied)
    assert edited.read_text() == (notebooks_dir() / copied[0]).read_text()


def test_report_kernels_run_in_the_callers_folder(monkeypatch, tmp_path):
    # The bundled notebooks may live in site-packages: a relative path in a parameter must mean
    # the folder the user ran `layerlab report` in.
    from layerlab.reports import render

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("name = 'x'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import os\nprint(os.getcwd(), open(name).read())")]
    (tmp_path / "books").mkdir()
    nbformat.write(nb, tmp_path / "books" / "01-where.ipynb")
    work = tmp_path / "work"
    work.mkdir()
    (work / "here.txt").write_text("found")
    monkeypatch.chdir(work)
    render(tmp_path / "books" / "01-where.ipynb", tmp_path / "out" / "01-where.html", name="here.txt")
    executed = nbformat.read(tmp_path / "out" / "01-where.ipynb", as_version=4)
    assert executed.cells[-1].outputs[0]["text"].split() == [str(work), "found"]
