"""Which snapshots a fleet's paths name, and how hosts are cut into partitions (no cluster needed)."""

import pandas as pd
import pytest

import layerlab as ll
from layerlab.fleet.analyses import default_group
from layerlab.fleet.frames import batches, read_frame
from layerlab.fleet.snapshots import find_snapshots, inspect

from fleet_support import HOSTS


def test_folders_globs_and_snapshots_each_once(fleet_dir):
    hosts = fleet_dir / "hosts"
    found = find_snapshots([hosts, str(hosts / "web-*.layerlab"), hosts / "ci-1.layerlab"])
    assert found == sorted(str(p) for p in hosts.iterdir())
    assert len(found) == len(HOSTS)


def test_inspect_reads_footers_not_rows(fleet_dir):
    snap = fleet_dir / "hosts" / "web-1.layerlab"
    out = inspect(str(snap))
    inv = ll.load(snap)
    assert out["reason"] is None and out["meta"]["hostname"] == "web-1"
    assert out["rows"] == {n: len(f) for n, f in inv.frames().items()}


def test_batches_keep_hosts_whole_and_in_order():
    parts = [(f"s{i}", f"h{i}") for i in range(100)]
    cut = batches(parts, slots=2)
    assert [p for b in cut for p in b] == parts
    assert len(cut) == 8 and max(map(len, cut)) <= 32
    assert max(map(len, batches(parts * 10, slots=2))) == 32
    assert batches(parts[:3], slots=4) == [[p] for p in parts[:3]]


def test_a_batch_read_equals_the_single_host_frames(fleet_dir):
    names = ["web-1", "ci-2", "db-1"]
    parts = [(str(fleet_dir / "hosts" / f"{n}.layerlab"), n) for n in names]
    for frame in ("images", "files", "containers"):
        got = read_frame(parts, frame)
        for snap, host in parts:
            want = getattr(ll.load(snap), frame)
            mine = got[got["host"] == host].drop(columns="host").reset_index(drop=True)
            # layer_id is categorical: a batch's categories are all its hosts' layers, one host's its own
            pd.testing.assert_frame_equal(mine, want, obj=f"{host} {frame}", check_categorical=False)


def test_default_group_drops_the_trailing_number():
    assert default_group("ci-agent-17") == "ci-agent"
    assert default_group("web3") == "web"
    assert default_group("vm") == "vm"


def test_find_rows_matches_on_arrow_like_pandas(fleet_dir):
    import re

    from layerlab.fleet.analyses import _glob_regex
    from layerlab.fleet.frames import find_rows

    parts = [(str(fleet_dir / "hosts" / f"{n}.layerlab"), n) for n, *_ in HOSTS]
    files = read_frame(parts, "files")
    for glob in ("/data/big.*", "*/conf/?.conf", "/etc/[!a-m]*"):
        got = find_rows(parts, regex=_glob_regex(glob))
        want = files[files["path"].map(lambda p: re.fullmatch(_glob_regex(glob)[1:-1], p) is not None)]
        assert sorted(zip(got["host"], got["path"])) == sorted(zip(want["host"], want["path"])) and len(got), glob
    digest = next(d for d in files["sha256"] if isinstance(d, str))
    got = find_rows(parts, sha256=digest, size=int(files.loc[files["sha256"] == digest, "size"].iloc[0]))
    assert len(got) == (files["sha256"] == digest).sum()


@pytest.mark.parametrize("file", ["fleet_index", "image_layers"])
def test_a_file_damaged_without_changing_its_size_is_named_when_read(fleet_dir, tmp_path, file):
    """Format 3 and 4 are checked by file sizes: a file whose bytes changed but not its size passes
    the check, and the read that meets it names the file (no traceback from deep inside pyarrow):
    fleet_index.parquet, or a frame's own file in a snapshot written before it."""
    import shutil

    from layerlab.fleet import FleetError
    from harness.fleetdata import without_fleet_index

    for name in ("web-1", "ci-1"):
        shutil.copytree(fleet_dir / "hosts" / f"{name}.layerlab", tmp_path / f"{name}.layerlab")
        if file != "fleet_index":
            without_fleet_index(tmp_path / f"{name}.layerlab")
    target = tmp_path / "ci-1.layerlab" / f"{file}.parquet"
    data = bytearray(target.read_bytes())
    data[4:-8] = bytes(len(data) - 12)  # the magic bytes and the footer's length kept, all else zeros
    target.write_bytes(bytes(data))
    parts = [(str(tmp_path / f"{n}.layerlab"), n) for n in ("web-1", "ci-1")]
    assert inspect(parts[1][0])["reason"] is None
    columns = ["host", "image_id", "layer_id", "size"]  # what the totals read: from fleet_index.parquet if there
    assert len(read_frame(parts[:1], "image_layers", columns)) > 0
    with pytest.raises(FleetError, match=rf"ci-1\.layerlab/{file}\.parquet is unreadable .*rescan that host"):
        read_frame(parts, "image_layers", columns)
