"""Widgets driven through their traits, as code (or a person) would: state, what they list, speed."""

from __future__ import annotations


import matplotlib.figure
import matplotlib.pyplot as plt
import pytest
from traitlets import TraitError

from layerlab import analyses
from layerlab.widgets import CopyUpExplorer, ImageCompare, LayerExplorer


def test_layer_explorer_steps_through_layers(sample):
    ex = LayerExplorer(sample, "layerlab/bloat:1")
    # Starts on the layer holding the most hidden bytes: the first COPY of /data/big.bin.
    w = analyses.waste(sample, "layerlab/bloat:1")
    assert ex.position == int(w.groupby("position")["bytes"].sum().idxmax())
    ex.position = 3
    table = ex.layer_table()
    assert list(table.loc[table["change"] == "deletes", "path"]) == ["/data/scratch.bin"]
    ex.position = 4  # the chmod: a full copy of big.bin over the one below
    table = ex.layer_table()
    assert table.loc[table["path"] == "/data/big.bin", "change"].item() == "overwrites"
    assert "chmod 0600" in ex.summary.value


def test_layer_explorer_clamps_and_validates(sample):
    ex = LayerExplorer(sample, "layerlab/bloat:1", position=0)
    ex.position = 99
    assert ex.position == len(ex.chain) - 1 == 4
    ex.position = -3
    assert ex.position == 0
    with pytest.raises(TraitError, match="no image 'nope:1'"):
        ex.image = "nope:1"
    assert ex.image == sample.image_id("layerlab/bloat:1")


def test_layer_explorer_follows_the_image_and_filter(sample):
    ex = LayerExplorer(sample, "layerlab/bloat:1", position=4)
    before = ex.layer_table()
    ex.image = "layerlab/tree:1"
    assert ex.image_select.value == sample.image_id("layerlab/tree:1")  # the control follows the trait
    assert ex.layer_slider.max == 4
    after = ex.layer_table()
    assert not after.equals(before)
    assert "/srv/old" in set(after["path"])  # tree's last layer deletes /srv/old
    ex.position = 2
    ex.path_filter = "links"
    assert len(ex.layer_table()) and ex.layer_table()["path"].str.contains("links").all()


def test_widgets_redraw_after_each_change(sample):
    # How fast a redraw is, is measured by benchmarks/bench_widgets.py, not asserted here.
    ex = LayerExplorer(sample, "layerlab/bloat:1")
    for action, name in ((lambda: setattr(ex, "image", "layerlab/tree:1"), "layerlab/tree:1"),
                         (lambda: setattr(ex, "position", 1), "layerlab/tree:1"),
                         (lambda: setattr(ex, "image", "layerlab/app:1"), "layerlab/app:1"),
                         (lambda: setattr(ex, "path_filter", "/data"), "layerlab/app:1")):
        action()
        fig = plt.figure()
        ax = ex.plot(fig.gca())
        assert ax.get_title().startswith(name)
        plt.close(fig)


def test_snapshot_is_a_static_figure_of_the_state(sample):
    ex = LayerExplorer(sample, "layerlab/app:1", position=1)
    fig = ex.snapshot()
    assert isinstance(fig, matplotlib.figure.Figure)
    chart, table = fig.axes[:2]
    assert chart.get_title().startswith("layerlab/app:1")
    assert table.get_title(loc="left") == "layer 1: largest entries"
    cells = [c.get_text().get_text() for c in table.tables[0].get_celld().values()]
    assert "/data/big.bin" in cells


def test_snapshot_stands_in_for_the_widget_in_reports(sample, monkeypatch):
    ex = LayerExplorer(sample, "layerlab/app:1")
    assert "application/vnd.jupyter.widget-view+json" in ex._repr_mimebundle_()
    monkeypatch.setenv("LAYERLAB_REPORT", "1")
    bundle = ex._repr_mimebundle_()
    assert set(bundle) == {"image/png", "text/plain"}
    import base64

    assert base64.b64decode(bundle["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"


def test_image_compare(sample):
    cmp = ImageCompare(sample, "layerlab/bloat:1", "layerlab/app:1")
    assert set(cmp.diff_table()["status"]) == {"added"}
    assert "/opt/app/run.sh" in set(cmp.diff_table()["path"])
    cmp.b = "layerlab/tree:1"
    assert "removed" in set(cmp.diff_table()["status"])
    cmp.path_filter = "/srv/old"
    assert cmp.diff_table()["path"].str.contains("/srv/old").all()
    assert "layerlab/tree:1" in cmp.summary.value


def test_copy_up_explorer_starts_on_the_container_that_wrote(sample):
    cu = CopyUpExplorer(sample)
    exited = sample.containers.set_index("name").at["ll-exited", "container_id"]
    assert cu.container == exited
    ups = cu.copy_ups()
    assert ups.loc[ups["path"] == "/data/big.bin", "action"].item() == "copied_up"
    cu.container = "ll-created"
    assert cu.copy_ups()["bytes"].sum() == 0
    with pytest.raises(TraitError, match="containers: "):
        cu.container = "no-such-container"
