"""The files frame's compact columns: categoricals and narrow integers, through concat and snapshots."""

import os

import pandas as pd
import pytest
import pyarrow.parquet as pq

import layerlab as ll
from layerlab.frames import schema
from layerlab.sources.layerfiles import walk
from layerlab.sources.layerfiles.rows import concat_files


def _layer(root, names):
    for name in names:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(name)
    os.symlink("a", root / "link")
    return root


def test_layers_concatenate_into_one_categorical_per_column(tmp_path):
    a = walk.walk_layer(_layer(tmp_path / "a", ["etc/a", "etc/b"]), "sha256:" + "b" * 64)
    b = walk.walk_layer(_layer(tmp_path / "b", ["usr/c"]), "sha256:" + "a" * 64)
    files = schema.validate(concat_files([a, b]), "files")
    assert list(files["layer_id"].cat.categories) == ["sha256:" + "a" * 64, "sha256:" + "b" * 64]  # sorted as strings
    assert list(files["kind"].cat.categories) == list(schema.FILE_KINDS)
    assert (files["layer_id"] == "sha256:" + "b" * 64).sum() == len(a)
    assert set(files.loc[files["kind"] == "symlink", "link_target"]) == {"a"}
    assert files["path_raw"].isna().all()
    # a byte a row (the codes), not a 71-character ID a row
    assert files["layer_id"].cat.codes.dtype.itemsize == 1 and files["kind"].cat.codes.dtype.itemsize == 1
    # mostly-null columns: a byte a row of codes while they hold few distinct values
    for name in ("link_target", "sha256", "path_raw"):
        assert files[name].cat.codes.dtype.itemsize == 1
    assert files["mode"].dtype == "uint16"
    # owners: a categorical of the numbers (a byte a row), which compares and converts as the numbers do
    me = os.getuid()
    for name, number in (("uid", me), ("gid", os.getgid())):
        assert files[name].cat.codes.dtype.itemsize == 1 and files[name].cat.categories.dtype == "int64"
        assert (files[name] == number).all() and files[name].astype("int64").tolist() == [number] * len(files)
    # disk_usage: Arrow int64 (8 bytes and a validity bit a row, where pandas' Int64 keeps a byte of mask)
    assert str(files["disk_usage"].dtype) == "int64[pyarrow]" and files["disk_usage"].notna().all()
    assert int(files["disk_usage"].sum()) > 0


def test_snapshot_keeps_the_compact_dtypes_and_stores_them_as_dictionaries(tmp_path):
    files = concat_files([walk.walk_layer(_layer(tmp_path / "a", ["x/1", "x/2"]), "L1")])
    inv = ll.sample()
    frames = {**inv.frames(), "files": files}
    frames["layers"] = frames["layers"].head(0)
    snap = ll.Inventory(dict(inv.meta), frames).save(tmp_path / "s.layerlab")
    back = ll.load(snap).files
    # snapshot format 3 stores the rows in path order (a stable sort)
    pd.testing.assert_frame_equal(back,
                                  schema.validate(files, "files").sort_values("path", kind="stable", ignore_index=True))
    stored = pq.ParquetFile(os.path.join(snap, "files.parquet")).metadata.row_group(0)
    for i in range(stored.num_columns):  # Parquet's dictionary pages hold the categoricals' values
        column = stored.column(i)
        if column.path_in_schema in ("layer_id", "kind", "link_target", "sha256", "path_raw", "uid", "gid"):
            assert column.has_dictionary_page, column.path_in_schema


def test_frames_of_the_old_dtypes_coerce_to_the_new():
    old = pd.DataFrame({c: pd.Series([None, None], dtype=object) for c in schema.columns("files")})
    old = old.assign(layer_id=pd.array(["L2", "L1"], dtype="string"), kind=pd.array(["file", "dir"], dtype="string"),
                     path=["/a", "/b\\xff"], path_raw=pd.Series([None, b"/b\xff"], dtype=object),
                     size=[1, 0], mode=[0o644, 0o755], uid=[0, 0], gid=[0, 0])
    new = schema.validate(schema.coerce(old, "files"), "files")
    assert list(new["layer_id"].cat.categories) == ["L1", "L2"]
    assert new["kind"].tolist() == ["file", "dir"]
    assert pd.isna(new["path_raw"].iloc[0]) and new["path_raw"].iloc[1] == b"/b\xff"


def test_an_id_outside_what_linux_holds_is_a_clear_error():
    old = schema.empty("files").astype({"mode": "int64", "uid": "int64", "gid": "int64"})
    row = {c: None for c in old.columns} | {"layer_id": "L1", "kind": "file", "path": "/a", "size": 1, "mode": 0o644,
                                             "uid": 1 << 40, "gid": 0}
    bad = pd.DataFrame([row])
    with pytest.raises(ll.errors.SchemaError, match="uid holds 1099511627776, outside uint32's range"):
        schema.coerce(bad, "files")
    assert schema.coerce(bad.assign(uid=4294967295), "files")["uid"].iloc[0] == 4294967295  # the largest uid fits


