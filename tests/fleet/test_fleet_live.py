"""Fleet figures on a real Dask cluster equal the single-host code's figures summed over hosts."""

import json
import subprocess
import sys

import pandas as pd
import pytest

import layerlab as ll
from layerlab.analyses import waste
from layerlab.analyses.summary import summary_dict

from fleet_support import HOSTS

# A real Dask scheduler and workers, or moto's S3 server, on loopback: the live tier.
pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def paths(fleet_dir):
    # Folders of snapshots, a glob, and the bundled sample read in place (format 1, host "vm").
    return [str(fleet_dir / "hosts"), str(fleet_dir / "old" / "*.layerlab"), str(ll.sample_path("btrfs"))]


@pytest.fixture(scope="module")
def fleet(paths, dask_cluster):
    with ll.fleet(paths, client=dask_cluster.address) as f:
        yield f


@pytest.fixture(scope="module")
def singles(fleet_dir):
    """Each host kept, as the single-host code reads it: {host: Inventory}."""
    out = {name: ll.load(fleet_dir / "hosts" / f"{name}.layerlab") for name, *_ in HOSTS}
    out["vm"] = ll.sample("btrfs")
    return out


def reclaimable_union(inv) -> int:
    """A host's wasted bytes from ``layerlab.analyses.waste``: every reclaimable (layer, path) of its
    listed images, each once."""
    listed = inv.images[~inv.images["intermediate"]]
    rows = pd.concat([waste(inv, iid) for iid in listed["image_id"]], ignore_index=True)
    rows = rows[rows["reclaimable"]].drop_duplicates(["layer_id", "path"])
    return int(rows["bytes"].sum())


def test_hosts_newest_wins_and_format1_reads(fleet, fleet_dir):
    assert sorted(fleet.hosts["host"]) == sorted([h[0] for h in HOSTS] + ["vm"])
    web2 = fleet.hosts.set_index("host").loc["web-2"]
    assert web2["snapshot"] == str(fleet_dir / "hosts" / "web-2.layerlab")
    assert list(fleet.superseded["snapshot"]) == [str(fleet_dir / "old" / "web-2-old.layerlab")]
    assert list(fleet.superseded["kept"]) == [web2["snapshot"]]
    vm = fleet.hosts.set_index("host").loc["vm"]
    assert vm["format_version"] == 1 and pd.isna(vm["host_id"])
    assert fleet.skipped.empty


def test_summary_equals_sum_of_single_host_summaries(fleet, singles):
    s = fleet.summary()
    per = {h["host"]: h for h in s["per_host"]}
    assert s["hosts"] == len(singles) == len(per)
    image_ids, pairs, layer_sizes, files, size = set(), 0, {}, 0, 0
    for host, inv in singles.items():
        d = summary_dict(inv)
        ids = {im["image_id"] for im in d["images"]}
        image_ids |= ids
        pairs += len(ids)
        il = inv.image_layers[inv.image_layers["image_id"].isin(ids)]
        for lid, n in zip(il["layer_id"], il["size"]):  # drivers count a layer a few kB apart: the largest
            layer_sizes[lid] = max(n, layer_sizes.get(lid, 0))
        files += len(inv.files)
        size += d["totals"]["physical_size"]
        for key in ("images", "layers", "logical_size", "physical_size", "dedup_ratio"):
            assert per[host][key] == d["totals"][key], (host, key)
        assert per[host]["containers"] == len(d["containers"])
        assert per[host]["rw_bytes"] == sum(c["rw_size"] or 0 for c in d["containers"])
        assert per[host]["files"] == len(inv.files)
        assert per[host]["reclaimable_bytes"] == reclaimable_union(inv), host
    assert s["images"] == len(image_ids)
    assert s["image_instances"] == pairs
    assert s["layers"] == len(layer_sizes)
    assert s["files"] == files
    assert s["size_bytes"] == size
    assert s["unique_layer_bytes"] == sum(layer_sizes.values())
    assert s["reclaimable_bytes"] == sum(reclaimable_union(inv) for inv in singles.values())
    assert s["reclaimable_bytes"] > 0 and s["unique_layer_bytes"] < s["size_bytes"]


