"""The pull model offline, on the bundled sample and its registry capture: what-if variants, another
link, the timeline chart, the widget's sliders, and the inflate speeds measured once and cached."""

from __future__ import annotations

import json

import matplotlib
import pytest

matplotlib.use("Agg")

import layerlab as ll  # noqa: E402
from layerlab import reports  # noqa: E402
from layerlab.analyses.pullcost import inflate_speeds, local_pull_cost, what_if  # noqa: E402

SPEEDS = {"gzip": 50e6, "zstd": 300e6}


@pytest.fixture(scope="module")
def cost():
    audit = reports.audit_or_none(None)
    if audit is None:
        pytest.skip("the sample's registry capture is not in this checkout")
    inv = ll.sample()
    return inv, audit, local_pull_cost(inv, "layerlab/app:1", audit.blobs, bandwidth="40Mbit", speeds=SPEEDS)


def test_sizes_are_the_registry_blobs(cost):
    _, audit, c = cost
    blobs = dict(zip(audit.blobs["digest"], audit.blobs["size"]))
    d = c.layers[c.layers["engine"] == "dockerd"]
    assert list(d["size"]) == [blobs[x] for x in d["digest"]]
    assert c.bytes["dockerd"] == sum(blobs[x] for x in d["digest"])


def test_what_if_variants(cost):
    _, _, c = cost
    sizes = list(c.layers[c.layers["engine"] == "dockerd"].sort_values("position")["size"])
    commands = list(c.layers[c.layers["engine"] == "dockerd"].sort_values("position")["created_by"])
    table = what_if(c).set_index("variant")
    changes = 1  # the sample's COPY into /data/ has RUN lines above it
    assert "COPY" in commands[changes]
    assert table.loc["as is", "release_bytes"] == sum(sizes[changes:])
    assert table.loc["reordered", "release_bytes"] == sizes[changes]
    assert table.loc["squashed", "pull_bytes"] == sum(sizes) == table.loc["squashed", "release_bytes"]
    hidden = {3: 0, 2: 1 << 20}
    lean = what_if(c, changes=4, reclaimable=hidden).set_index("variant")
    assert lean.loc["as is", "release_bytes"] == sum(sizes[4:])
    assert lean.loc["debloated", "pull_bytes"] < lean.loc["as is", "pull_bytes"]


def test_another_link(cost):
    _, _, c = cost
    fast = c.with_link("1Gbit")
    assert fast.total["dockerd"] < c.total["dockerd"]
    one = c.with_link(concurrency=1).layers
    one = one[(one["engine"] == "dockerd") & one["fetched"]].sort_values("position")
    assert (one["download_start"].iloc[1:].to_numpy() >= one["download_end"].iloc[:-1].to_numpy() - 1e-9).all()


def test_timeline_chart(cost):
    import matplotlib.pyplot as plt

    from layerlab.plots.pullcost import pull_timeline

    _, _, c = cost
    fig, ax = plt.subplots()
    pull_timeline(c, ax=ax)
    d = c.layers[c.layers["engine"] == "dockerd"]
    assert len(ax.collections) == int(d["fetched"].sum() + d["unpacked"].sum())
    assert f"{c.total['dockerd']:.2f} s" in ax.get_title()
    plt.close(fig)


def test_widget_sliders_rerun_the_model(cost):
    from layerlab.widgets.pullcost import PullCostExplorer

    _, _, c = cost
    w = PullCostExplorer(c)
    before = w._summary.value
    w._mbit.value = 1000.0
    assert w._summary.value != before
    assert f"{c.with_link('1000Mbit').total['dockerd']:.2f} s" in w._summary.value
    assert "reordered" in w.snapshot().html


def test_inflate_speeds_are_measured_once(tmp_path):
    path = tmp_path / "speeds.json"
    first = inflate_speeds(path)
    assert first["gzip"] > 0 and first["zstd"] > 0
    stored = json.loads(path.read_text())
    assert stored["bytes_per_second"] == first
    stored["bytes_per_second"]["gzip"] = 1234.0
    path.write_text(json.dumps(stored))
    assert inflate_speeds(path)["gzip"] == 1234.0  # read from the cache, not measured again
