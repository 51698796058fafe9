"""Fleet test fixtures: host snapshots made from the bundled real captures, a real Dask cluster
(``dask scheduler`` + two ``dask worker`` processes on loopback) and a real S3 server (moto)."""

import shutil

import pytest

import layerlab as ll
from layerlab.fleet.demo import host_snapshot
from harness.dask_cluster import DaskCluster, dask_missing
from harness.fleetdata import set_meta, truncate
from harness.s3 import S3Server, moto_missing
from harness.tiers import require

from fleet_support import HOSTS, OLD


@pytest.fixture(scope="session")
def fleet_dir(tmp_path_factory):
    """A folder of host snapshots; ``old/`` holds an older scan of web-2."""
    root = tmp_path_factory.mktemp("fleet")
    for name, driver, images, ctrs, when in HOSTS:
        host_snapshot(ll.sample(driver), root / "hosts" / f"{name}.layerlab", hostname=name, images=images,
                      containers=ctrs, scanned_at=when)
    name, driver, images, ctrs, when = OLD
    host_snapshot(ll.sample(driver), root / "old" / f"{name}-old.layerlab", hostname=name, images=images,
                  containers=ctrs, scanned_at=when)
    return root


@pytest.fixture(scope="session")
def bad_dir(tmp_path_factory, fleet_dir):
    """Broken snapshots, each made from a good one: truncated, future format, no meta.json, bad JSON."""
    root = tmp_path_factory.mktemp("bad")
    good = fleet_dir / "hosts" / "web-1.layerlab"
    for name in ("truncated", "future", "no-meta", "bad-json"):
        shutil.copytree(good, root / f"{name}.layerlab")
    truncate(root / "truncated.layerlab" / "files.parquet")
    set_meta(root / "future.layerlab", format_version=99)
    (root / "no-meta.layerlab" / "meta.json").unlink()
    (root / "bad-json.layerlab" / "meta.json").write_text('{"format_version": 2, ')
    return root


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory):
    require(dask_missing())
    with DaskCluster(tmp_path_factory.mktemp("dask"), workers=2) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    require(moto_missing())
    with S3Server(tmp_path_factory.mktemp("moto")) as server:
        yield server
