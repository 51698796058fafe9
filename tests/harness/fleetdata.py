"""Host snapshots for fleet tests: the demo fleet's makers (``layerlab.fleet.demo``), and ways to
break a snapshot as real life does (an interrupted copy, a newer format)."""

from __future__ import annotations

import json
from pathlib import Path

from layerlab.fleet.demo import host_id_for, host_snapshot, make_fleet, subset  # noqa: F401


def set_meta(snapshot, **changes) -> None:
    """Change fields of a snapshot's meta.json (for bad-input tests: a future format and the like)."""
    path = Path(snapshot) / "meta.json"
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta, indent=2) + "\n")


def truncate(file, keep: float = 0.5) -> None:
    """Cut a file to ``keep`` of its length, as an interrupted copy leaves it."""
    path = Path(file)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _rewrite_files(snapshot, table, *, row_group_size=None, **meta_changes) -> None:
    """Write ``table`` as the snapshot's files.parquet and update meta.json (bytes, when kept)."""
    import pyarrow.parquet as pq

    path = Path(snapshot)
    cats = [n for n in ("layer_id", "kind", "link_target", "sha256", "path_raw") if n in table.column_names
            and str(table.schema.field(n).type).startswith("dictionary")]
    pq.write_table(table, path / "files.parquet", compression="zstd", use_dictionary=cats or False,
                   row_group_size=row_group_size)
    meta = json.loads((path / "meta.json").read_text())
    meta.update(meta_changes)
    if "bytes" in meta:
        meta["bytes"]["files"] = (path / "files.parquet").stat().st_size
    (path / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")


def without_fleet_index(snapshot) -> None:
    """A snapshot as format 4 wrote it before round 8: no fleet_index.parquet (each frame in its own
    file only, as they still are beside it), and meta.json without its size."""
    path = Path(snapshot)
    (path / "fleet_index.parquet").unlink()
    meta = json.loads((path / "meta.json").read_text())
    meta.get("bytes", {}).pop("fleet_index", None)
    (path / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")


def as_format2(snapshot) -> None:
    """Turn a (format-3) snapshot into what format 2 wrote: the files in the types of then (``mode``,
    ``uid``, ``gid`` int64; ``link_target``, ``sha256`` plain strings; ``path_raw`` plain binary),
    in another order than path order (here: reversed) in one row group, and meta.json without the
    files' byte sizes. The rows are the snapshot's own, re-encoded."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.ParquetFile(Path(snapshot) / "files.parquet").read()
    table = table.take(pc.sort_indices(table["path"], sort_keys=[("", "descending")]))
    wide = {"mode": pa.int64(), "uid": pa.int64(), "gid": pa.int64(), "link_target": pa.large_string(),
            "sha256": pa.large_string(), "path_raw": pa.binary()}
    for i, field in enumerate(table.schema):
        if field.name in wide:
            col = table.column(i)
            col = col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col
            table = table.set_column(i, field.name, col.cast(wide[field.name]))
    without_fleet_index(snapshot)
    path = Path(snapshot)
    meta = json.loads((path / "meta.json").read_text())
    meta.pop("bytes", None)
    (path / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    _rewrite_files(snapshot, table, format_version=2)


def with_narrow_files(snapshot) -> None:
    """Store a snapshot's files frame in the narrow types (``mode`` uint16, ``uid``/``gid`` uint32,
    ``link_target``/``sha256``/``path_raw`` dictionary-encoded) whatever the writer gave, in row
    groups of 64 rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.ParquetFile(Path(snapshot) / "files.parquet").read()
    narrow = {"mode": pa.uint16(), "uid": pa.uint32(), "gid": pa.uint32()}
    for i, field in enumerate(table.schema):
        if field.name in narrow:
            table = table.set_column(i, field.name, table.column(i).cast(narrow[field.name]))
        elif field.name in ("link_target", "sha256", "path_raw"):
            col = table.column(i)
            plain = col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col
            table = table.set_column(i, field.name, plain.dictionary_encode())
    _rewrite_files(snapshot, table, row_group_size=64)


def row_groups(md, ranges: dict) -> list[int]:
    """The row groups of a Parquet file (its ``FileMetaData``) whose min/max statistics may hold a
    match: ``ranges`` maps a column to an inclusive ``(low, high)``. Format-3 snapshots store files
    sorted by path in small row groups, so a path lookup keeps one group of a host's dozens; older
    snapshots have one row group, kept unless the value lies outside its whole range."""
    at = {md.row_group(0).column(i).path_in_schema: i for i in range(md.num_columns)} if md.num_row_groups else {}
    keep = []
    for g in range(md.num_row_groups):
        rg = md.row_group(g)
        ok = True
        for column, (low, high) in ranges.items():
            st = rg.column(at[column]).statistics if column in at else None
            if st is not None and st.has_min_max and (st.max < low or st.min > high):
                ok = False
                break
        if ok:
            keep.append(g)
    return keep


def scan_as(host: str, machine_id: str, root, out, work, *, at: str | None = None, hash: bool = False) -> None:
    """``layerlab scan`` run as another host would run it: in new UTS and mount namespaces with its
    own hostname and /etc/machine-id (bind-mounted, as a DaemonSet pod mounts the node's); with
    ``at`` (``YYYY-MM-DD HH:MM:SS``, UTC), under libfaketime's clock started at that time, as a
    nightly cron run on that day would be (only the clock: file times are read as they are)."""
    import os
    import subprocess
    import sys

    work = Path(work)
    mid = work / f"{host}.machine-id"
    mid.write_text(machine_id + "\n")
    script = 'hostname "$1" && mount --bind "$2" /etc/machine-id && shift 2 && exec "$@"'
    clock = ["faketime", "-f", f"@{at}"] if at else []
    env = {**os.environ, "TZ": "UTC", "NO_FAKE_STAT": "1", "FAKETIME_DONT_RESET": "1"}
    cmd = ["unshare", "--mount", "--uts", "--propagation", "private", "sh", "-c", script, "sh", host, str(mid),
           *clock, sys.executable, "-m", "layerlab.cli", "scan", str(root), "-o", str(out), "-q",
           *(["--hash"] if hash else [])]
    subprocess.run(cmd, check=True, capture_output=True, timeout=600, env=env)
