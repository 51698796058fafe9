"""Snapshot format 3 (files sorted by path in row groups, file sizes in meta.json), format 4's
fleet_index.parquet (what a fleet reads of a host, in one file), and fleets that mix them with formats
1 and 2, format 4 as written before fleet_index.parquet, and files stored in narrower types (uint16 ``mode``,
uint32 ``uid``/``gid``, dictionary-encoded ``link_target``/``sha256``/``path_raw``), on a real Dask
cluster."""

import json
import os
import shutil

import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import layerlab as ll
from layerlab.analyses.summary import summary_dict
from layerlab.fleet.frames import HOST, glob_prefix, read_frame, read_frames
from layerlab.fleet.snapshots import inspect
from layerlab.frames import schema, snapshot
from harness.fleetdata import as_format2, host_snapshot, row_groups, with_narrow_files, without_fleet_index

PATH = "/data/big.bin"
SMALL_GROUPS = 32  # rows per files row group in this module's format-3 snapshots: the samples have ~380 rows


@pytest.fixture(scope="module")
def mixed_dir(tmp_path_factory):
    """Hosts of every stored form, made from the bundled real captures: format 3 in small row
    groups, format 2 (files in scan order, one row group, no sizes), format 3 with narrow files
    types, and the bundled format-1 sample read in place."""
    root = tmp_path_factory.mktemp("mixed")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(snapshot, "FILES_ROW_GROUP", SMALL_GROUPS)
        host_snapshot(ll.sample("overlay2"), root / "hosts" / "new-1.layerlab", hostname="new-1")
    host_snapshot(ll.sample("overlay2"), root / "hosts" / "old-1.layerlab", hostname="old-1",
                  images=["layerlab/app:1", "layerlab/bloat:1"])
    as_format2(root / "hosts" / "old-1.layerlab")
    host_snapshot(ll.sample("vfs"), root / "hosts" / "narrow-1.layerlab", hostname="narrow-1")
    with_narrow_files(root / "hosts" / "narrow-1.layerlab")
    # format 4 as written before fleet_index.parquet (a host not upgraded yet)
    host_snapshot(ll.sample("overlay2"), root / "hosts" / "plain4-1.layerlab", hostname="plain4-1",
                  images=["layerlab/app:1", "layerlab/bloat:1"])
    without_fleet_index(root / "hosts" / "plain4-1.layerlab")
    return root


@pytest.fixture(scope="module")
def singles(mixed_dir):
    out = {p.name.removesuffix(".layerlab"): ll.load(p) for p in sorted((mixed_dir / "hosts").iterdir())}
    out["vm"] = ll.sample("containerd")
    return out


def _paths(mixed_dir):
    return [str(mixed_dir / "hosts"), str(ll.sample_path("containerd"))]


