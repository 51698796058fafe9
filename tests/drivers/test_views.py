"""The driver charts and the notebook, on the bundled data."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import layerlab  # noqa: E402
from layerlab.analyses.drivers.measurements import compare_model, containerd_sample, load_measurements  # noqa: E402
from layerlab.plots import measurements as driver_plots  # noqa: E402

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "06-drivers-measured.ipynb"


def test_charts_label_units_and_size_kind():
    m = load_measurements()
    cmp = compare_model(layerlab.sample(), m)
    for draw, data, needle in ((driver_plots.layer_footprint, m, "on-disk size"),
                               (driver_plots.write_costs, cmp, "on-disk size"),
                               (driver_plots.model_agreement, cmp, "on-disk size")):
        fig, ax = plt.subplots()
        assert draw(data, ax=ax) is ax
        assert needle in (ax.get_ylabel() + ax.get_xlabel())
        assert ax.patches or ax.collections
        plt.close(fig)
    fig, ax = plt.subplots()
    driver_plots.store_copies(containerd_sample(), ax=ax)
    assert "apparent or on disk" in ax.get_ylabel() and len(ax.patches) >= 6
    plt.close(fig)


def test_notebook_runs_on_the_bundled_data():
    import nbclient
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", [])) == 4
