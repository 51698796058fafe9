"""A damaged snapshot fails with a SnapshotError naming the file, never loads wrong or half."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import layerlab as ll


@pytest.fixture
def snap(tmp_path):
    return Path(ll.sample().save(tmp_path / "s.layerlab"))


def _rewrite(file: Path, fn):
    pq.write_table(fn(pq.read_table(file)), file)


def _replace(table: pa.Table, name: str, array) -> pa.Table:
    i = table.column_names.index(name)
    return table.set_column(i, name, array)


def _load_all(path):
    return ll.load(path).frames()


CASES = {
    "tags stored as a string": ("images", lambda t: _replace(t, "tags", pa.array(["latest"] * t.num_rows))),
    "created stored as int64": ("images", lambda t: _replace(t, "created", pc.cast(t.column("created"), pa.int64()))),
    "size stored as strings": ("layers", lambda t: _replace(t, "size", pc.cast(t.column("size"), pa.string()))),
    "a missing column": ("history", lambda t: t.drop(["created_by"])),
    "containers emptied": ("containers", lambda t: t.slice(0, 0)),
    "nulls in an int column": ("files", lambda t: _replace(t, "size", pa.array([None] * t.num_rows, pa.int64()))),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_frame_that_breaks_the_contract_names_the_file(snap, case):
    frame, fn = CASES[case]
    _rewrite(snap / f"{frame}.parquet", fn)
    with pytest.raises(ll.SnapshotError, match=rf"{frame}\.parquet"):
        _load_all(snap)


def test_a_truncated_parquet_file_names_the_file(snap):
    f = snap / "files.parquet"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(ll.SnapshotError, match=r"files\.parquet is not a readable Parquet file"):
        _load_all(snap)


def test_a_layer_missing_from_layers_is_caught(snap):
    layers = pq.read_table(snap / "layers.parquet")
    used = pq.read_table(snap / "image_layers.parquet").column("layer_id").to_pylist()
    keep = pc.invert(pc.equal(layers.column("layer_id"), used[0]))
    pq.write_table(layers.filter(keep), snap / "layers.parquet")
    meta = json.loads((snap / "meta.json").read_text())
    meta["rows"]["layers"] -= 1  # consistent counts: only the reference is broken
    (snap / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ll.SnapshotError, match=r"layers\.parquet lacks layers that image_layers uses"):
        _load_all(snap)


@pytest.mark.parametrize("meta", ["[1, 2]", '{"format_version": 1, "rows": "many"}'])
def test_a_meta_json_of_the_wrong_shape_is_a_snapshot_error(snap, meta):
    (snap / "meta.json").write_text(meta)
    with pytest.raises(ll.SnapshotError, match=r"meta\.json"):
        _load_all(snap)


def test_an_intact_snapshot_still_loads_whole(snap):
    inv = ll.load(snap)
    sample = ll.sample()
    for name, df in inv.frames().items():
        assert len(df) == len(sample.frames()[name]), name