def test_path_is_arrow_strings_with_32_bit_offsets_and_old_snapshots_load_into_them(tmp_path):
    import pyarrow as pa

    from layerlab.frames.snapshot import column_from_arrow
    from layerlab.sources.layerfiles.rows import FileRows

    walked = walk.walk_layer(_layer(tmp_path / "a", ["etc/a", "usr/b"]), "L1")
    rows = FileRows("L2")  # the row readers' (tar-split, tar) path, a name that is not UTF-8 among them
    rows.add("/etc/a", "file", 1, 0o644, 0, 0, 0)
    rows.add("/x/\udcff", "file", 1, 0o644, 0, 0, 0)
    files = schema.validate(concat_files([walked, rows.frame()]), "files")
    assert str(files["path"].dtype) == "string[pyarrow]"
    assert files["path"].array._pa_array.type == pa.string()  # 4-byte offsets, not large_string's 8
    # a string column to pandas: compares, filters, merges with pandas' own strings
    assert (files["path"] == "/etc/a").sum() == 2 and files["path"].str.startswith("/usr/").sum() == 1
    assert files.loc[files["path"] == "/x/\\xff", "path_raw"].iloc[0] == b"/x/\xff"
    other = pd.DataFrame({"path": pd.array(["/etc/a"], dtype="string"), "n": [1]})
    assert len(files.merge(other, on="path")) == 2
    # a snapshot written before this dtype (large_string), and an object column, load into it
    col = schema.column("files", "path")
    old = column_from_arrow(pa.chunked_array([pa.array(["/a", "/b"], pa.large_string())]), col, "files")
    assert str(old.dtype) == "string[pyarrow]" and old.tolist() == ["/a", "/b"]
    coerced = schema.coerce_column(pd.Series(["/a", "/b"], dtype=object), col, "files")
    assert coerced.array._pa_array.type == pa.string() and coerced.tolist() == ["/a", "/b"]


def test_owners_and_disk_usage_of_older_snapshots_load_into_the_new_dtypes():
    import pyarrow as pa

    from layerlab.frames.snapshot import column_from_arrow

    uid, disk = schema.column("files", "uid"), schema.column("files", "disk_usage")
    # uid/gid were uint32 (format 4) or int64 (older) columns; a dictionary of them loads too
    for stored in (pa.array([1000, 0, 1000], pa.uint32()), pa.array([1000, 0, 1000], pa.int64()),
                   pa.array([1000, 0, 1000], pa.int64()).dictionary_encode()):
        got = column_from_arrow(pa.chunked_array([stored]), uid, "files")
        assert list(got.cat.categories) == [0, 1000] and got.cat.categories.dtype == "int64"
        assert got.tolist() == [1000, 0, 1000] and got.cat.codes.dtype.itemsize == 1
    # disk_usage was an int64 column with nulls (pandas' Int64): nulls stay nulls, not NaN floats
    got = column_from_arrow(pa.chunked_array([pa.array([4096, None], pa.int64())]), disk, "files")
    assert str(got.dtype) == "int64[pyarrow]" and got.iloc[0] == 4096 and pd.isna(got.iloc[1])
    for old in (pd.array([4096, None], dtype="Int64"), pd.Series([4096.0, float("nan")]),
                pd.Series([4096, None], dtype=object)):
        got = schema.coerce_column(pd.Series(old), disk, "files")
        assert str(got.dtype) == "int64[pyarrow]" and got.iloc[0] == 4096 and pd.isna(got.iloc[1])
    # a categorical with unsorted or unsigned categories becomes the contract's: sorted int64 numbers
    odd = pd.Series(pd.Categorical([7, 3, 7], categories=pd.Index([7, 3], dtype="uint32")))
    got = schema.coerce_column(odd, uid, "files")
    assert got.tolist() == [7, 3, 7] and list(got.cat.categories) == [3, 7] and got.cat.categories.dtype == "int64"
    with pytest.raises(ll.errors.SchemaError, match="uid holds nulls"):
        schema.coerce_column(pd.Series([0, None]), uid, "files")


def test_owners_of_two_sources_compare_and_merge_as_numbers(tmp_path):
    rows_a, rows_b = _rows("L1", [("/a", 0), ("/b", 1000)]), _rows("L2", [("/a", 0), ("/c", 65534)])
    a, b = (schema.validate(concat_files([r.frame()]), "files") for r in (rows_a, rows_b))
    assert list(a["uid"].cat.categories) != list(b["uid"].cat.categories)
    both = concat_files([a, b])  # categories differ: the union, still a byte a row
    assert sorted(both["uid"].astype("int64")) == [0, 0, 1000, 65534] and both["uid"].cat.codes.dtype.itemsize == 1
    m = a.merge(b, on=["path", "uid"], suffixes=("_a", "_b"))
    assert m["path"].tolist() == ["/a"]
    assert (pd.concat([a, b], ignore_index=True)["uid"].astype("int64") == [0, 1000, 0, 65534]).all()


def _rows(layer, entries):
    from layerlab.sources.layerfiles.rows import FileRows

    rows = FileRows(layer)
    for path, owner in entries:
        rows.add(path, "file", 1, 0o644, owner, owner, 0)
    return rows


def test_diff_of_two_sources_whose_owners_differ_compares_the_numbers():
    from layerlab.analyses import diff_images

    app = "layerlab/app:1"
    sample, vfs = ll.sample(), ll.sample("vfs")
    frames = vfs.frames()
    files = frames["files"].copy()
    big = files["path"] == "/data/big.bin"
    files["uid"] = schema.owner_codes(files["uid"].astype("int64").where(~big, 1000), "uid")
    other = ll.Inventory(dict(vfs.meta), {**frames, "files": files})
    assert list(other.files["uid"].cat.categories) != list(sample.files["uid"].cat.categories)
    d = diff_images(sample, "layerlab/base:1", app, source_b=other, progress=False)
    plain = diff_images(sample, "layerlab/base:1", app, source_b=vfs, progress=False)
    assert len(d) == len(plain) and set(d["status"]) == {"added"} and "/data/big.bin" in set(d["path"])
