"""Offline tier (the bundled sample, no daemon): diff ranking and sizes, summary formats, honest totals and dangling
images on the bundled sample snapshots."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import warnings

import pytest

import layerlab as ll
from layerlab.display import human_bytes
from layerlab.analyses import diff_images, efficiency
from layerlab.analyses.diff.diff_rank import ranked, size_split
from layerlab.analyses.dive.totals import dangling, reclaimable_once
from layerlab.sources.sample import sample_path
from harness.images import APP, BLOAT
from harness.tiers import require


@pytest.fixture(scope="module")
def sample():
    require(None if sample_path("overlay2").exists() else f"the sample {sample_path('overlay2')} is missing")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield ll.sample("overlay2")


def _cli(*args):
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    p = subprocess.run([sys.executable, "-W", "ignore", "-m", "layerlab.cli", *args], capture_output=True, text=True,
                       env=env)
    assert p.returncode == 0, p.stderr
    return p.stdout


def _first_copy_of_bloat(inv) -> str:
    """The build step of layerlab/bloat:1 right after its first COPY (an intermediate image)."""
    il = inv.image_layers.sort_values("position")
    chains = {iid: list(g["layer_id"]) for iid, g in il.groupby("image_id")}
    want = chains[inv.image_id(BLOAT)][:2]
    return next(i for i, c in chains.items() if c == want)


def test_diff_added_removed_changed_ranked(sample):
    a = _first_copy_of_bloat(sample)
    d = diff_images(sample, a, APP, progress=False)
    assert set(d["status"]) == {"added", "removed", "changed"}
    # pandas 3: a column of strings and None keeps None (it crashed the CLI as NaN)
    assert all(c is None or isinstance(c, str) for c in d["changes"])
    r = ranked(d)
    # /data/big.bin: new content of the same size (not comparable without the data root) ranks first
    assert r.iloc[0]["path"] == "/data/big.bin" and r.iloc[0]["changes"].endswith("content?")
    assert list(r["bytes"]) == sorted(r["bytes"], reverse=True)
    split = size_split(sample, a, APP)
    images = sample.images.set_index("image_id")
    assert split["delta"] == images.loc[sample.image_id(APP), "size"] - images.loc[a, "size"]
    assert sum(layer["bytes"] for layer in split["layers"]) == split["delta"]
    assert {layer["in"] for layer in split["layers"]} == {"b"}


def test_diff_cli_text_and_json(sample):
    a = _first_copy_of_bloat(sample)
    data = json.loads(_cli("diff", "sample", a, APP, "--json"))
    assert {p["status"] for p in data["paths"]} == {"added", "removed", "changed"}
    assert data["ranked"][0]["path"] == "/data/big.bin"
    assert data["image_size"]["delta"] == sum(layer["bytes"] for layer in data["image_size"]["layers"])
    text = _cli("diff", "sample", a, APP)
    assert "image size: 3.3 MB -> 5.4 MB (+2.11 MB)" in text
    assert "RUN chmod 0600 /data/big.bin" in text
    rows = text[text.index("STATUS"):].splitlines()
    assert "/data/big.bin" in rows[1] and "/data/scratch.bin" in rows[2] and "262 kB" in rows[2]
    # names with control characters stay on their line
    tree = _cli("diff", "sample", "layerlab/base:1", "layerlab/tree:1", "--top", "100")
    assert "/srv/odd/new\\nline.txt" in tree


def test_diff_two_sources(sample):
    vfs = ll.sample("vfs")
    d = diff_images(sample, "layerlab/base:1", APP, source_b=vfs, progress=False)
    # the same busybox layer in both captures (chain IDs match): only what app:1 adds differs
    assert set(d["status"]) == {"added"} and "/data/big.bin" in set(d["path"])
    split = size_split(sample, "layerlab/base:1", APP, source_b=vfs)
    assert split["delta"] == int(vfs.images.set_index("image_id").loc[vfs.image_id(APP), "size"]) - int(
        sample.images.set_index("image_id").loc[sample.image_id("layerlab/base:1"), "size"])


def test_metadata_only_changes_are_grouped():
    import pandas as pd

    rows = [("/etc/ssl/certs/%d.pem" % i, "changed", "mtime", "file", "file", 100, 100, 0, False) for i in range(5)]
    rows += [("/var/cache/apt/pkgcache.bin", "changed", "mtime", "file", "file", 39_000, 39_000, 0, True),
             ("/usr/bin/new", "added", None, None, "file", 0, 10, 10, pd.NA)]
    d = pd.DataFrame(rows,
                     columns=["path", "status", "changes", "kind_a", "kind_b", "size_a", "size_b", "size_delta",
                              "content_changed"])
    d["content_changed"] = d["content_changed"].astype("boolean")
    d.loc[5, "changes"] = "content,mtime"
    r = ranked(d)
    assert list(r["path"]) == ["/var/cache/apt/pkgcache.bin", "/usr/bin/new", "/etc/ssl/certs"]
    assert r.iloc[2]["paths"] == 5 and r.iloc[2]["grouped"] and r.iloc[2]["changes"] == "mtime only"


def test_honest_totals_and_dangling_on_the_sample(sample):
    eff = efficiency(sample).set_index("image_id")
    app, bloat = sample.image_id(APP), sample.image_id(BLOAT)
    assert eff.loc[app, "reclaimable_bytes"] == eff.loc[bloat, "reclaimable_bytes"] > 0
    once = reclaimable_once(sample)
    assert once["reclaimable_bytes_sum_of_images"] == eff["reclaimable_bytes"].sum()
    # app:1 hides exactly bloat:1's hidden bytes, in bloat:1's layers: counted once
    assert once["reclaimable_bytes"] == eff["reclaimable_bytes"].sum() - eff.loc[app, "reclaimable_bytes"]
    d = dangling(sample)
    images = sample.images.set_index("image_id")
    for iid in d.loc[d["dangling"], "image_id"]:
        assert not images.loc[iid, "tags"] and images.loc[iid, "container_count"] == 0
        assert iid not in set(sample.images["parent"].dropna())
    assert d.attrs["prunable_bytes"] == d["prunable_bytes"].sum() > 0


def test_summary_formats(sample):
    data = json.loads(_cli("summary", "sample", "--json"))
    t = data["totals"]
    assert t["reclaimable_bytes"] < t["reclaimable_bytes_sum_of_images"] == sum(im["reclaimable_bytes"]
                                                                                for im in data["images"])
    assert t["prunable_bytes"] == sum(im["prunable_bytes"] for im in data["images"] if im["dangling"])
    table = _cli("summary", "sample", "--sort", "reclaimable", "--top", "2")
    lines = table.splitlines()
    lines = lines[next(i for i, line in enumerate(lines) if line.startswith("IMAGE")) - 1:]  # the source line may wrap
    assert lines[1].split()[:2] == ["IMAGE", "ID"] and "RECLAIM" in lines[1]
    assert {lines[2].split()[0], lines[3].split()[0]} == {APP, BLOAT} and "2.36 MB" in lines[2]
    assert "4 more images" in lines[4]
    assert f"reclaimable: {human_bytes(t['reclaimable_bytes'])}" in table
    assert f"add up to {human_bytes(t['reclaimable_bytes_sum_of_images'])}" in table and "docker image prune" in table
    # piped output fits 100 columns (issue 27), so the long registry name is cut in its middle; given
    # the width, it is whole
    piped = _cli("summary", "sample")
    assert "127.0.0.1:5000/overlay2/layerlab/multi:1 " not in piped and "layerlab/multi:1 " in piped
    assert max(len(line) for line in piped.splitlines()) <= 100
    env = {**os.environ, "COLUMNS": "200"}
    wide = subprocess.run([sys.executable, "-m", "layerlab.cli", "summary", "sample"], capture_output=True, text=True,
                          env=env, check=True).stdout
    assert "127.0.0.1:5000/overlay2/layerlab/multi:1 " in wide
    rows = list(csv.DictReader(io.StringIO(_cli("summary", "sample", "--format", "csv", "--sort", "name"))))
    assert len(rows) == len(data["images"]) and [r["name"] for r in rows] == sorted(r["name"] for r in rows)
    assert {int(r["reclaimable_bytes"]) for r in rows if r["name"] == APP} == {2_359_296}
    as_json = json.loads(_cli("summary", "sample", "--format", "json", "--top", "1", "--sort", "layers"))
    assert len(as_json["images"]) == 1 and as_json["images"][0]["layer_count"] == max(im["layer_count"]
        for im in data["images"])


@pytest.mark.parametrize("columns", [80, 100, 130])
def test_summary_fits_the_terminal(sample, columns):
    env = {**os.environ, "COLUMNS": str(columns)}
    out = subprocess.run([sys.executable, "-W", "ignore", "-m", "layerlab.cli", "summary", "sample"],
                         capture_output=True,
                         text=True, env=env, check=True).stdout.splitlines()
    start = next(i for i, line in enumerate(out) if line.startswith("IMAGE"))  # after the (wrapped) source line
    table = out[start:out.index("", start)]
    assert table[0].startswith("IMAGE") and "RECLAIM" in table[0]
    assert all(len(line) <= columns for line in table), max(table, key=len)
    multi = next(line for line in table if "multi:1" in line)
    # the registry host is cut from the middle, the tag kept; a wide terminal shows it whole
    full = "127.0.0.1:5000/overlay2/layerlab/multi:1"
    assert (full in multi) == (columns >= len(full) + 82)
