"""Plot functions on the real sample: what they draw (bars, their lengths, labels, units), checked
against the frames and analyses they draw from."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

import layerlab as ll
from layerlab import analyses, plots
from layerlab.display import command_label, human_bytes, shorten
from layerlab.plots._util import REASON_COLORS, bytes_axis
from layerlab.reports import audit_or_none


def _bars(ax, color=None):
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Rectangle

    bars = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_fill()]
    return [b for b in bars if color is None or np.allclose(b.get_facecolor(), to_rgba(color))]


def _ticklabels(ax, axis="y"):
    return [t.get_text() for t in (ax.get_yticklabels() if axis == "y" else ax.get_xticklabels())]


def test_human_bytes_and_units():
    assert human_bytes(999) == "999 B"
    assert human_bytes(1_048_576) == "1.05 MB"
    assert human_bytes(2_500_000_000) == "2.5 GB"
    assert human_bytes(None) == "-"
    fig, ax = plt.subplots()
    ax.set_xlim(0, 3e9)
    assert bytes_axis(ax, "x", "compressed") == "GB"
    assert ax.get_xlabel() == "compressed size (GB)"
    plt.close(fig)


def test_long_names_keep_their_tag():
    name = "registry.example.com:5000/team/platform/very/long/repository/name:2024-01-01"
    short = shorten(name, 30)
    assert len(short) == 30 and short.endswith("name:2024-01-01") and "…" in short
    assert command_label("/bin/sh -c #(nop) COPY file:abc in /data/") == "COPY file:abc in /data/"
    assert command_label("/bin/sh -c rm /x") == "RUN rm /x"
    assert command_label(None) == "(imported)"


def test_layer_sizes_stacks_each_layer_by_reason(sample, ax):
    plots.layer_sizes(sample, "layerlab/bloat:1", ax=ax)
    waste = analyses.waste(sample, "layerlab/bloat:1")
    labels = _ticklabels(ax)
    assert len(labels) == 5 and labels[0].startswith("0:") and "chmod 0600 /data/big.bin" in labels[4]
    assert ax.get_xlabel() == "file content (apparent) (MB)"
    # The red (overwritten) bars add up to the overwritten bytes waste() found, orange to the deleted.
    red = sum(b.get_width() for b in _bars(ax, REASON_COLORS["overwritten"]))
    orange = sum(b.get_width() for b in _bars(ax, REASON_COLORS["deleted"]))
    assert red == waste.loc[waste["reason"] == "overwritten", "bytes"].sum() > 0
    assert orange == waste.loc[waste["reason"] == "deleted", "bytes"].sum() > 0
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["kept (visible in the image)", "overwritten by a later layer", "deleted by a later layer",
                      "metadata-only copy"]
    assert "never seen" in ax.get_title()


def test_layer_sizes_outlines_the_highlighted_layer(sample, ax):
    plots.layer_sizes(sample, "layerlab/bloat:1", highlight=2, ax=ax)
    outlines = [p for p in ax.patches if not p.get_fill()]
    assert len(outlines) == 1 and outlines[0].get_y() < 2 < outlines[0].get_y() + outlines[0].get_height()


def test_image_waste_bars_are_the_reclaimable_bytes(sample, ax):
    plots.image_waste(sample, ax=ax)
    eff = analyses.efficiency(sample).set_index("image_id")
    names = _ticklabels(ax)
    assert names[:2] in (["layerlab/app:1", "layerlab/bloat:1"], ["layerlab/bloat:1", "layerlab/app:1"])
    red = [b.get_width() for b in _bars(ax, REASON_COLORS["overwritten"])]
    assert sorted(red, reverse=True)[0] == eff["reclaimable_bytes"].max()
    assert ax.get_xlabel() == "apparent size (MB)"
    assert any("efficiency" in t.get_text() for t in ax.texts)


def test_sharing_matrix_has_a_row_per_tagged_image(sample, ax):
    plots.sharing_matrix(sample, ax=ax)
    tagged = sample.images[sample.images["tags"].map(len) > 0]
    assert len(_ticklabels(ax)) == len(tagged)
    assert "layerlab/base:1" in _ticklabels(ax)
    # The base layer is used by every image and comes first.
    first = _ticklabels(ax, "x")[0]
    assert first.endswith(f"×{len(tagged)}")
    cbar_label = ax.figure.axes[-1].get_ylabel()
    assert cbar_label.startswith("layer apparent size (")


def test_dedup_ratios_draws_the_analyses_bytes(sample, ax):
    plots.dedup_ratios(sample, ax=ax)
    d = analyses.layer_dedup(sample).iloc[0]
    heights = [b.get_height() for b in _bars(ax)]
    assert heights[0] == d["logical_size"] and heights[1] == d["physical_size"]
    assert len(heights) == 3  # the sample has duplicate content across layers
    assert any(f"{d['dedup_ratio']:.2f}×" in t.get_text() for t in ax.texts)
    assert ax.get_ylabel() == "apparent size (MB)"


def test_treemap_areas_follow_directory_bytes(sample, ax):
    plots.treemap(sample, "layerlab/tree:1", ax=ax)
    rects = _bars(ax)
    assert len(rects) >= 3
    labels = [t.get_text() for t in ax.texts if t.get_text()]
    # /srv/sparse.img (4 MiB) sits directly in /srv, so /srv is the largest box; /bin holds busybox.
    assert labels[0].startswith("/srv\n") and any(label.startswith("/bin\n") for label in labels)
    areas = sorted((r.get_width() * r.get_height() for r in rects), reverse=True)
    files = sample.image_files("layerlab/tree:1")
    files = files[files["kind"] == "file"]

    def group(path):  # two levels deep; a file directly in a top directory counts for it
        parts = path.strip("/").split("/")
        return "/" + "/".join(parts[:2]) if len(parts) > 2 else "/" + parts[0]

    biggest_dir = files.groupby(files["path"].map(group))["size"].sum().max()
    assert areas[0] / sum(areas) == pytest.approx(biggest_dir / files["size"].sum(), rel=1e-6)
    assert "apparent" in ax.get_title()


def test_file_sizes_counts_every_non_empty_file(sample, ax):
    plots.file_sizes(sample, ax=ax)
    files = sample.files[(sample.files["kind"] == "file") & (sample.files["size"] > 0)]
    assert sum(b.get_height() for b in _bars(ax)) == len(files)
    assert ax.get_xscale() == "log" and "apparent" in ax.get_xlabel()
    assert ax.get_ylabel() == "files"


def test_size_kinds_three_bars_with_registry_sizes(sample, ax):
    audit = audit_or_none()
    if audit is None:
        pytest.skip("data/capture/registry.tar.xz not in this checkout")
    plots.size_kinds(sample, "layerlab/bloat:1", compressed=audit.blobs, ax=ax)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["apparent (uncompressed tar content)", "on disk (allocated blocks)", "compressed (registry blob)"]
    compressed = _bars(ax, "#f58518")
    assert len(compressed) == 5  # bloat:1 was pushed: every layer has a blob
    apparent = _bars(ax, "#4c78a8")
    # Bars are drawn base first. busybox compresses; layer 2, 1 MiB of random bytes, does not.
    assert compressed[0].get_width() < 0.8 * apparent[0].get_width()
    assert compressed[2].get_width() == pytest.approx(apparent[2].get_width(), rel=0.05)
    assert ax.get_xlabel().endswith("(MB)") and "compressed" in ax.get_xlabel()


def test_driver_footprint_vfs_stores_more(sample, ax):
    plots.driver_footprint({"overlay2": sample, "vfs": ll.sample("vfs")}, ax=ax)
    apparent = [b.get_height() for b in _bars(ax, "#4c78a8")]
    disk = [b.get_height() for b in _bars(ax, "#72b7b2")]
    assert apparent[0] == pytest.approx(apparent[1], rel=1e-3)  # the same images
    assert disk[1] > 2 * disk[0]  # vfs copies the whole filesystem per layer


def test_copy_ups_colours_the_copied_file(sample, ax):
    plots.copy_ups(sample, "ll-exited", ax=ax)
    labels = _ticklabels(ax)
    assert "/data/big.bin" in labels
    red = _bars(ax, REASON_COLORS["overwritten"])
    i = labels.index("/data/big.bin")
    assert any(abs(b.get_y() + b.get_height() / 2 - i) < 0.01 and b.get_width() == 1_048_577 for b in red)


def test_image_diff_groups_bytes_by_status(sample, ax):
    plots.image_diff(sample, "layerlab/bloat:1", "layerlab/app:1", ax=ax)
    assert _ticklabels(ax) == ["added"]
    diff = analyses.diff_images(sample, "layerlab/bloat:1", "layerlab/app:1")
    assert _bars(ax)[0].get_width() == diff["size_b"].sum()
    assert "layerlab/bloat:1 → layerlab/app:1" == ax.get_title()


def test_registry_sharing_from_the_storage_audit(ax):
    audit = audit_or_none()
    if audit is None:
        pytest.skip("data/capture/registry.tar.xz not in this checkout")
    plots.registry_sharing(audit.blobs, ax=ax)
    layer_blobs = audit.blobs[audit.blobs["kind"] == "layer"]
    assert len(_bars(ax)) == min(20, len(layer_blobs))
    assert ax.get_xlabel().startswith("compressed size (")
    # The base layer is pushed under each driver's namespace: one blob, several repositories.
    assert any("repos" in t.get_text() and not t.get_text().endswith("/ 1 repos") for t in ax.texts)


def test_plots_draw_on_the_current_axes_when_none_given(sample):
    fig = plt.figure()
    try:
        assert plots.sharing_matrix(sample) is fig.axes[0]
    finally:
        plt.close(fig)
