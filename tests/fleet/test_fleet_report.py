"""The fleet notebook rendered by `layerlab fleet report`, on the test fleet and the loopback cluster."""

import nbformat
import pytest

from layerlab import reports
from layerlab.cli import main


@pytest.mark.live  # a real Dask scheduler and workers on loopback
def test_fleet_report_renders_without_errors(fleet_dir, dask_cluster, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["fleet", "report", str(fleet_dir / "hosts"), "--scheduler", dask_cluster.address, "-o", str(out)]) == 0
    page = (out / "07-fleet.html").read_text()
    assert "data:image/png;base64," in page
    nb = nbformat.read(out / "07-fleet.ipynb", as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    text = "".join(str(o.get("text", "")) for c in nb.cells for o in c.get("outputs", []))
    assert f"hosts={len(list((fleet_dir / 'hosts').iterdir()))}" in text
    assert "07-fleet.html" in (out / "index.html").read_text()


def test_single_host_report_leaves_the_fleet_notebook_out():
    names = [p.name for p in reports.notebooks()]
    assert "07-fleet.ipynb" not in names and names
