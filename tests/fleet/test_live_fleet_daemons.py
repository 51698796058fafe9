"""A fleet of real hosts' scans: three data roots made by test dockerds, each scanned by
``layerlab scan --hash`` as its own host (its own hostname and machine ID), and the fleet's figures
checked against each snapshot's own ``layerlab summary --json`` and files.

The hosts: ``web-a`` has fleet/base:1 and fleet/web:1 (built there); ``db-b`` has fleet/base:1
(loaded from web-a's ``docker save``, so the same image ID) and fleet/db:1 with a container;
``web-c`` has fleet/base:1 and fleet/web:1 (both loaded) and fleet/cache:1. So base is on every
host, web on two, db and cache on one each.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import layerlab as ll
from harness.daemon import Daemon, dockerd_missing
from harness.images import busybox_rootfs
from harness.tiers import missing, require

pytestmark = pytest.mark.live

SHARED = "/srv/web/index.html"  # in fleet/web:1 only
TWIN = "/srv/web/copy-of-index.html"  # the same bytes: `scan --hash` records both files' sha256
DB_ONLY = "/srv/db/schema.sql"

DOCKERFILES = {
    "web": ("fleet/web:1", "FROM fleet/base:1\nCOPY srv/ /srv/\n",
            {"srv/web/index.html": "<h1>fleet</h1>\n" * 300, "srv/web/copy-of-index.html": "<h1>fleet</h1>\n" * 300}),
    "db": ("fleet/db:1", "FROM fleet/base:1\nCOPY srv/ /srv/\nRUN rm /srv/db/seed.csv\n",
           {"srv/db/schema.sql": "create table t (x int);\n" * 50, "srv/db/seed.csv": "1,2,3\n" * 4000}),
    "cache": ("fleet/cache:1", "FROM fleet/base:1\nCOPY srv/ /srv/\nRUN echo v2 > /srv/cache/version\n",
              {"srv/cache/version": "v1\n", "srv/cache/blob.bin": "c" * 65536}),
}
# (hostname, machine ID, images built there, images loaded from web-a, containers created)
HOSTS = [
    ("web-a", "a" * 32, ["web"], [], []),
    ("db-b", "b" * 32, ["db"], ["fleet/base:1"], ["fleet/db:1"]),
    ("web-c", "c" * 32, ["cache"], ["fleet/base:1", "fleet/web:1"], []),
]


def build(daemon: Daemon, work: Path, name: str) -> None:
    ref, dockerfile, files = DOCKERFILES[name]
    ctx = work / f"ctx-{name}"
    for rel, text in {"Dockerfile": dockerfile, **files}.items():
        (ctx / rel).parent.mkdir(parents=True, exist_ok=True)
        (ctx / rel).write_text(text)
    daemon.docker("build", "--network", "none", "-q", "-t", ref, str(ctx), timeout=600)


def scan_as(host: str, machine_id: str, root: Path, out: Path, work: Path) -> None:
    """``layerlab scan --hash`` run as another host would run it: in new UTS and mount namespaces
    with its own hostname and /etc/machine-id (bind-mounted, as a DaemonSet pod mounts the node's)."""
    mid = work / f"{host}.machine-id"
    mid.write_text(machine_id + "\n")
    script = 'hostname "$1" && mount --bind "$2" /etc/machine-id && shift 2 && exec "$@"'
    subprocess.run(["unshare", "--mount", "--uts", "--propagation", "private", "sh", "-c", script, "sh", host, str(mid),
                    sys.executable, "-m", "layerlab.cli", "scan", str(root), "-o", str(out), "--hash", "-q"],
                   check=True, capture_output=True, timeout=600)


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    """{hostname: snapshot path} of the three hosts."""
    require(dockerd_missing() or missing(root=True, programs=("unshare", "mount")))
    work = tmp_path_factory.mktemp("fleet-daemons")
    rootfs = busybox_rootfs(work / "rootfs")
    out = {}
    for host, mid, built, loaded, containers in HOSTS:
        daemon = Daemon(work / host)
        with daemon:
            if host == "web-a":
                daemon.docker("import", "--message", "busybox-static rootfs", "--change", 'CMD ["/bin/sh"]',
                              str(rootfs),
                              "fleet/base:1")
            else:
                daemon.docker("load", "-i", str(work / "web-a.tar"))
                # load brings every image saved; keep only those this host is meant to have
                for ref in {"fleet/base:1", "fleet/web:1"} - set(loaded):
                    daemon.docker("rmi", ref)
            for name in built:
                build(daemon, work, name)
            for i, ref in enumerate(containers):
                daemon.docker("create", "--name", f"ctr-{i}", "--network", "none", ref)
            if host == "web-a":
                daemon.docker("save", "-o", str(work / "web-a.tar"), "fleet/base:1", "fleet/web:1")
        out[host] = work / f"{host}.layerlab"
        scan_as(host, mid, daemon.data_root, out[host], work)
    return out


@pytest.fixture(scope="module")
def summaries(scans):
    """Each snapshot's own ``layerlab summary --json``."""
    out = {}
    for host, snap in scans.items():
        r = subprocess.run([sys.executable, "-m", "layerlab.cli", "summary", str(snap), "--json"], capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        out[host] = json.loads(r.stdout)
    return out


@pytest.fixture(scope="module")
def fleet(scans, dask_cluster):
    with ll.fleet([str(p) for p in scans.values()], client=dask_cluster.address) as f:
        yield f


def test_each_scan_is_its_own_host(fleet, scans):
    hosts = fleet.hosts.set_index("host")
    assert sorted(hosts.index) == sorted(scans)
    for host, mid, *_ in HOSTS:
        assert hosts.loc[host, "host_id"] == mid and hosts.loc[host, "hostname"] == host
    assert fleet.skipped.empty and fleet.superseded.empty


def test_per_host_totals_equal_each_hosts_summary_json(fleet, summaries):
    per = {h["host"]: h for h in fleet.summary()["per_host"]}
    for host, d in summaries.items():
        for key in ("images", "layers", "logical_size", "physical_size", "dedup_ratio", "reclaimable_bytes"):
            assert per[host][key] == d["totals"][key], (host, key)
        assert per[host]["containers"] == len(d["containers"])
    assert per["db-b"]["containers"] == 1 and per["db-b"]["reclaimable_bytes"] > 0  # the removed seed.csv


def test_fleet_totals_from_the_hosts_summaries(fleet, summaries, scans):
    s = fleet.summary()
    ids = {h: {im["image_id"] for im in d["images"]} for h, d in summaries.items()}
    assert s["image_instances"] == sum(len(v) for v in ids.values()) == 7
    assert s["images"] == len(set().union(*ids.values())) == 4  # base and web are shared
    layers = {}  # distinct layers of the listed images, each at the largest size a host records
    for host, snap in scans.items():
        il = ll.load(snap).image_layers
        il = il[il["image_id"].isin(ids[host])]
        for lid, size in zip(il["layer_id"], il["size"]):
            layers[lid] = max(size, layers.get(lid, 0))
    assert s["layers"] == len(layers)
    assert s["unique_layer_bytes"] == sum(layers.values())
    assert s["size_bytes"] == sum(d["totals"]["physical_size"] for d in summaries.values())
    assert s["reclaimable_bytes"] == sum(d["totals"]["reclaimable_bytes"] for d in summaries.values())
    top = fleet.images_across().set_index("image_id")
    for d in summaries.values():
        for im in d["images"]:
            assert top.loc[im["image_id"], "reclaimable_bytes"] == im["reclaimable_bytes"]
            assert top.loc[im["image_id"], "hosts"] == sum(im["image_id"] in v for v in ids.values())


def test_find_by_path_and_by_sha256(fleet, scans):
    files = {h: ll.load(p).files for h, p in scans.items()}
    hits = fleet.find(SHARED)
    assert sorted(set(hits["host"])) == sorted(h for h, f in files.items() if (f["path"] == SHARED).any()) == ["web-a",
        "web-c"]
    assert all(list(i) == ["fleet/web:1"] for i in hits["images"])
    assert sorted(set(fleet.find(DB_ONLY)["host"])) == ["db-b"]
    row = files["web-a"].set_index("path").loc[SHARED]
    digest = row["sha256"]
    assert isinstance(digest, str) and len(digest) == 64  # recorded by scan --hash: the file has a twin
    by_hash = fleet.find(sha256=digest)
    expect = sorted((h, p) for h, f in files.items() for p in f.loc[f["sha256"] == digest, "path"])
    assert sorted(zip(by_hash["host"], by_hash["path"])) == expect
    assert {p for _, p in expect} == {SHARED, TWIN}
