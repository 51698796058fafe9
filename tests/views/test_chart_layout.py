"""Every chart of layerlab.plots drawn on each bundled sample, at the size the notebooks draw it, and
checked after drawing: no two texts overlap (their tight bounding boxes on the canvas), and no
legend covers data (bars, points, lines) or a text of the chart."""

from __future__ import annotations

import inspect
import itertools

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.text import Text

import layerlab as ll
from layerlab import plots
from layerlab.analyses.drivers import measurements
from layerlab.plots import measurements as driver_plots
from layerlab.reports import audit_or_none
from layerlab.sources.sample import DRIVERS

#: Pixels two boxes may share before they count as overlapping (antialiasing, rounding).
SLACK = 1.0


def _overlap(a, b) -> bool:
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > SLACK) and (min(a.y1, b.y1) - max(a.y0, b.y0) > SLACK)


def _corners(bbox, shape=None) -> np.ndarray:
    """The four corners of a box: an upright one, or a text's rectangle rotated by its angle
    (``shape``: width, height, angle), centred where its upright bounding box is."""
    if shape is None:
        return np.array([[bbox.x0, bbox.y0], [bbox.x1, bbox.y0], [bbox.x1, bbox.y1], [bbox.x0, bbox.y1]])
    w, h, angle = shape
    c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    half = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
    return half @ np.array([[c, s], [-s, c]]) + [(bbox.x0 + bbox.x1) / 2, (bbox.y0 + bbox.y1) / 2]


