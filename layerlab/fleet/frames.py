"""Reading hosts' frames from their snapshots, as partitions of fleet-wide dask DataFrames.

A partition is a batch of whole hosts (never part of a host), so per-host questions never need a
shuffle. A batch's Parquet files are read with pyarrow and joined as Arrow tables, then turned
into pandas once: per-file pandas conversion cost more than the reading itself. Only the columns
asked for are read (dask passes ``columns``).
"""

from __future__ import annotations

import dask
import dask.dataframe as dd
import pandas as pd
import pyarrow as pa

from ..frames import schema
from ..frames.snapshot import column_from_arrow
from .snapshots import open_parquet

HOST = "host"
Part = tuple[str, str]  # (snapshot, host)


def _column(arr, col: schema.Column, frame: str) -> pd.Series:
    return column_from_arrow(arr, col, frame)  # as a single snapshot's frames are read


def _plain(table: pa.Table) -> pa.Table:
    """``table`` with dictionary columns (categoricals) as their values, so that snapshots that
    stored a column plain (older ones) and dictionary-encoded concatenate."""
    for i, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(field.type.value_type))
    return table


def _read_table(snapshot: str, frame: str, columns: list[str], storage_options: dict | None) -> pa.Table:
    with open_parquet(snapshot, frame, storage_options) as pf:
        return pf.read(columns=columns, use_threads=False)  # the tasks are the parallelism


def read_frame(parts: list[Part] | Part, frame: str, columns=None, storage_options: dict | None = None) -> pd.DataFrame:
    """Frame ``frame`` of the snapshots in ``parts`` (``(snapshot, host)`` pairs, or one pair),
    with a ``host`` column first, in the contract's dtypes."""
    if isinstance(parts, tuple):
        parts = [parts]
    spec = {c.name: c for c in schema.FRAMES[frame]}
    wanted = list(spec) if columns is None else [c for c in columns if c != HOST]
    tables, hosts = [], []
    for snapshot, host in parts:
        t = _plain(_read_table(snapshot, frame, wanted, storage_options))
        tables.append(t)
        hosts.append((host, t.num_rows))
    # An all-null column is typed null in one file and string in the next, an integer column int64
    # in older snapshots and narrower in newer ones: promote to the wider.
    table = pa.concat_tables(tables, promote_options="permissive") if tables else None
    n = table.num_rows if table is not None else 0
    host_col = pd.Series([h for h, k in hosts for _ in range(k)], dtype=schema.STRING)
    out = {HOST: host_col}
    for name in wanted:
        out[name] = _column(table.column(name), spec[name], frame) if table is not None else pd.Series(dtype=spec[name].pandas_dtype())
    df = pd.DataFrame(out, index=pd.RangeIndex(n))
    return df if columns is None else df[list(columns)]


def empty(frame: str) -> pd.DataFrame:
    """The meta (no rows) of a fleet frame: ``host`` then the contract's columns."""
    return pd.concat([pd.DataFrame({HOST: pd.Series(dtype=schema.STRING)}), schema.empty(frame)], axis=1)


def fleet_frame(batches: list[list[Part]], frame: str, storage_options: dict | None = None) -> dd.DataFrame:
    """A dask DataFrame of ``frame`` over every snapshot, one partition per batch of hosts."""
    # dask turns object columns into Arrow strings by default; the contract's list columns
    # (tags, digests, compressed) and raw bytes must stay Python objects.
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_map(
            read_frame, batches, frame=frame, storage_options=storage_options, meta=empty(frame),
            label=f"fleet-{frame}", enforce_metadata=False,
        )


def listed_layers(images: pd.DataFrame, image_layers: pd.DataFrame) -> pd.DataFrame:
    """The distinct image layers of each host's listed images (``docker images``, not intermediates):
    ``host``, ``layer_id``, ``size``, the rows whose sum is a host's ``summary --json``
    ``totals.physical_size``."""
    listed = images.loc[~images["intermediate"], [HOST, "image_id"]]
    il = image_layers[[HOST, "image_id", "layer_id", "size"]].merge(listed, on=[HOST, "image_id"])
    return il.drop_duplicates([HOST, "layer_id"])[[HOST, "layer_id", "size"]].reset_index(drop=True)


def read_host_layers(parts: list[Part], storage_options: dict | None = None) -> pd.DataFrame:
    """``listed_layers`` of the hosts in ``parts``, read from their snapshots."""
    images = read_frame(parts, "images", [HOST, "image_id", "intermediate"], storage_options)
    il = read_frame(parts, "image_layers", [HOST, "image_id", "layer_id", "size"], storage_options)
    return listed_layers(images, il)


def host_layers_frame(batches: list[list[Part]], storage_options: dict | None = None) -> dd.DataFrame:
    meta = empty("image_layers")[[HOST, "layer_id", "size"]]
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_map(read_host_layers, batches, storage_options=storage_options, meta=meta,
                           label="fleet-host-layers", enforce_metadata=False)


