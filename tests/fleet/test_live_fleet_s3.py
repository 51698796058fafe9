"""Snapshots in object storage: a real S3-compatible server (moto) on loopback, read through s3://."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from fleet_support import HOSTS
from harness.captures import unpack_capture
from harness.fleetdata import truncate
from harness.tiers import require_root

import layerlab as ll
from layerlab.frames.host import machine_id
from layerlab.frames.inventory import FRAME_NAMES
from layerlab.frames.snapshot import FORMAT_VERSION

# A real Dask scheduler and workers, or moto's S3 server, on loopback: the live tier.
pytestmark = pytest.mark.live

KEYS = ("hosts", "images", "image_instances", "layers", "files", "size_bytes", "unique_layer_bytes",
        "reclaimable_bytes")


def _env(server):
    return {**os.environ, **server.env}


def test_fleet_from_a_bucket_equals_the_local_fleet(fleet_dir, s3_server, dask_cluster, tmp_path):
    s3_server.make_bucket("audits")
    for name, *_ in HOSTS:
        s3_server.upload(fleet_dir / "hosts" / f"{name}.layerlab", f"s3://audits/docker/{name}.layerlab")
    # An upload cut short: its files.parquet is half there.
    broken = tmp_path / "broken.layerlab"
    ll.load(fleet_dir / "hosts" / "web-1.layerlab").save(broken)
    truncate(broken / "files.parquet")
    s3_server.upload(broken, "s3://audits/docker/broken.layerlab")

    with ll.fleet(fleet_dir / "hosts", client=dask_cluster.address) as local:
        want = local.summary()
        want_top = local.top_images(10)
    with ll.fleet("s3://audits/docker/", client=dask_cluster.address, storage_options=s3_server.storage_options) as f:
        assert all(s.startswith("s3://audits/docker/") for s in f.hosts["snapshot"])
        assert list(f.skipped["snapshot"]) == ["s3://audits/docker/broken.layerlab"]
        got = f.summary()
        pd.testing.assert_frame_equal(f.top_images(10), want_top)
        assert len(f.find("/data/big.bin")) == len(local_find(fleet_dir, dask_cluster))
    for key in KEYS:
        assert got[key] == want[key], key


def local_find(fleet_dir, cluster):
    with ll.fleet(fleet_dir / "hosts", client=cluster.address) as f:
        return f.find("/data/big.bin")


def test_workers_without_credentials_give_a_clear_error(fleet_dir, s3_server, dask_cluster):
    # The loopback workers were started without AWS_* variables and no storage_options are given.
    s3_server.make_bucket("nocreds")
    s3_server.upload(fleet_dir / "hosts" / "web-1.layerlab", "s3://nocreds/web-1.layerlab")
    from layerlab.fleet import FleetError

    with pytest.raises(FleetError, match="cannot list s3://nocreds/.*NoCredentialsError"):
        ll.fleet("s3://nocreds/", client=dask_cluster.address,
                 storage_options={"endpoint_url": s3_server.endpoint, "client_kwargs": {"region_name": "us-east-1"}})


def test_cli_reads_a_bucket_through_the_aws_environment(fleet_dir, s3_server):
    # No --scheduler: the command starts a LocalCluster, whose workers inherit the AWS_* variables.
    s3_server.make_bucket("cli")
    for name, *_ in HOSTS[:3]:
        s3_server.upload(fleet_dir / "hosts" / f"{name}.layerlab", f"s3://cli/{name}.layerlab")
    out = subprocess.run([sys.executable, "-m", "layerlab.cli", "fleet", "summary", "s3://cli/", "--json"],
                         capture_output=True, text=True, env=_env(s3_server), timeout=300)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["hosts"] == 3
    from layerlab.analyses.summary import summary_dict

    assert data["size_bytes"] == sum(summary_dict(ll.load(fleet_dir / "hosts"
                                                          / f"{n}.layerlab"))["totals"]["physical_size"]
                                     for n, *_ in HOSTS[:3])


def test_save_and_load_through_s3(s3_server, monkeypatch):
    for k, v in s3_server.env.items():
        monkeypatch.setenv(k, v)
    s3_server.make_bucket("snaps")
    inv = ll.sample("vfs")
    url = inv.save("s3://snaps/host")
    assert url == "s3://snaps/host.layerlab"
    back = ll.load(url)
    assert back.meta["snapshot"] == url and back.meta["format_version"] == FORMAT_VERSION
    for name in FRAME_NAMES:
        want = getattr(inv, name)
        if name == "files":  # format 3 stores the files rows in path order (stable: a path's rows keep their order)
            want = want.sort_values("path", kind="stable", ignore_index=True)
        pd.testing.assert_frame_equal(getattr(back, name), want, obj=name)


def test_scan_writes_to_s3(s3_server, tmp_path, monkeypatch):
    require_root("tar")
    for k, v in s3_server.env.items():
        monkeypatch.setenv(k, v)
    root = unpack_capture("vfs", tmp_path / "root")
    s3_server.make_bucket("scans")
    out = subprocess.run([sys.executable, "-m", "layerlab.cli", "scan", str(root), "--driver", "vfs", "-q", "-o",
                          "s3://scans/vm.layerlab"], capture_output=True, text=True, env=_env(s3_server), timeout=300)
    assert out.returncode == 0, out.stderr
    assert "wrote s3://scans/vm.layerlab" in out.stdout
    snap = ll.load("s3://scans/vm.layerlab")
    assert snap.meta["format_version"] == FORMAT_VERSION and snap.meta["host_id"] == machine_id()
    committed = ll.sample("vfs")
    for name in ("images", "layers", "image_layers", "containers"):
        pd.testing.assert_frame_equal(getattr(snap, name), getattr(committed, name), obj=name)


def test_a_bucket_mixing_snapshots_with_and_without_the_fleet_index(fleet_dir, s3_server, tmp_path, monkeypatch):
    """From a bucket, hosts written before fleet_index.parquet read from their per-frame files:
    after a round of hosts without one the next rounds go straight to those (asking again every
    PROBE_EVERY rounds), and a host with one in such a round is read from its frames' files alike."""
    import shutil

    from harness.fleetdata import without_fleet_index
    from layerlab.fleet import frames as ff

    s3_server.make_bucket("mixed")
    parts = []
    for i, (name, *_) in enumerate(HOSTS):
        local = tmp_path / f"{name}.layerlab"
        shutil.copytree(fleet_dir / "hosts" / f"{name}.layerlab", local)
        if i not in (2, 5):  # hosts 2 and 5 keep their index: one in a probing round, one in a skipped one
            without_fleet_index(local)
        parts.append((s3_server.upload(local, f"s3://mixed/{name}.layerlab"), name))
    monkeypatch.setattr(ff, "REMOTE_ROUND", 1)  # a round a host: rounds 1, 3, 5 probe (PROBE_EVERY 2)
    monkeypatch.setattr(ff, "PROBE_EVERY", 2)
    columns = {"images": ["host", "image_id", "tags", "size", "intermediate"],
               "image_layers": ["host", "image_id", "layer_id", "size"]}
    got = ff.read_frames(parts, columns, s3_server.storage_options)
    for frame, cols in columns.items():
        assert list(dict.fromkeys(got[frame]["host"])) == [n for _, n in parts]
        for name, *_ in HOSTS:
            mine = got[frame][got[frame]["host"] == name].drop(columns="host").reset_index(drop=True)
            theirs = ll.load(fleet_dir / "hosts" / f"{name}.layerlab").frames()[frame][cols[1:]]
            pd.testing.assert_frame_equal(mine, theirs.reset_index(drop=True), check_categorical=False)