def _shapes_overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Two convex quadrilaterals overlap by more than SLACK along every separating axis."""
    for quad in (a, b):
        for i in range(4):
            edge = quad[(i + 1) % 4] - quad[i]
            axis = np.array([-edge[1], edge[0]]) / (np.hypot(*edge) or 1)
            pa, pb = a @ axis, b @ axis
            if min(pa.max(), pb.max()) - max(pa.min(), pb.min()) <= SLACK:
                return False
    return True


def _out_of_view_ticklabels(fig) -> set:
    """Tick labels matplotlib does not draw: of ticks outside their axis' view, and of axes turned
    off (``set_axis_off``: older matplotlib still lists those labels as visible)."""
    hidden = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                loc = tick.get_loc()
                if not ax.axison or loc is None or not (lo - 1e-9 * abs(hi - lo) <= loc <= hi + 1e-9 * abs(hi - lo)):
                    hidden.update((tick.label1, tick.label2))
    return hidden


def _texts(fig, renderer) -> list[tuple[str, object]]:
    """Every text drawn (not a legend's own), with its box on the canvas."""
    hidden = _out_of_view_ticklabels(fig)
    in_legends = {id(t) for lg in fig.findobj(Legend) for t in lg.findobj(Text)}
    out = []
    for t in fig.findobj(Text):
        if (id(t) in in_legends or t in hidden or not t.get_visible() or not t.get_text().strip()
                or not all(a.get_visible() for a in _ancestors(t))):
            continue
        bbox = t.get_window_extent(renderer)
        angle = t.get_rotation() % 180
        shape = None
        if angle not in (0, 90):
            # A rotated label's upright box is far larger than the label: compare the label itself.
            t.set_rotation(0)
            upright = t.get_window_extent(renderer)
            t.set_rotation(angle)
            shape = (upright.width, upright.height, angle)
        out.append((t.get_text(), bbox, _corners(bbox, shape)))
    return out


def _ancestors(artist):
    a = getattr(artist, "axes", None)
    return [a] if a is not None else []


def _data_boxes(ax, renderer) -> list[tuple[str, object]]:
    """What a legend must not cover: bars (rectangles with area), points and line vertices."""
    from matplotlib.transforms import Bbox

    boxes = []
    for p in ax.patches:
        if isinstance(p, Rectangle) and p.get_visible() and p.get_width() and p.get_height():
            bb = p.get_window_extent(renderer)
            if bb.width > SLACK and bb.height > SLACK:
                boxes.append((f"bar {p.get_label() or ''}", bb))
    for c in ax.collections:
        if isinstance(c, PathCollection) and c.get_visible():
            for x, y in c.get_offset_transform().transform(c.get_offsets()):
                boxes.append(("point", Bbox.from_extents(x - 3, y - 3, x + 3, y + 3)))
    for line in ax.lines:
        if not line.get_visible() or line.get_label().startswith("_child") and _spans_axes(line):
            continue
        xy = line.get_transform().transform(line.get_xydata())
        # Points along each segment, so a line crossing the legend box is caught between vertices.
        for (x0, y0), (x1, y1) in zip(xy, xy[1:]):
            for f in np.linspace(0, 1, 25):
                x, y = x0 + f * (x1 - x0), y0 + f * (y1 - y0)
                boxes.append(("line", Bbox.from_extents(x - 1.5, y - 1.5, x + 1.5, y + 1.5)))
    return boxes


def _spans_axes(line: Line2D) -> bool:
    """axhline/axvline: a reference line across the whole axes (a legend may sit over it)."""
    return line.get_transform().contains_branch_seperately(line.axes.transAxes) != (False, False)


def layout_problems(fig) -> list[str]:
    """Overlapping texts, and legends over data or texts, in ``fig`` after drawing it."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    problems = []
    texts = _texts(fig, renderer)
    for (ta, ba, ca), (tb, bb, cb) in itertools.combinations(texts, 2):
        if _overlap(ba, bb) and _shapes_overlap(ca, cb):
            problems.append(f"texts overlap: {ta!r} and {tb!r}")
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None or not legend.get_visible():
            continue
        box = legend.get_window_extent(renderer)
        for what, bb in _data_boxes(ax, renderer):
            if _overlap(box, bb):
                problems.append(f"legend covers data: {what.strip()}")
                break
        for text, bb, corners in texts:
            if _overlap(box, bb) and _shapes_overlap(_corners(box), corners):
                problems.append(f"legend covers text {text!r}")
    # An annotation (a note or a value label) must not sit over a bar: it hides the bar and is hard to read.
    for ax in fig.axes:
        if not ax.axison:  # a treemap: its labels belong inside its cells
            continue
        bars = [bb for what, bb in _data_boxes(ax, renderer) if what.startswith("bar")]
        for t in ax.texts:
            if not t.get_visible() or not t.get_text().strip():
                continue
            bb = t.get_window_extent(renderer)
            if any(_overlap(bb, bar) for bar in bars):
                problems.append(f"annotation over a bar: {t.get_text()!r}")
    return problems


# -- the charts, drawn as the notebooks draw them -------------------------------------------------

@pytest.fixture(scope="module")
def audit():
    return audit_or_none()


@pytest.fixture(scope="module")
def measured():
    m = measurements.load_measurements()
    return m, measurements.compare_model(ll.sample(), m)


def _draw(figsize, fn, *args, **kwargs):
    fig, ax = plt.subplots(figsize=figsize)
    try:
        fn(*args, ax=ax, **kwargs)
        return layout_problems(fig)
    finally:
        plt.close(fig)


def _sample_charts(inv, audit):
    """(name, figsize, function, args, kwargs) for every chart of one source, per image where it takes one."""
    images = list(inv.tagged["image_id"])
    blobs = audit.blobs if audit is not None else None
    charts = [
        ("size_kinds", (10, 4), plots.size_kinds, (inv,), {"compressed": blobs}),
        ("file_sizes", (9, 3.5), plots.file_sizes, (inv,), {}),
        ("image_waste", (10, 4), plots.image_waste, (inv,), {}),
        ("sharing_matrix", (11, 4.5), plots.sharing_matrix, (inv,), {}),
        ("dedup_ratios", (8, 4), plots.dedup_ratios, (inv,), {}),
        ("copy_ups", (10, 4), plots.copy_ups, (inv,), {}),
    ]
    for c in inv.containers["name"]:
        charts.append((f"copy_ups[{c}]", (10, 4), plots.copy_ups, (inv, c), {}))
    for i in images:
        charts += [
            (f"treemap[{i[7:19]}]", (10, 5), plots.treemap, (inv, i), {}),
            (f"layer_sizes[{i[7:19]}]", (10, 4), plots.layer_sizes, (inv, i), {}),
            (f"bloat_categories[{i[7:19]}]", (10, 4), plots.bloat_categories, (inv, i), {}),
            (f"package_bars[{i[7:19]}]", (10, 5), plots.package_bars, (inv, i), {}),
            (f"size_kinds[{i[7:19]}]", (10, 4), plots.size_kinds, (inv, i), {"compressed": blobs}),
            (f"file_sizes[{i[7:19]}]", (9, 3.5), plots.file_sizes, (inv, i), {}),
        ]
    for a, b in zip(images, images[1:]):
        charts.append((f"image_diff[{a[7:19]}→{b[7:19]}]", (9, 4), plots.image_diff, (inv, a, b), {}))
    return charts


#: Charts drawn from something other than one source's Inventory, tested once each below.
ONCE = {"driver_footprint", "registry_sharing", "compressed_sizes"}


def test_every_public_chart_is_covered():
    """A new chart in layerlab.plots joins this test (or says why not in ONCE)."""
    covered = {name.split("[")[0] for name, *_ in _sample_charts(ll.sample(), None)} | ONCE
    public = {n for n in plots.__all__ if inspect.isfunction(getattr(plots, n))}
    assert public <= covered, public - covered
    assert {n for n in dir(driver_plots) if inspect.isfunction(getattr(driver_plots, n)) and not n.startswith("_")
            and getattr(driver_plots, n).__module__ == driver_plots.__name__} <= {"layer_footprint", "write_costs",
                                                                              "model_agreement", "store_copies"}


@pytest.mark.parametrize("driver", DRIVERS)
def test_charts_of_each_sample_have_no_overlapping_text_or_legend(driver, audit):
    inv = ll.sample(driver)
    problems = {}
    for name, figsize, fn, args, kwargs in _sample_charts(inv, audit):
        found = _draw(figsize, fn, *args, **kwargs)
        if found:
            problems[name] = found
    assert not problems, "\n".join(f"{driver} {name}: " + "; ".join(dict.fromkeys(p)) for name, p in problems.items())


def test_charts_across_samples_have_no_overlapping_text_or_legend(audit, measured):
    m, cmp = measured
    problems = {}
    for name, figsize, fn, args in [
        ("driver_footprint", (8, 4), plots.driver_footprint,
         ({d: ll.sample(d) for d in ("overlay2", "vfs", "btrfs")},)),
        ("registry_sharing", (10, 4), plots.registry_sharing, (audit.blobs if audit is not None else None,)),
        ("layer_footprint", (11, 4.5), driver_plots.layer_footprint, (m,)),
        ("write_costs", (11, 4.5), driver_plots.write_costs, (cmp,)),
        ("model_agreement", (5.5, 5), driver_plots.model_agreement, (cmp,)),
        ("store_copies", (8, 4.5), driver_plots.store_copies, (measurements.containerd_sample(),)),
    ]:
        found = _draw(figsize, fn, *args)
        if found:
            problems[name] = found
    assert not problems, "\n".join(f"{name}: " + "; ".join(dict.fromkeys(p)) for name, p in problems.items())


def test_the_layout_check_finds_overlaps():
    """The check on a chart made to fail it: two labels on one spot, a legend over the bars."""
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar([0, 1, 2], [5, 5, 5], label="bars")
    ax.annotate("one label", (1, 2.5))
    ax.annotate("one label too", (1, 2.5))
    ax.legend(loc="center")
    ax.set_xticks([0, 1, 2], ["a long rotated label", "another long rotated label", "a third long one"], rotation=35,
                  ha="right")
    ax.set_title("a title")
    ax.annotate("over the title", (0.5, 1.0), xycoords="axes fraction", xytext=(0, 8), textcoords="offset points",
                ha="center")
    for text in ("rotated one", "rotated two"):
        ax.text(2, 4, text, rotation=35)
    found = " / ".join(layout_problems(fig))
    plt.close(fig)
    assert "texts overlap: 'one label' and 'one label too'" in found
    assert "legend covers data: bar" in found
    assert "legend covers text 'one label" in found
    assert "annotation over a bar: 'one label'" in found
    assert "'over the title'" in found and "texts overlap: 'rotated one' and 'rotated two'" in found
    assert "rotated label" not in found, "rotated labels side by side do not overlap"


def test_fleet_charts_have_no_overlapping_text_or_legend(tmp_path):
    """The fleet charts on a demo fleet cut from the bundled samples, drawn as notebook 07 draws them."""
    from layerlab.fleet.demo import demo_fleet
    from layerlab.plots import fleet as fleet_plots

    with ll.fleet(demo_fleet(6, out=tmp_path / "fleet", days=3)) as f:
        summary = f.summary()
        by_date = f.trend(by="date")
        per_host = f.per_host()
        images = f.images_across()
        top = f.top_images(15)
        listed = f.compute(f.images[~f.images["intermediate"]][["host", "image_id"]])[0]
    problems = {}
    for name, figsize, fn, args, kwargs in [
        ("stored_vs_distinct", (7, 3.5), fleet_plots.stored_vs_distinct, (summary,), {}),
        ("host_distribution", (5.5, 3.5), fleet_plots.host_distribution, (per_host, "physical_size"), {}),
        ("top_images", (9, 0.35 * min(15, len(images)) + 1.5), fleet_plots.top_images, (top,), {}),
        ("hosts_images", (11, 0.3 * min(15, len(images)) + 2), fleet_plots.hosts_images, (listed, images), {"n": 15}),
        ("growth", (9, 3.5), fleet_plots.growth, (by_date,), {}),
    ]:
        found = _draw(figsize, fn, *args, **kwargs)
        if found:
            problems[name] = found
    public = {n for n in dir(fleet_plots) if inspect.isfunction(getattr(fleet_plots, n)) and not n.startswith("_")
              and getattr(fleet_plots, n).__module__ == fleet_plots.__name__}
    assert public <= {"stored_vs_distinct", "host_distribution", "top_images", "hosts_images", "growth"}, public
    assert not problems, "\n".join(f"{name}: " + "; ".join(dict.fromkeys(p)) for name, p in problems.items())


def test_charts_of_a_host_scale(host):
    """A host's store (tests/harness/host.py: 305 images, one 40 MB image beside 100 kB ones, 61
    layers in one image): every chart laid out without overlaps, and each one that must scale does."""
    from layerlab.plots._util import label_room

    path, made = host
    inv = ll.open_source(path)
    big, layered = made["big"], made["many_layers"]
    problems = {}
    for name, figsize, fn, args in [
        ("image_waste", (10, 5), plots.image_waste, (inv,)),
        ("sharing_matrix", (11, 4.5), plots.sharing_matrix, (inv,)),
        ("size_kinds", (10, 4), plots.size_kinds, (inv,)),
        ("file_sizes", (9, 3.5), plots.file_sizes, (inv,)),
        ("dedup_ratios", (8, 4), plots.dedup_ratios, (inv,)),
        ("layer_sizes[layered]", (10, 4), plots.layer_sizes, (inv, layered)),
        ("layer_sizes[big]", (10, 4), plots.layer_sizes, (inv, made["versions"][1])),
        ("bloat_categories[big]", (10, 4), plots.bloat_categories, (inv, big)),
        ("treemap[big]", (10, 5), plots.treemap, (inv, big)),
        ("size_kinds[layered]", (10, 4), plots.size_kinds, (inv, layered)),
        ("image_diff[versions]", (9, 4), plots.image_diff, (inv, *made["versions"])),
    ]:
        found = _draw(figsize, fn, *args)
        if found:
            problems[name] = found
    assert not problems, "\n".join(f"host {name}: " + "; ".join(dict.fromkeys(p)) for name, p in problems.items())

    listed = len(inv.listed)
    fig, ax = plt.subplots(figsize=(10, 5))
    plots.image_waste(inv, ax=ax)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    # The top 15 sorted by what they could free, the rest summed; a log axis, since one image dwarfs the rest.
    assert len(labels) == 16 and labels[-1] == f"{listed - 15} more images"
    assert ax.get_xscale() == "log" and f"in {listed} images" in ax.get_title()
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(10, 4))
    plots.layer_sizes(inv, layered, highlight=30, ax=ax)
    labelled = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    n = len(inv.chain(inv.image_id(layered)))
    assert n > 50 and len(labelled) <= label_room(ax, "y", 8) < n
    assert f"({len(labelled)} of {n} labelled)" in ax.get_ylabel()
    assert any(t.startswith("30: ") for t in labelled)  # the highlighted layer keeps its label
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(11, 4.5))
    plots.sharing_matrix(inv, ax=ax)
    # Colours on a log scale (a 25 MB layer beside 2 kB ones), and unused cells still blank.
    assert "log scale" in fig.axes[-1].get_ylabel()
    data = ax.images[0].get_array()
    assert data.mask.sum() > data.size / 2
    plt.close(fig)


def test_a_copy_up_of_a_few_bytes_is_not_drawn_full_width(sample):
    fig, ax = plt.subplots(figsize=(10, 4))
    ups = ll.analyses.copy_ups(sample, "ll-exited")
    plots.copy_ups(sample, "ll-exited", data=ups.assign(bytes=ups["bytes"].clip(upper=2)), ax=ax)
    widest = max(p.get_width() for p in ax.patches)
    assert widest <= 2 and ax.get_xlim()[1] >= 1000
    plt.close(fig)