def batches(parts: list[Part], slots: int, most: int = 32, per_slot: int = 4) -> list[list[Part]]:
    """``parts`` cut into batches: about ``per_slot`` per task slot (worker thread; so work
    spreads), at most ``most`` hosts each (so a partition of large hosts' files stays a few hundred MB)."""
    size = max(1, min(most, -(-len(parts) // max(per_slot * slots, 1))))
    return [parts[i:i + size] for i in range(0, len(parts), size)]


# Batches of the tasks whose results are small (checking snapshots, reading the small frames, find):
# each task costs some scheduling and pandas work, and their results need no partition size limit
# (docs/fleet.md: on 500 hosts, find in 32 tasks took 10-30% more CPU than in 4).
COARSE = {"per_slot": 2, "most": 256}

FIND_COLUMNS = ["layer_id", "path", "kind", "size", "sha256"]


def _values(arr):
    """A column as its values: dictionary-encoded columns (categoricals in newer snapshots) decoded,
    so the same match works on every snapshot's files."""
    return arr.cast(arr.type.value_type) if pa.types.is_dictionary(arr.type) else arr


def _match(t: pa.Table, path, regex, sha256, size):
    import pyarrow.compute as pc

    masks = []
    if path is not None:
        masks.append(pc.equal(_values(t["path"]), path))
    if regex is not None:
        masks.append(pc.match_substring_regex(_values(t["path"]), regex))
    if sha256 is not None:
        h = sha256.lower().removeprefix("sha256:")
        masks.append(pc.is_in(_values(t["sha256"]), pa.array([h, f"sha256:{h}"])))
    if size is not None:
        masks.append(pc.equal(t["size"], int(size)))
    mask = masks[0]
    for m in masks[1:]:
        mask = pc.and_(mask, m)
    return pc.fill_null(mask, False)


def glob_prefix(pattern: str) -> str:
    """The literal start of a glob (before its first ``*``, ``?`` or ``[``): every match begins with it."""
    cut = min((i for i in (pattern.find(c) for c in "*?[") if i >= 0), default=len(pattern))
    return pattern[:cut]


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


def find_rows(parts: list[Part], *, path: str | None = None, regex: str | None = None, sha256: str | None = None,
              size: int | None = None, prefix: str = "", storage_options: dict | None = None) -> pd.DataFrame:
    """``files`` rows of the hosts in ``parts`` matching every condition given (an exact path, a
    path regex whose matches all start with ``prefix``, a content hash, a size), with ``host``.

    Only the row groups whose statistics allow a match are read (``row_groups``), the match runs
    on Arrow columns and only the matching rows become pandas: a fleet's files rows are tens of
    millions, the matches a few. ``layer_id`` and ``kind`` are read as Parquet stores them,
    dictionary-encoded (a few distinct values), and decoded for the matches only."""
    import pyarrow.compute as pc

    spec = {c.name: c for c in schema.FRAMES["files"]}
    ranges = {}
    if path is not None:
        ranges["path"] = (path, path)
    elif prefix:
        ranges["path"] = (prefix, prefix + chr(0x10FFFF))  # every string that starts with prefix
    if size is not None:
        ranges["size"] = (int(size), int(size))
    found, hosts = [], []
    if any(v is not None for v in (path, regex, sha256, size)):
        for snapshot, host in parts:
            with open_parquet(snapshot, "files", storage_options, read_dictionary=["layer_id", "kind"]) as pf:
                groups = row_groups(pf.metadata, ranges)
                if not groups:
                    continue
                # A path lookup reads the path column first and the others only where it matched:
                # most hosts of a fleet do not carry a given file. (use_threads=False: the tasks
                # are the parallelism.)
                first = ["path"] if sha256 is None and size is None else FIND_COLUMNS
                t = pf.read_row_groups(groups, columns=first, use_threads=False)
                mask = _match(t, path, regex, sha256, size)
                if first is not FIND_COLUMNS:
                    if not pc.any(mask).as_py():
                        continue
                    rest = [c for c in FIND_COLUMNS if c not in first]
                    t = pa.Table.from_arrays([*pf.read_row_groups(groups, columns=rest, use_threads=False).columns,
                                              t["path"]], names=[*rest, "path"]).select(FIND_COLUMNS)
            hit = _plain(t.filter(mask))  # old and new snapshots' dictionaries differ
            if hit.num_rows:
                found.append(hit)
                hosts += [host] * hit.num_rows
    out = {HOST: pd.Series(hosts, dtype=schema.STRING)}
    table = pa.concat_tables(found, promote_options="permissive") if found else None
    for name in FIND_COLUMNS:
        out[name] = _column(table.column(name), spec[name], "files") if table is not None \
            else pd.Series(dtype=spec[name].pandas_dtype())
    return pd.DataFrame(out, index=pd.RangeIndex(len(hosts)))