def test_top_images_are_single_host_reclaimable_times_hosts(fleet, singles):
    per_image, hosts = {}, {}
    for host, inv in singles.items():
        for im in summary_dict(inv)["images"]:
            per_image[im["image_id"]] = im["reclaimable_bytes"]
            hosts.setdefault(im["image_id"], set()).add(host)
    top = fleet.top_images(50)
    assert len(top) == sum(1 for v in per_image.values() if v > 0)
    for r in top.itertuples(index=False):
        assert r.reclaimable_bytes == per_image[r.image_id]
        assert r.hosts == len(hosts[r.image_id])
        assert r.fleet_reclaimable_bytes == per_image[r.image_id] * len(hosts[r.image_id])
    assert list(top["fleet_reclaimable_bytes"]) == sorted(top["fleet_reclaimable_bytes"], reverse=True)


def test_layers_and_containers_across_hosts(fleet, singles):
    d = fleet.layer_dedup()
    assert int(d["fleet_bytes"].sum()) == fleet.summary()["size_bytes"]
    assert int(d["size"].sum()) == fleet.summary()["unique_layer_bytes"]
    ctrs = fleet.fleet_containers()
    expect = sorted((h, c) for h, inv in singles.items() for c in inv.containers["container_id"])
    assert sorted(zip(ctrs["host"], ctrs["container_id"])) == expect


def test_base_images_count_hosts(fleet, singles):
    from layerlab.analyses import base_images

    bases = fleet.base_images()
    expect = {}
    for host, inv in singles.items():
        b = base_images(inv, all=False)
        for base in b.loc[b["base_kind"] == "image", "base_image"]:
            expect.setdefault(base, set()).add(host)
    assert dict(zip(bases["base_image"], bases["hosts"])) == {k: len(v) for k, v in expect.items()}


def test_find_path_and_sha256(fleet, singles):
    path = "/data/big.bin"
    hits = fleet.find(path)
    expect = sorted(h for h, inv in singles.items() if (inv.files["path"] == path).any())
    assert sorted(set(hits["host"])) == expect and expect
    image_layer = ~hits["layer_id"].str.startswith(("container:", "init:"))
    assert all(len(i) for i in hits.loc[image_layer, "images"])
    assert not any(len(i) for i in hits.loc[~image_layer, "images"])
    digest = next(d for d in singles["web-1"].files["sha256"] if isinstance(d, str))
    by_hash = fleet.find(sha256=digest)
    assert sorted(set(by_hash["host"])) == sorted(h for h,
                                                  inv in singles.items() if (inv.files["sha256"] == digest).any())
    assert fleet.find("/no/such/file").empty
    glob = fleet.find("/data/big.*")
    assert set(glob["path"]) == {path}


def test_drift_flags_the_host_lacking_an_image(fleet):
    d = fleet.drift().set_index("host")
    assert d.loc["web-2", "group"] == "web" and d.loc["web-2", "group_hosts"] == 3
    assert d.loc["web-2", "drifted"] and "layerlab/bloat:1" in d.loc["web-2", "missing"]
    assert not d.loc["web-1", "drifted"] and not d.loc["web-3", "drifted"]
    assert not d.loc["vm", "drifted"]  # a group of one


def test_cli_summary_json_on_the_cluster(paths, dask_cluster, fleet):
    out = subprocess.run([sys.executable, "-m", "layerlab.cli", "fleet", "summary", *paths, "--scheduler",
                          dask_cluster.address, "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    want = fleet.summary()
    for key in ("hosts", "images", "image_instances", "layers", "files", "size_bytes", "unique_layer_bytes",
                "reclaimable_bytes"):
        assert data[key] == want[key], key
    assert [h["host"] for h in data["per_host"]] == [h["host"] for h in want["per_host"]]
    assert "replaced by newer" in out.stderr


def test_cli_find(paths, dask_cluster):
    out = subprocess.run([sys.executable, "-m", "layerlab.cli", "fleet", "find", *paths, "--scheduler",
                          dask_cluster.address, "--path", "/data/big.bin", "--json"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "web-1" in json.loads(out.stdout)["hosts"]
