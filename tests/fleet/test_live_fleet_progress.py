"""Progress while a fleet computes, and the Dask dashboard's link."""

import json
import subprocess
import sys
import urllib.request

import pytest

import layerlab as ll

pytestmark = pytest.mark.live


def test_progress_bars_when_asked_quiet_by_default_off_a_terminal(fleet_dir, dask_cluster, capsys):
    with ll.fleet(fleet_dir / "hosts", client=dask_cluster.address, progress=True) as f:
        f.summary()
        (n,) = f.compute(f.files["path"].count())
    err = capsys.readouterr().err
    assert "checking snapshots" in err and "reading hosts" in err and "computing" in err
    assert n == f.hosts["files_rows"].sum()
    # pytest's stderr is not a terminal: progress=None draws nothing
    with ll.fleet(fleet_dir / "hosts", client=dask_cluster.address) as f:
        f.summary()
        f.find("/data/big.bin")
    assert capsys.readouterr().err == ""


def test_cli_summary_prints_the_dashboard_of_its_local_cluster(fleet_dir):
    out = subprocess.run([sys.executable, "-m", "layerlab.cli", "fleet", "summary", str(fleet_dir / "hosts"), "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["hosts"] == len(list((fleet_dir / "hosts").iterdir()))
    links = [line.split(": ", 1)[1] for line in out.stderr.splitlines() if line.startswith("Dask dashboard: ")]
    assert len(links) == 1 and links[0].startswith("http://127.0.0.1:") and links[0].endswith("/status")


def test_a_local_clusters_dashboard_answers_on_loopback(fleet_dir):
    with ll.fleet(fleet_dir / "hosts" / "web-1.layerlab") as f:
        with urllib.request.urlopen(f.dashboard_link, timeout=30) as r:
            assert r.status == 200
    assert f.dashboard_link is None  # the cluster is closed with the fleet
