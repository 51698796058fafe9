"""Release cost and the pull model, on successive builds a real dockerd pushed to a real registry.
skopeo is the peer for every manifest figure (the blobs each tag's manifest lists, their sizes, and
each image's creation time)."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from registry_support import skopeo_json
from layerlab.analyses.pullcost import (RELEASE_JSON_KEYS, parse_bandwidth, pull_cost, release_cost,
                                        simulate_pull)
from layerlab.errors import ArgumentError, ImageNotFound

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def releases(daemon, live, tmp_path_factory):
    from harness.releases import push_releases

    reg, _ = live
    return push_releases(daemon, reg, tmp_path_factory.mktemp("releases"))


def skopeo_layers(ref: str) -> list[tuple[str, int]]:
    raw = skopeo_json("--tls-verify=false", "--raw", f"docker://{ref}")
    return [(layer["digest"], layer["size"]) for layer in raw["layers"]]


def test_release_cost_equals_the_digests(releases, client):
    repo = releases["repository"]
    frame = release_cost(repo, client)
    created = {t: skopeo_json("--tls-verify=false", f"docker://{repo}:{t}")["Created"] for t in releases["tags"]}
    # the release order is the images' creation time, not the tags' names
    assert list(frame["tag"]) == sorted(releases["tags"], key=lambda t: created[t])
    assert list(frame["tag"]) == releases["tags"]
    previous: list[tuple[str, int]] = []
    for row in frame.itertuples(index=False):
        layers = skopeo_layers(f"{repo}:{row.tag}")
        had = {d for d, _ in previous}
        assert row.new_bytes == sum(s for d, s in layers if d not in had)
        assert row.new_layers == len([d for d, _ in layers if d not in had])
        first = next(p for p, (d, _) in enumerate(layers) if p >= len(previous) or previous[p][0] != d)
        assert row.first_changed_position == first
        assert row.reship_bytes == sum(s for _, s in layers[first:])
        previous = layers
    by_tag = frame.set_index("tag")
    # what each release changed shows where the first changed layer is and which line made it
    assert by_tag.loc["z-initial", "first_changed_position"] == 0
    assert "COPY" in by_tag.loc["b-source", "created_by"] and "src" in by_tag.loc["b-source", "created_by"]
    assert "deps.txt" in by_tag.loc["y-deps", "created_by"]
    assert by_tag.loc["a-base", "first_changed_position"] == 1  # base:2 adds a layer over base:1
    assert "base-release" in by_tag.loc["a-base", "created_by"]
    # a source change ships one small layer; the dependency change ships the dependencies again
    assert by_tag.loc["b-source", "new_layers"] == 1
    assert by_tag.loc["y-deps", "new_bytes"] > 3 * 256 * 1024
    # the base change keeps the blob of `COPY deps.txt` (same file), over a new base: a blob containerd
    # has, on a chain dockerd has not
    assert by_tag.loc["a-base", "new_bytes"] < by_tag.loc["a-base", "reship_bytes"]


def test_churn_cli_json_is_the_stable_interface(releases, tmp_path):
    from layerlab.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["registry", "churn", releases["repository"], "--json", "--cache-dir", str(tmp_path),
                     "--docker-config", str(tmp_path / "none.json")]) == 0
    data = json.loads(out.getvalue())
    assert set(data) == {"repository", "tags"}
    assert data["repository"] == releases["repository"]
    assert [t["tag"] for t in data["tags"]] == releases["tags"]
    for t in data["tags"]:
        assert tuple(t) == RELEASE_JSON_KEYS
        assert type(t["new_bytes"]) is int and type(t["new_layers"]) is int
        peer = skopeo_json("--tls-verify=false", f"docker://{releases['repository']}:{t['tag']}")
        assert t["digest"] == peer["Digest"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["registry", "churn", releases["repository"], "--json", "--hosts", "40", "--cache-dir",
                     str(tmp_path)]) == 0
    fleet = json.loads(out.getvalue())
    assert [t["fleet_bytes"] for t in fleet["tags"]] == [40 * t["new_bytes"] for t in data["tags"]]


def test_churn_of_an_index_takes_the_platform_a_pull_takes(live, client):
    reg, refs = live
    repo = refs["multi"].rsplit(":", 1)[0]
    arm = release_cost(repo, client, platform="linux/arm64", tags=["1"]).iloc[0]
    assert arm["platform"] == "linux/arm64"
    raw = skopeo_json("--tls-verify=false", "--raw", f"docker://{refs['multi']}")
    child = next(m for m in raw["manifests"] if m["platform"]["architecture"] == "arm64")
    assert arm["new_bytes"] == sum(s for _, s in skopeo_layers(f"{repo}@{child['digest']}"))
    with pytest.raises(ImageNotFound, match="no image for platform linux/s390x.*linux/amd64"):
        release_cost(repo, client, platform="linux/s390x", tags=["1"])
    with pytest.raises(ImageNotFound, match="no-such-tag"):
        release_cost(repo, client, tags=["no-such-tag"])


def test_pull_cost_skips_what_the_host_has(releases, client):
    repo = releases["repository"]
    speeds = {"gzip": 1e8, "zstd": 1e8}
    fresh = pull_cost(f"{repo}:y-deps", client=client, bandwidth="100Mbit", latency=0, speeds=speeds)
    layers = skopeo_layers(f"{repo}:y-deps")
    assert fresh.bytes["dockerd"] == sum(s for _, s in layers)
    upgrade = pull_cost(f"{repo}:y-deps", have=f"{repo}:b-source", client=client, bandwidth="100Mbit", latency=0,
                        speeds={"gzip": 1e8, "zstd": 1e8})
    step = release_cost(repo, client, tags=["b-source", "y-deps"]).iloc[1]
    assert upgrade.bytes["dockerd"] == step["reship_bytes"]
    assert upgrade.bytes["containerd"] == step["new_bytes"]
    d = upgrade.layers[upgrade.layers["engine"] == "dockerd"]
    assert not d["fetched"].iloc[:step["first_changed_position"]].any()
    assert d["fetched"].iloc[step["first_changed_position"]:].all()
    # unpacks run one after another in layer order, each after its own download
    unpacked = d[d["unpacked"]]
    assert (unpacked["unpack_start"] >= unpacked["download_end"]).all()
    assert (unpacked["unpack_start"].iloc[1:].to_numpy() >= unpacked["unpack_end"].iloc[:-1].to_numpy()).all()
    assert upgrade.total["dockerd"] < fresh.total["dockerd"]
    # over a new base, containerd skips the blob it holds (it still unpacks it: the snapshot is new)
    rebase = pull_cost(f"{repo}:a-base", have=f"{repo}:y-deps", client=client, latency=0, speeds=speeds)
    step = release_cost(repo, client, tags=["y-deps", "a-base"]).iloc[1]
    assert rebase.differs()
    assert rebase.bytes["dockerd"] == step["reship_bytes"] > rebase.bytes["containerd"] == step["new_bytes"]
    c = rebase.layers[rebase.layers["engine"] == "containerd"]
    assert (c["unpacked"] & ~c["fetched"]).any()


def test_simulated_downloads_share_the_link():
    speeds = {"gzip": 1e9}
    one = [{"size": 1_000_000, "uncompressed": 2_000_000, "compression": "gzip", "fetch": True, "unpack": True}]
    t = simulate_pull(one, bandwidth=1e6, concurrency=3, latency=0.5, speeds=speeds)[0]
    assert t["download_end"] == pytest.approx(1.5)
    assert t["unpack_end"] == pytest.approx(1.502)
    two = one * 2
    both = simulate_pull(two, bandwidth=1e6, concurrency=2, latency=0, speeds=speeds)
    assert [x["download_end"] for x in both] == pytest.approx([2.0, 2.0])  # each at half the link
    serial = simulate_pull(two, bandwidth=1e6, concurrency=1, latency=0.1, speeds=speeds)
    assert [x["download_end"] for x in serial] == pytest.approx([1.1, 2.2])
    assert serial[1]["unpack_start"] == pytest.approx(2.2)


def test_bandwidth_is_parsed_or_refused():
    assert parse_bandwidth("100Mbit") == 12_500_000
    assert parse_bandwidth("1Gbit") == 125_000_000
    assert parse_bandwidth("12.5MB/s") == 12_500_000
    assert parse_bandwidth("10MiB/s") == 10 * 1024 * 1024
    with pytest.raises(ArgumentError, match="not a rate"):
        parse_bandwidth("fast")


def test_pull_cost_onto_a_data_root_and_the_cli(releases, daemon, client, tmp_path):
    from layerlab.cli import main

    repo = releases["repository"]
    # the daemon that built the releases holds every layer: nothing to fetch, nothing to unpack
    here = pull_cost(str(daemon.data_root), f"{repo}:a-base", client=client, latency=0, speeds={"gzip": 1e8})
    assert here.bytes == {"dockerd": 0, "containerd": 0}
    assert not here.layers["unpacked"].any()
    # an image the store holds, named as the store names it: pulled by its repo digest
    by_name = pull_cost(str(daemon.data_root), f"{repo}:b-source", client=client, latency=0, speeds={"gzip": 1e8})
    assert by_name.reference.split("@")[1] == skopeo_json("--tls-verify=false", f"docker://{repo}:b-source")["Digest"]
    assert by_name.bytes["dockerd"] == 0
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["pull-cost", f"{repo}:a-base", "--have", f"{repo}:y-deps", "--bandwidth", "40Mbit",
                     "--concurrency", "1", "--latency", "0", "--json", "--cache-dir", str(tmp_path)]) == 0
    data = json.loads(out.getvalue())
    step = release_cost(repo, client, tags=["y-deps", "a-base"]).iloc[1]
    assert data["engines"]["dockerd"]["bytes_fetched"] == step["reship_bytes"]
    assert data["inputs"]["bandwidth_bytes_per_second"] == 5e6 and data["inputs"]["concurrency"] == 1
    fetched = [layer for layer in data["engines"]["dockerd"]["layers"] if layer["fetched"]]
    # one download at a time, in layer order
    assert all(b["download_start"] >= a["download_end"] - 1e-9 for a, b in zip(fetched, fetched[1:]))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        assert main(["pull-cost", f"{repo}:no-such-tag", "--cache-dir", str(tmp_path)]) == 2
    assert "no-such-tag" in err.getvalue()


def test_what_if_reordered_predicts_the_real_reordering(daemon, live, releases, client, tmp_path_factory):
    """what_if on the source-first image against real releases of both orderings."""
    from harness.releases import push_orderings

    from layerlab.analyses.pullcost import what_if

    reg, _ = live
    repos = push_orderings(daemon, reg, tmp_path_factory.mktemp("orderings"), base=releases["base"][0])
    bad = release_cost(repos["source-first"], client).iloc[1]
    good = release_cost(repos["deps-first"], client).iloc[1]
    # each source change re-ships the dependencies in the first ordering, only the source in the second
    assert bad["first_changed_position"] == 1 and good["first_changed_position"] == 2
    cost = pull_cost(f"{repos['source-first']}:2", client=client, latency=0, speeds={"gzip": 1e8})
    table = what_if(cost).set_index("variant")
    layers = skopeo_layers(f"{repos['source-first']}:2")
    assert table.loc["as is", "release_bytes"] == bad["new_bytes"] == sum(s for _, s in layers[1:])
    assert table.loc["reordered", "release_bytes"] == layers[1][1]
    assert table.loc["reordered", "release_bytes"] == pytest.approx(good["new_bytes"], rel=0.1)
    assert good["new_bytes"] < bad["new_bytes"] / 4
    from layerlab.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["pull-cost", f"{repos['source-first']}:2", "--what-if", "--json", "--latency", "0"]) == 0
    rows = {r["variant"]: r for r in json.loads(out.getvalue())["what_if"]}
    assert rows["reordered"]["release_bytes"] == layers[1][1] and type(rows["as is"]["pull_bytes"]) is int
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["pull-cost", f"{repos['source-first']}:2", "--what-if", "--latency", "0"]) == 0
    assert "reordered" in out.getvalue() and "squashed" in out.getvalue()