def test_format3_stores_files_by_path_in_row_groups_with_sizes(mixed_dir, singles):
    snap = mixed_dir / "hosts" / "new-1.layerlab"
    meta = json.loads((snap / "meta.json").read_text())
    assert meta["format_version"] == snapshot.FORMAT_VERSION == 4
    assert meta["bytes"] == {n: os.path.getsize(snap / f"{n}.parquet") for n in [*meta["rows"], "fleet_index"]}
    md = pq.ParquetFile(snap / "files.parquet").metadata
    assert md.num_row_groups == -(-meta["rows"]["files"] // SMALL_GROUPS) > 5
    paths = list(singles["new-1"].files["path"])
    assert paths == sorted(paths)  # stored and loaded in path order
    # each group's dictionaries hold only its own values (Arrow would write the whole one each time)
    pf = pq.ParquetFile(snap / "files.parquet", read_dictionary=["link_target"])
    sizes = []
    for g in range(md.num_row_groups):
        col = pf.read_row_group(g, columns=["link_target"])["link_target"].combine_chunks()
        assert set(col.dictionary.to_pylist()) == set(col.drop_null().dictionary_decode().to_pylist())
        sizes.append(len(col.dictionary))
    assert max(sizes) < singles["new-1"].files["link_target"].nunique()
    keep = row_groups(md, {"path": (PATH, PATH)})
    assert 1 <= len(keep) <= 2  # a lookup reads one group (two when the path's rows straddle a boundary)
    stored = pq.ParquetFile(snap / "files.parquet").read_row_groups(keep, columns=["path"])["path"].to_pylist()
    assert paths.count(PATH) == stored.count(PATH)
    # the format-2 copy: one row group, no sizes, read by its footers
    old = json.loads((mixed_dir / "hosts" / "old-1.layerlab" / "meta.json").read_text())
    assert old["format_version"] == 2 and "bytes" not in old
    assert pq.ParquetFile(mixed_dir / "hosts" / "old-1.layerlab" / "files.parquet").metadata.num_row_groups == 1
    # the fleet mixes the files types of then and now
    wide = pq.ParquetFile(mixed_dir / "hosts" / "old-1.layerlab" / "files.parquet").schema_arrow
    narrow = pq.ParquetFile(mixed_dir / "hosts" / "narrow-1.layerlab" / "files.parquet").schema_arrow
    assert (str(wide.field("mode").type), str(wide.field("sha256").type)) == ("int64", "large_string")
    assert str(narrow.field("mode").type) == "uint16" and str(narrow.field("sha256").type).startswith("dictionary")


def test_fleet_index_holds_what_a_fleet_reads_of_each_frame(mixed_dir, singles):
    """fleet_index.parquet: the FLEET_INDEX columns of images, image_layers and containers, their rows
    stacked with a ``frame`` column; a fleet reads those columns from it as the single-host load has
    them, and the frames' other columns from their own files."""
    snap = mixed_dir / "hosts" / "new-1.layerlab"
    stored = pq.ParquetFile(snap / "fleet_index.parquet").read()
    rows = json.loads((snap / "meta.json").read_text())["rows"]
    assert stored["frame"].to_pylist() == [f for f in snapshot.FLEET_INDEX for _ in range(rows[f])]
    part = (str(snap), "new-1")
    for frame, columns in snapshot.FLEET_INDEX.items():
        theirs = singles["new-1"].frames()[frame].reset_index(drop=True)
        assert len(theirs) == rows[frame] > 0
        mine = stored.filter(pc.equal(stored["frame"], frame))
        assert mine["image_id"].to_pylist() == list(theirs["image_id"])
        for wanted in ([HOST, *columns], None):  # from the index, then every column (from the frame's own file)
            got = read_frame(part, frame, wanted)
            assert list(got[HOST].unique()) == ["new-1"]
            pd.testing.assert_frame_equal(got.drop(columns=HOST), theirs[list(columns)] if wanted else theirs,
                                          check_categorical=False)


def test_hosts_with_and_without_fleet_index_read_alike_in_their_order(mixed_dir, singles, tmp_path):
    """A batch mixing snapshots with fleet_index.parquet and without (format 4 before it, format 2)
    gives each host's rows as its own load does, in the batch's order, several frames in one read."""
    hosts = mixed_dir / "hosts"
    parts = [(str(hosts / f"{h}.layerlab"), h) for h in ("plain4-1", "new-1", "old-1", "narrow-1")]
    wanted = {"images": [HOST, "image_id", "tags", "intermediate"], "image_layers": [HOST, "layer_id", "size"],
              "containers": [HOST, *snapshot.FLEET_INDEX["containers"]], "history": None, "files": [HOST, "path"]}
    got = read_frames(parts, wanted)
    for frame, columns in wanted.items():
        assert list(dict.fromkeys(got[frame][HOST])) == [h for _, h in parts if len(singles[h].frames()[frame])]
        for _, h in parts:
            mine = got[frame][got[frame][HOST] == h].drop(columns=HOST).reset_index(drop=True)
            theirs = singles[h].frames()[frame].reset_index(drop=True)
            theirs = theirs if columns is None else theirs[[c for c in columns if c != HOST]]
            pd.testing.assert_frame_equal(mine, theirs, check_categorical=False, check_dtype=frame != "files")


def test_an_index_without_a_column_asked_for_is_not_read_for_it(mixed_dir, singles, tmp_path):
    """A fleet_index.parquet lacking a column asked for (written by another version) is passed over
    for the frames' own files, never read as nulls."""
    snap = tmp_path / "narrow-index.layerlab"
    shutil.copytree(mixed_dir / "hosts" / "new-1.layerlab", snap)
    index = pq.ParquetFile(snap / "fleet_index.parquet").read()
    pq.write_table(index.drop_columns(["tags"]), snap / "fleet_index.parquet")
    got = read_frame((str(snap), "new-1"), "images", [HOST, "image_id", "tags"])
    assert [list(t) for t in got["tags"]] == [list(t) for t in singles["new-1"].images["tags"]]
    assert any(len(t) for t in got["tags"])


def test_checks_by_sizes_and_by_footers(mixed_dir, tmp_path):
    good = inspect(str(mixed_dir / "hosts" / "new-1.layerlab"))
    assert good["reason"] is None and good["rows"]["files"] == good["meta"]["rows"]["files"]
    assert inspect(str(mixed_dir / "hosts" / "old-1.layerlab"))["reason"] is None
    # a format-3 files.parquet swapped for another host's: the same kind of file, another size
    swapped = tmp_path / "swapped.layerlab"
    shutil.copytree(mixed_dir / "hosts" / "new-1.layerlab", swapped)
    shutil.copy(mixed_dir / "hosts" / "narrow-1.layerlab" / "files.parquet", swapped / "files.parquet")
    assert "files.parquet has" in inspect(str(swapped))["reason"] and "bytes" in inspect(str(swapped))["reason"]
    # fleet_index.parquet cut short, then gone: checked by its size as the others
    cut = tmp_path / "cut.layerlab"
    shutil.copytree(mixed_dir / "hosts" / "new-1.layerlab", cut)
    (cut / "fleet_index.parquet").write_bytes((cut / "fleet_index.parquet").read_bytes()[:-10])
    assert "fleet_index.parquet has" in inspect(str(cut))["reason"]
    (cut / "fleet_index.parquet").unlink()
    assert inspect(str(cut))["reason"] == "fleet_index.parquet missing"
    assert inspect(str(mixed_dir / "hosts" / "plain4-1.layerlab"))["reason"] is None  # not recorded: not asked
    # format 3 without the sizes (edited by hand): checked by the footers, as format 2
    meta = json.loads((swapped / "meta.json").read_text())
    del meta["bytes"]
    (swapped / "meta.json").write_text(json.dumps(meta))
    assert "rows, meta.json says" in inspect(str(swapped))["reason"]


def test_glob_prefix():
    assert glob_prefix("/usr/lib/*/libssl.so*") == "/usr/lib/"
    assert glob_prefix("*/libssl.so*") == ""
    assert glob_prefix("/etc/ssl/openssl.cnf") == "/etc/ssl/openssl.cnf"
    assert glob_prefix("/a/b?[") == "/a/b"


@pytest.fixture(scope="module")
def fleet(mixed_dir, dask_cluster):
    with ll.fleet(_paths(mixed_dir), client=dask_cluster.address) as f:
        yield f


@pytest.mark.live
def test_mixed_fleet_reads_every_form(fleet, singles):
    assert sorted(fleet.hosts["host"]) == sorted(singles)
    assert dict(zip(fleet.hosts["host"], fleet.hosts["format_version"])) == {
        "new-1": 4, "old-1": 2, "narrow-1": 4, "plain4-1": 4, "vm": 1}
    assert fleet.skipped.empty
    files = fleet.files[["host", "path", "mode", "uid", "gid", "link_target", "sha256", "path_raw", "size"]].compute()
    contract = schema.empty("files")
    for name in ("mode", "uid", "gid", "link_target", "sha256", "path_raw", "size", "path"):
        want = contract[name].dtype  # a categorical's categories are the data's: compare the kind
        assert (isinstance(files[name].dtype, pd.CategoricalDtype) if isinstance(want, pd.CategoricalDtype)
                else str(files[name].dtype) == str(want)), (name, files[name].dtype)  # as schema.validate does
    for host, inv in singles.items():
        mine = files[files["host"] == host]
        assert len(mine) == len(inv.files) == int(fleet.hosts.set_index("host").loc[host, "files_rows"])
        for name in ("mode", "uid", "gid", "size"):
            assert sorted(mine[name]) == sorted(inv.files[name]), (host, name)
        for name in ("link_target", "sha256", "path_raw"):
            assert _values(mine[name]) == _values(inv.files[name]), (host, name)
    s = fleet.summary()
    assert s["files"] == sum(len(inv.files) for inv in singles.values())
    assert {h["host"]: h["physical_size"] for h in s["per_host"]} == {
        h: summary_dict(inv)["totals"]["physical_size"] for h, inv in singles.items()}


@pytest.mark.live
def test_mixed_fleet_reads_times_of_every_unit(fleet, singles):
    """Formats 1 to 3 store nanoseconds, format 4 microseconds: the fleet reads them all in the
    contract's unit, each host's times as its own snapshot loads them (truncated alike)."""
    assert any(pq.read_schema(inv.meta["snapshot"] + "/files.parquet").field("mtime").type.unit == "ns"
               for inv in singles.values() if inv.meta.get("snapshot"))
    for frame, column in (("images", "created"), ("history", "created"), ("containers", "created"), ("files", "mtime")):
        got = fleet.frame(frame)[["host", column]].compute()
        assert str(got[column].dtype) == schema.TIME, frame
        for host, inv in singles.items():
            mine = got.loc[got["host"] == host, column]
            assert sorted(mine.dropna()) == sorted(inv.frames()[frame][column].dropna()), (host, frame)
            assert mine.isna().sum() == inv.frames()[frame][column].isna().sum(), (host, frame)


def _values(column) -> list:
    """The non-null values of a column, sorted, whatever its dtype (categorical, Arrow, object)."""
    return sorted(v for v in column.astype(object) if not pd.isna(v))


def _expect(singles, mask_of):
    return sorted((h, p, str(lid)) for h, inv in singles.items()
                  for p, lid in zip(inv.files.loc[mask_of(inv.files), "path"],
                                    inv.files.loc[mask_of(inv.files), "layer_id"]))


def _got(hits):
    return sorted(zip(hits["host"], hits["path"], hits["layer_id"].astype(str)))


@pytest.mark.live
def test_find_on_every_form(fleet, singles):
    assert _got(fleet.find(PATH)) == _expect(singles, lambda f: f["path"] == PATH) != []
    # a glob with a literal start (row groups pruned by it) and one without
    assert _got(fleet.find("/data/big.*")) == _expect(singles, lambda f: f["path"].str.startswith("/data/big."))
    assert _got(fleet.find("*/big.bin")) == _expect(singles, lambda f: f["path"].str.endswith("/big.bin"))
    # a content hash: categorical in the narrow host's files, plain strings in the others
    narrow = singles["narrow-1"].files
    digest = next(d for d in narrow.loc[narrow["path"] == PATH, "sha256"] if isinstance(d, str))
    by_hash = fleet.find(sha256=digest)
    assert _got(by_hash) == _expect(singles, lambda f: f["sha256"].astype(object) == digest)
    assert set(by_hash["host"]) == {"narrow-1", "new-1", "old-1", "plain4-1", "vm"}
    size = int(singles["new-1"].files.loc[singles["new-1"].files["path"] == PATH, "size"].iloc[0])
    assert _got(fleet.find(size=size)) == _expect(singles, lambda f: f["size"] == size)
    assert fleet.find("/no/such/file").empty and fleet.find("/zzz*").empty


@pytest.mark.live
def test_a_file_damaged_without_changing_its_size_is_named(mixed_dir, tmp_path, dask_cluster):
    # Format 3 is checked by file sizes: a footer overwritten in place passes the check, and is
    # reported naming the file when a query reads it.
    bad = tmp_path / "bad.layerlab"
    shutil.copytree(mixed_dir / "hosts" / "new-1.layerlab", bad)
    data = bytearray((bad / "files.parquet").read_bytes())
    data[-200:-8] = b"\xff" * 192  # the footer's thrift, keeping its length and the PAR1 magic
    (bad / "files.parquet").write_bytes(bytes(data))
    with ll.fleet([str(bad)], client=dask_cluster.address) as f:
        assert f.skipped.empty
        with pytest.raises(ll.LayerlabError, match="bad.layerlab/files.parquet is unreadable"):
            f.find(PATH)
