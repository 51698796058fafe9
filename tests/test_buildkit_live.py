"""Live tier: images built by BuildKit and by the classic builder from the same Dockerfiles, on one
real daemon (harness/buildkit.py), read as docker and dive see them.

BuildKit's layers carry cache IDs of its own (25 base-36 characters); a reader that took only the
layer store's 64-hex IDs skipped them, and with them the user's images.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest
from harness.buildkit import BUILDKIT_CACHE_ID, buildkit_missing, build_both
from harness.daemon import Daemon, dockerd_missing
from harness.tiers import missing, require

import layerlab as ll
from layerlab.analyses import dive_analysis, efficiency, merged_view
from layerlab.analyses.summary import summary_dict
from layerlab.cli import main
from layerlab.sources.docker.layouts import DRIVERS

pytestmark = pytest.mark.live


@pytest.fixture(scope="module", params=["overlay2", "vfs"])
def built(tmp_path_factory, request):
    require(dockerd_missing() or buildkit_missing())
    with Daemon(tmp_path_factory.mktemp(f"buildkit-{request.param}") / "d", driver=request.param) as daemon:
        yield daemon, build_both(daemon)


@pytest.fixture(scope="module")
def inv(built):
    daemon, _ = built
    return ll.open_root(str(daemon.data_root), progress=False)


def _ids(daemon, *args) -> list[str]:
    return daemon.docker("images", "--no-trunc", "-q", *args).stdout.split()


def _cli_json(capsys, *args):
    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return code, (json.loads(out.out) if out.out.strip() else None), out.err


def test_buildkit_layers_have_cache_ids_of_their_own_and_none_is_skipped(built, inv):
    daemon, images = built
    layers = inv.layers[inv.layers["kind"] == "image"]
    buildkit = layers[layers["cache_id"].str.fullmatch(BUILDKIT_CACHE_ID.pattern)]
    assert len(buildkit) >= 5, "BuildKit registered its layers under its own IDs (the premise of this test)"
    # every layer of the layer store is read, whatever its cache ID's form
    on_disk = {p.name for p in (daemon.data_root / f"image/{daemon.driver}/layerdb/sha256").iterdir()
               if len(p.name) == 64}
    assert set(layers["layer_id"]) == {"sha256:" + n for n in on_disk}
    assert (inv.files["layer_id"].isin(buildkit["layer_id"])).any()
    assert inv.skipped.empty, inv.skipped.to_dict("records")
    for (name, builder), image_id in images["images"].items():
        assert image_id in set(inv.images["image_id"]), (name, builder)


def test_every_image_docker_lists_is_in_the_frames_summary_and_check(built, inv, capsys):
    daemon, images = built
    all_ids, listed = set(_ids(daemon, "-a")), set(_ids(daemon))
    assert set(inv.images["image_id"]) == all_ids
    assert set(inv.listed["image_id"]) == listed
    code, data, err = _cli_json(capsys, "summary", str(daemon.data_root), "--json")
    assert code == 0, err
    assert {i["image_id"] for i in data["images"]} == listed
    assert data["totals"]["all_images"] == len(all_ids) and data["totals"]["images"] == len(listed)
    assert data["skipped"] == []
    # check takes every image by its tag, and an untagged one (classic intermediates) by its ID
    by_ref = dict(images["refs"].items())
    for (name, builder), ref in by_ref.items():
        code, result, err = _cli_json(capsys, "check", str(daemon.data_root), ref, "--json")
        assert code in (0, 1) and result["image_id"] == images["images"][name, builder], (ref, err)
    untagged = sorted(all_ids - set(inv.tagged["image_id"]))
    assert untagged, "the classic builder leaves intermediate images"
    code, result, err = _cli_json(capsys, "check", str(daemon.data_root), untagged[0][7:19], "--json")
    assert code in (0, 1) and result["image_id"] == untagged[0], err


def test_sizes_equal_docker_image_inspect_and_system_df(built, inv):
    daemon, _ = built
    ours = inv.images.set_index("image_id")
    for image_id in _ids(daemon, "-a"):
        assert ours.loc[image_id, "size"] == daemon.docker_json("image", "inspect", image_id)[0]["Size"], image_id
    df = daemon.api("/system/df")
    assert {i["Id"] for i in df["Images"]} == set(inv.listed["image_id"])
    for image in df["Images"]:
        row = ours.loc[image["Id"]]
        assert (row["size"], row["shared_size"], row["unique_size"]) == (
            image["Size"], image["SharedSize"], image["Size"] - image["SharedSize"]), image["RepoTags"]
    layers = summary_dict(inv)["totals"]
    assert layers["images"] == len(df["Images"])


def test_history_equals_docker_history(built, inv):
    daemon, images = built
    for (name, builder), image_id in images["images"].items():
        docker = daemon.api(f"/images/{image_id}/history")[::-1]  # docker lists newest first
        ours = inv.history[inv.history["image_id"] == image_id].sort_values("index")
        assert list(ours["created_by"].fillna("")) == [h["CreatedBy"] for h in docker], (name, builder)
        layers = inv.image_layers[inv.image_layers["image_id"] == image_id].set_index("position")["size"]
        sizes = [0 if empty else int(layers[pos]) for empty, pos in zip(ours["empty_layer"], ours["position"])]
        assert sizes == [h["Size"] for h in docker], (name, builder)


def test_dive_figures_equal_dive_json(built, inv, tmp_path):
    daemon, images = built
    require(missing(programs=("dive",)))
    eff = efficiency(inv)
    assert set(eff["image_id"]) == set(inv.listed["image_id"]) >= set(images["images"].values())
    for r in eff.itertuples(index=False):
        out = tmp_path / f"{r.image_id[7:19]}.json"
        subprocess.run(["dive", "--json", str(out), r.image_id[7:]], env=daemon.env, check=True, capture_output=True,
                       timeout=300)
        dive = json.loads(out.read_text())["image"]
        assert r.dive_efficiency == pytest.approx(dive["efficiencyScore"], rel=1e-12, abs=0), r.tags
        assert (r.dive_wasted_bytes, r.dive_size_bytes) == (dive["inefficientBytes"], dive["sizeBytes"]), r.tags
        theirs = sorted((f["file"], f["count"], f["sizeBytes"]) for f in dive["fileReference"])
        table = dive_analysis(inv, r.image_id)
        assert sorted(zip(table["path"], table["count"].astype(int), table["size_bytes"].astype(int))) == theirs, r.tags


def test_the_same_content_gives_the_same_waste_under_both_builders(built, inv):
    _, images = built
    eff = efficiency(inv).set_index("image_id")
    sizes = inv.images.set_index("image_id")["size"]
    pairs = [(name, images["images"][name, "buildkit"], images["images"][name, "classic"])
             for name, builder in images["images"] if builder == "classic"]
    assert len(pairs) >= 2
    for name, bk, classic in pairs:
        assert bk != classic, name  # built differently (history, cache IDs), so different images
        a, b = eff.loc[bk], eff.loc[classic]
        assert a["dive_wasted_bytes"] > 0, name  # every Dockerfile here overwrites or deletes
        assert (a["dive_wasted_bytes"], a["dive_efficiency"], a["dive_size_bytes"]) == (
            b["dive_wasted_bytes"], b["dive_efficiency"], b["dive_size_bytes"]), name
        assert sizes[bk] == sizes[classic], name
        # the same files in the end (each builder's layers list parent folders its own way)
        ours, theirs = merged_view(inv, bk), merged_view(inv, classic)
        assert sorted(zip(ours["path"], ours["kind"], ours["size"])) == sorted(zip(theirs["path"], theirs["kind"],
            theirs["size"])), name
    mount = images["images"]["cache-mount", "buildkit"]
    files = set(inv.image_files(mount)["path"])
    assert "/kept.bin" in files and "/cache/warm.bin" not in files  # the cache mount is in no layer


def _layer_of(inv, image_id, position=-1):
    chain = inv.chain(image_id)
    return inv.layers.set_index("layer_id").loc[chain[position]], chain[position]


def test_summary_json_lists_what_a_damaged_copy_skipped(built, inv, tmp_path, capsys):
    """A copy of the root (never the daemon's own) with one BuildKit layer's cache-id made to climb
    out, and another image's top layer record removed."""
    daemon, images = built
    copy = tmp_path / "root"
    # cp -a keeps what copytree cannot: whiteouts (0/0 character devices) and trusted.* xattrs
    subprocess.run(["cp", "-a", str(daemon.data_root), str(copy)], check=True)
    layerdb = copy / f"image/{daemon.driver}/layerdb/sha256"
    climbing, climbing_id = _layer_of(inv, images["images"]["overwrite", "buildkit"])
    assert BUILDKIT_CACHE_ID.fullmatch(climbing["cache_id"])
    (layerdb / climbing_id[7:] / "cache-id").write_text("../x")
    # where the climbing ID leads (overlay2: <root>/x, vfs: <root>/vfs/x), with a marker to never see
    lead = Path(os.path.normpath(DRIVERS[daemon.driver].layer_dir(str(copy), "../x")))
    for folder in (lead, lead / "diff"):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "NOT-IN-ANY-LAYER").write_text("outside the driver's folder")
    _, gone_id = _layer_of(inv, images["images"]["multi", "buildkit"])
    shutil.rmtree(layerdb / gone_id[7:])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code, data, err = _cli_json(capsys, "summary", str(copy), "--json")
    assert code == 0, err
    skipped = {(s["kind"], s["id"]): s for s in data["skipped"]}
    overwrite, multi = images["images"]["overwrite", "buildkit"], images["images"]["multi", "buildkit"]
    assert set(skipped) == {("layer", climbing_id), ("image", overwrite), ("image", multi)}
    layer = skipped["layer", climbing_id]
    assert "'../x'" in layer["reason"] and "cache-id" in layer["reason"] and layer["path"].endswith("cache-id")
    bad = skipped["image", overwrite]
    assert bad["names"] == ["layerlab/bk-overwrite:buildkit"]
    assert climbing_id[:19] in bad["reason"] and "could not be read" in bad["reason"]
    assert "not in the layer store" not in bad["reason"]  # it is there; it was refused
    absent = skipped["image", multi]
    assert absent["names"] == ["layerlab/bk-multi:buildkit"] and "not in the layer store" in absent["reason"]
    listed = {i["image_id"] for i in data["images"]}
    assert listed == set(inv.listed["image_id"]) - {overwrite, multi}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        capsys.readouterr()
        assert main(["summary", str(copy)]) == 0
    err = capsys.readouterr().err  # said once per kind on stderr, each with --verbose
    assert "1 layer skipped: " in err and "2 images skipped: " in err and "UserWarning" not in err, err

    copied = ll.open_root(str(copy), progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert not copied.files["path"].str.contains("NOT-IN-ANY-LAYER").any()
    # an image not found by a name a skipped image carries says it was skipped, and why
    code, _, err = _cli_json(capsys, "check", str(copy), "layerlab/bk-overwrite:buildkit")
    assert code == 2 and "skipped" in err and climbing_id[:19] in err and "layerlab/bk-overwrite:buildkit" in err, err
    with pytest.raises(ll.LayerlabError, match="skipped"):
        copied.image_id(multi[7:19])
    with pytest.raises(ll.LayerlabError, match="tags here include"):  # a name nothing carries: the usual error
        copied.image_id("layerlab/never-built:1")
    # the names survive a snapshot
    snap = ll.load(copied.save(tmp_path / "s.layerlab"))
    with pytest.raises(ll.LayerlabError, match="was skipped"):
        snap.image_id("layerlab/bk-multi:buildkit")
