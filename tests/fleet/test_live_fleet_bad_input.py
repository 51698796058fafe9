"""Bad snapshots are skipped with a reason, never aborting the others; bad paths are clear errors."""

import pytest

import layerlab as ll
from layerlab.fleet import FleetError
from layerlab.fleet.snapshots import find_snapshots

# A real Dask scheduler and workers, or moto's S3 server, on loopback: the live tier.
pytestmark = pytest.mark.live


def test_bad_snapshots_are_skipped_with_reasons(fleet_dir, bad_dir, dask_cluster):
    with ll.fleet([fleet_dir / "hosts"], client=dask_cluster.address) as good:
        want = good.summary()
    with ll.fleet([fleet_dir / "hosts", bad_dir], client=dask_cluster.address) as f:
        reasons = dict(zip(f.skipped["snapshot"].str.rsplit("/", n=1).str[-1], f.skipped["reason"]))
        assert set(reasons) == {"truncated.layerlab", "future.layerlab", "no-meta.layerlab", "bad-json.layerlab"}
        assert "files.parquet" in reasons["truncated.layerlab"]
        assert "format 99" in reasons["future.layerlab"] and "upgrade layerlab" in reasons["future.layerlab"]
        assert "meta.json missing" in reasons["no-meta.layerlab"]
        assert "not valid JSON" in reasons["bad-json.layerlab"]
        got = f.summary()
    assert len(got["skipped"]) == 4
    for key in ("hosts", "images", "layers", "files", "size_bytes", "reclaimable_bytes"):
        assert got[key] == want[key], key


def test_only_bad_snapshots_is_an_error(bad_dir, dask_cluster):
    with pytest.raises(FleetError, match="none of the 4 snapshot"):
        ll.fleet(bad_dir, client=dask_cluster.address)


@pytest.mark.parametrize("given, match", [
    ("", "empty path"),
    ("/nonexistent/fleet", "does not exist"),
    ("/nonexistent/*.layerlab", "matches nothing"),
])
def test_mistyped_paths_are_clear_errors(given, match):
    with pytest.raises(FleetError, match=match) as e:
        find_snapshots([given])
    assert isinstance(e.value, ll.LayerlabError)


def test_a_folder_without_snapshots_or_a_file(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(FleetError, match="holds no .layerlab snapshots"):
        find_snapshots([tmp_path])
    with pytest.raises(FleetError, match="is a file"):
        find_snapshots([tmp_path / "notes.txt"])
    with pytest.raises(FleetError, match="no paths"):
        find_snapshots([])


def test_cli_error_is_one_line(capsys):
    from layerlab.cli import main

    assert main(["fleet", "summary", "/nonexistent/fleet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("layerlab: error: /nonexistent/fleet does not exist") and "Traceback" not in err


def test_without_a_client_a_local_cluster_is_started_and_closed(fleet_dir):
    import os

    with ll.fleet(fleet_dir / "hosts" / "web-1.layerlab") as f:
        cluster = f._cluster
        assert f.slots == (os.cpu_count() or 1)  # a thread per core, in this process
        assert f.dashboard_link.startswith("http://127.0.0.1:")  # bokeh (dask[diagnostics]) serves it
        assert f.summary()["hosts"] == 1
    assert cluster.status.name == "closed" and f.client.status == "closed"


def test_methods_check_their_arguments_before_any_task(fleet_dir, dask_cluster):
    from layerlab.errors import ArgumentError

    with ll.fleet([fleet_dir / "hosts"], client=dask_cluster.address) as f:
        for call, match in [
            (lambda: f.find(42), r"Fleet\.find\(\): path must be a string or None"),
            (lambda: f.find(sha256=b"ab"), r"Fleet\.find\(\): sha256 must be a string or None"),
            (lambda: f.find(size="10"), r"Fleet\.find\(\): size must be a whole number of bytes or None"),
            (lambda: f.find(size=-1), r"Fleet\.find\(\): size must be"),
            (lambda: f.top_images(0), r"Fleet\.top_images\(\): n must be a whole number, 1 or more"),
            (lambda: f.top_images(True), r"Fleet\.top_images\(\): n must be"),
            (lambda: f.frame(None), r"Fleet\.frame\(\): name must be a string"),
            (lambda: f.drift(["web"]),
             r"Fleet\.drift\(\): groups must be a dict or Series \(host -> group\), a function"),
        ]:
            with pytest.raises(ArgumentError, match=match):
                call()
        assert len(f.top_images(1)) == 1 and f.find(size=0) is not None  # valid calls still run
        assert len(f.drift(lambda host: "all")) == len(f.drift({})) == len(f.hosts)


def test_cli_says_in_one_line_how_many_snapshots_it_skipped_and_why(fleet_dir, bad_dir):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "layerlab.cli", "fleet", "summary", str(fleet_dir / "hosts"),
                          str(bad_dir), "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    hosts = len(list((fleet_dir / "hosts").iterdir()))
    lines = [line for line in out.stderr.splitlines() if "skipped" in line]
    # truncated, no meta.json and invalid JSON are damaged; format 99 is another format
    assert lines[0] == f"warning: skipped 4 of {hosts + 4} snapshots: 3 damaged, 1 other format", lines
    assert sorted(line.split("/")[-1].split(":")[0] for line in lines[1:]) == [
        "bad-json.layerlab", "future.layerlab", "no-meta.layerlab", "truncated.layerlab"]
