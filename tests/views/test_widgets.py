"""Widgets driven through their traits, as code (or a person) would: state, what they list, speed."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
from traitlets import TraitError

from layerlab import analyses, plots, widgets
from layerlab.tables import diff_table
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


def test_snapshot_is_static_html_of_the_state_without_the_chart(sample):
    ex = LayerExplorer(sample, "layerlab/app:1", position=1)
    snap = ex.snapshot()
    assert "<img" not in snap.html and "<table" in snap.html  # the notebook draws the chart above it
    assert "layerlab/app:1</b> layer 1" in snap.html
    assert "/data/big.bin" in snap.html
    assert "NaN" not in snap.html and "nan<" not in snap.html


def test_snapshot_stands_in_for_the_widget_in_reports(sample, monkeypatch):
    ex = LayerExplorer(sample, "layerlab/app:1")
    assert "application/vnd.jupyter.widget-view+json" in ex._repr_mimebundle_()
    monkeypatch.setenv("LAYERLAB_REPORT", "1")
    bundle = ex._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/plain"}
    assert bundle["text/html"] == ex.snapshot().html


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


# -- issue 14: what an analyst reads in the widgets -----------------------------------------------


def _chart_paths(ax) -> int:
    """The path counts the diff chart writes on its bars ("<size> in <n> paths")."""
    return sum(int(t.get_text().split(" in ")[1].split()[0]) for t in ax.texts if " paths" in t.get_text())


def test_image_compare_filter_narrows_the_chart_and_the_table_alike(sample):
    cmp = ImageCompare(sample, "layerlab/base:1", "layerlab/app:1")
    fig, ax = plt.subplots()
    everything = _chart_paths(cmp.plot(ax))
    plt.close(fig)
    assert everything == len(cmp.diff()) == len(cmp.table.frame)
    cmp.path_filter = "/opt"
    shown = cmp.diff_table()
    assert 0 < len(shown) < len(cmp.diff())
    fig, ax = plt.subplots()
    assert _chart_paths(cmp.plot(ax)) == len(shown)  # the chart counts the filtered paths
    plt.close(fig)
    assert list(cmp.table.frame["path"]) == list(diff_table(shown)["path"])
    assert f"{len(shown)} paths differ matching" in cmp.summary.value


def test_tables_page_beyond_fifteen_rows(sample):
    ex = LayerExplorer(sample, "layerlab/app:1", position=0)  # the base layer: hundreds of entries
    table = ex.layer_table()
    assert len(table) > 30 and ex.table.pages == -(-len(table) // 15)
    assert table["path"].iloc[0] in ex.table.html.value and table["path"].iloc[16] not in ex.table.html.value
    ex.table.next_button.click()
    assert ex.table.page == 1
    assert list(ex.table.shown()["path"]) == list(table["path"].iloc[15:30])
    assert table["path"].iloc[16] in ex.table.html.value and f"rows 16–30 of {len(table)}" in ex.table.html.value
    ex.table.page = 10_000  # clamped to the last page
    assert ex.table.page == ex.table.pages - 1 and ex.table.next_button.disabled
    ex.position = 1  # a new layer opens on its first page
    assert ex.table.page == 0


def test_widget_tables_are_readable(sample):
    cu = CopyUpExplorer(sample)
    page = cu.table.html.value
    assert 'class="dataframe layerlab-table"' in page or "layerlab-table" in page
    assert "NaN" not in page and "None" not in page
    cmp = ImageCompare(sample, "layerlab/tree:1", "layerlab/app:1")
    assert "NaN" not in cmp.table.html.value and "<NA>" not in cmp.table.html.value


def test_untagged_images_are_listed_only_when_asked(sample):
    ex = LayerExplorer(sample, "layerlab/bloat:1")
    listed = [i for _, i in ex.image_select.options]
    assert sorted(listed) == sorted(sample.tagged["image_id"])
    assert not any(name.startswith("<none>") for name, _ in ex.image_select.options)
    ex.show_untagged = True
    assert sorted(i for _, i in ex.image_select.options) == sorted(sample.images["image_id"])
    assert ex.image == sample.image_id("layerlab/bloat:1")  # the switch does not move the selection
    ex.show_untagged = False
    untagged = sample.images.loc[sample.images["tags"].map(len) == 0, "image_id"].iloc[0]
    ex.image = untagged  # code may still pick one: it is listed while shown
    assert ex.image_select.value == untagged
    cmp = ImageCompare(sample)
    assert sorted(i for _, i in cmp.a_select.options) == sorted(sample.tagged["image_id"])


def test_explorer_says_what_a_later_layer_does_to_an_entry(sample):
    w = analyses.waste(sample, "layerlab/bloat:1")
    ex = LayerExplorer(sample, "layerlab/bloat:1")
    first_copy = int(w.loc[(w["path"] == "/data/big.bin") & (w["reason"] == "overwritten"), "position"].min())
    ex.position = first_copy
    row = ex.layer_table().set_index("path").loc["/data/big.bin"]
    by = int(w.loc[(w["path"] == "/data/big.bin") & (w["position"] == first_copy), "by_position"].iloc[0])
    assert row["change"] == "adds" and row["later"] == f"overwritten by layer {by}"
    ex.position = len(ex.chain) - 1  # the top layer: nothing above it
    assert set(ex.layer_table()["later"]) == {"kept"}


def test_the_selected_layer_stands_out_however_small(sample):
    ex = LayerExplorer(sample, "layerlab/bloat:1")
    sizes = ex.chain["size"].to_numpy()
    ex.position = int(sizes.argmin())  # the smallest layer: its bar (and outline) is a speck
    fig, ax = plt.subplots()
    ex.plot(ax)
    labels = ax.get_yticklabels()
    bold = [t.get_text() for t in labels if t.get_fontweight() == "bold"]
    assert bold == [labels[ex.position].get_text()] and bold[0].startswith(f"{ex.position}:")
    # a band across the whole row (axes coordinates 0..1 in x), centred on the row
    bands = [p for p in ax.patches if p.get_zorder() == 0]
    assert len(bands) == 1
    box = bands[0].get_bbox()
    assert box.x0 == 0 and box.x1 == 1 and box.y0 < ex.position < box.y1
    plt.close(fig)


def test_a_filter_matching_nothing_says_so_in_the_chart(sample):
    cmp = ImageCompare(sample, "layerlab/base:1", "layerlab/app:1")
    cmp.path_filter = "/no/such/path"
    fig, ax = plt.subplots()
    cmp.plot(ax)
    assert [t.get_text() for t in ax.texts] == ["no differing path contains '/no/such/path'"]
    plt.close(fig)
    assert "0 paths differ matching" in cmp.summary.value
    assert "nothing to show" in cmp.table.html.value


def test_explorer_filter_narrows_its_chart_too(sample):
    ex = LayerExplorer(sample, "layerlab/bloat:1")

    def bar_totals():
        fig, ax = plt.subplots()
        ex.plot(ax)
        labels = [t.get_text() for t in ax.texts]
        title = ax.get_title()
        plt.close(fig)
        return labels, title

    whole, title = bar_totals()
    ex.path_filter = "scratch"
    files = sample.image_files("layerlab/bloat:1")
    matching = files[files["path"].str.contains("scratch") & (files["kind"] == "file")]
    per_layer = matching.groupby("position")["size"].sum()
    narrowed, title = bar_totals()
    assert "paths containing 'scratch'" in title
    from layerlab.display import human_bytes

    assert narrowed == [human_bytes(int(per_layer.get(p, 0))) for p in range(len(ex.chain))]
    assert narrowed != whole
    assert "chart and table: paths containing" in ex.summary.value


def test_busy_line_shows_only_for_updates_past_half_a_second():
    import time

    from layerlab.widgets._base import Busy

    busy = Busy()
    with busy("quick"):
        pass
    assert busy.shown == 0 and busy.label.value == ""
    busy.AFTER = 0.05
    with busy("reading layer 3"):
        time.sleep(0.5)
        assert "reading layer 3" in busy.label.value  # shown while the update still runs
    assert busy.shown == 1 and busy.label.value == ""  # and gone when it is done


def test_widgets_carry_the_busy_line(sample):
    for w in (widgets.LayerExplorer(sample), widgets.FileTree(sample), widgets.ImageCompare(sample)):
        assert w.busy.label in w.children[1].children


def test_compare_opens_on_one_repository_and_tells_content_from_mtime(host):
    import layerlab as ll
    from layerlab.plots.waste import METADATA_ONLY

    path, made = host
    inv = ll.open_source(path)
    compare = widgets.ImageCompare(inv)
    old, new = made["versions"]
    assert (compare.a, compare.b) == (inv.image_id(old), inv.image_id(new))
    # /srv/version: the same bytes written again by the same RUN, only its mtime differs.
    d = compare.diff()
    row = d[d["path"] == "/srv/version"].iloc[0]
    assert row["status"] == "changed" and "content" not in str(row["changes"])
    assert "have the same content (mtime, mode or owner only)" in compare.summary.value
    fig, ax = plt.subplots()
    plots.image_diff(inv, old, new, data=d, ax=ax)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert METADATA_ONLY in labels and "changed" in labels  # app.py's content did change
    plt.close(fig)


def test_explorer_reads_waste_without_hashing_duplicates(sample):
    """The explorer shows reclaimable bytes only: its waste leaves out duplicate_content (the hashing
    of every same-size twin), and keeps every reclaimable row the full analysis finds."""
    for image in sample.tagged["image_id"]:
        full = analyses.waste(sample, image)
        quick = analyses.waste(sample, image, duplicates=False)
        assert "duplicate_content" not in set(quick["reason"])
        keep = ["path", "position", "reason", "bytes"]
        assert quick[keep].equals(full[full["reason"] != "duplicate_content"][keep].reset_index(drop=True))
    ex = LayerExplorer(sample, "layerlab/app:1")
    assert "duplicate_content" not in set(ex.waste()["reason"])
