"""Reading hosts' frames from their snapshots, as partitions of fleet-wide dask DataFrames.

A partition is a batch of whole hosts (never part of a host), so per-host questions never need a
shuffle. A batch's Parquet files are read by one Arrow dataset scan and turned into pandas once:
per-file pandas conversion cost more than the reading itself. Only the columns asked for are read
(dask passes ``columns``).
"""

from __future__ import annotations

import dask
import dask.dataframe as dd
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds  # imported with the module: a third of a second, paid once per worker
import pyarrow.parquet as pq

from ..frames import schema
from ..frames.snapshot import column_from_arrow
from .snapshots import FleetError, filesystem, is_url, open_parquet

HOST = "host"
Part = tuple[str, str]  # (snapshot, host)


def _column(arr, col: schema.Column, frame: str) -> pd.Series:
    return column_from_arrow(arr, col, frame)  # as a single snapshot's frames are read


def read_frame(parts: list[Part] | Part, frame: str, columns=None, storage_options: dict | None = None) -> pd.DataFrame:
    """Frame ``frame`` of the snapshots in ``parts`` (``(snapshot, host)`` pairs, or one pair),
    with a ``host`` column first, in the contract's dtypes.

    The batch's files are read by one Arrow dataset scan (C++, no Python per file), through one
    schema made from the contract: older snapshots store some columns plain or as int64, newer
    ones dictionary-encoded or narrower, and all-null columns as nulls."""
    if isinstance(parts, tuple):
        parts = [parts]
    spec = {c.name: c for c in schema.FRAMES[frame]}
    wanted = list(spec) if columns is None else [c for c in columns if c != HOST]
    read = read_schema(frame, wanted)
    tables, hosts = [], []
    for fs, by_file in _files_by_filesystem(parts, storage_options, frame):
        for table, host in _scan_every(fs, by_file, storage_options, frame, read):
            tables.append(table)
            hosts.append((host, table.num_rows))
    table = pa.concat_tables(tables) if tables else None
    n = table.num_rows if table is not None else 0
    host_col = pd.Series([h for h, k in hosts for _ in range(k)], dtype=schema.STRING)
    out = {HOST: host_col}
    for name in wanted:
        out[name] = _column(table.column(name), spec[name],
                            frame) if table is not None else pd.Series(dtype=spec[name].pandas_dtype())
    df = pd.DataFrame(out, index=pd.RangeIndex(n))
    return df if columns is None else df[list(columns)]


def _scan_every(fs, by_file: dict, storage_options: dict | None, frame: str, read: pa.Schema):
    """``_scan`` of every file, in the hosts' order. Snapshots written before times were microseconds
    store nanoseconds, which Arrow will not cast to microseconds where a value has finer digits: when
    a time column is read, files are scanned by the unit they store (one footer read each), and
    nanoseconds truncated toward the past as a single snapshot's are (schema.time_column)."""
    times = [f.name for f in read if pa.types.is_timestamp(f.type)]
    if not times:
        yield from _scan(fs, by_file, None, storage_options, frame, read, every=True)
        return
    groups: dict[str, dict] = {}
    for path, part in by_file.items():
        try:
            unit = pq.read_schema(path, filesystem=fs).field(times[0]).type.unit
        except (OSError, KeyError, pa.ArrowException):
            unit = "us"  # a damaged or odd file: the scan names it
        groups.setdefault("ns" if unit == "ns" else "us", {})[path] = part
    tables = {}
    for unit, files in groups.items():
        as_stored = pa.schema([f.with_type(pa.timestamp(unit, tz="UTC")) if f.name in times else f for f in read])
        for (path, _), (table, _) in zip(files.items(),
                                         _scan(fs, files, None, storage_options, frame, as_stored, every=True)):
            for name in times if unit == "ns" else ():
                floored = table.column(name).to_numpy().astype("datetime64[us]")  # numpy floors
                table = table.set_column(table.schema.get_field_index(name), name,
                                         pa.array(floored, type=pa.timestamp("us", tz="UTC"), from_pandas=True))
            tables[path] = table
    for path, (_, host) in by_file.items():
        yield tables[path], host


def read_schema(frame: str, names: list[str]) -> pa.Schema:
    """The Arrow types the columns ``names`` of ``frame`` are read as from a snapshot of any format:
    the widest each was stored in (plain or dictionary-encoded strings, int64 or narrower integers)."""
    wide = {schema.STRING: pa.large_string(), schema.PATH_STRING: pa.large_string(),
            schema.CATEGORY: pa.large_string(), schema.RAW: pa.binary(),
            schema.LIST: pa.list_(pa.string()), schema.BOOL: pa.bool_(), schema.TIME: pa.timestamp("us", tz="UTC"),
            schema.FLOAT: pa.float64()}
    return pa.schema([(name, wide.get(schema.column(frame, name).logical, pa.int64())) for name in names])


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


#: The columns ``find`` reads, in the types every snapshot format's can be read as.
FIND_SCHEMA = read_schema("files", FIND_COLUMNS)


def _condition(path, regex, sha256, size, prefix: str):
    """The Arrow expression ``find`` filters by; comparisons on ``path`` and ``size`` let the
    scanner skip row groups by their statistics."""
    terms = []
    if path is not None:
        terms.append(pc.field("path") == path)
    if regex is not None:
        if prefix:  # every match starts with prefix: a range the statistics can rule out
            terms.append((pc.field("path") >= prefix) & (pc.field("path") <= prefix + chr(0x10FFFF)))
        terms.append(pc.match_substring_regex(pc.field("path"), pattern=regex))
    if sha256 is not None:
        h = sha256.lower().removeprefix("sha256:")
        terms.append(pc.field("sha256").isin([h, f"sha256:{h}"]))
    if size is not None:
        terms.append(pc.field("size") == int(size))
    condition = terms[0]
    for term in terms[1:]:
        condition = condition & term
    return condition


def _files_by_filesystem(parts: list[Part], storage_options: dict | None, frame: str = "files"):
    """``(fs, {<frame>.parquet path: (snapshot, host)})`` for the hosts in ``parts``, one entry per
    filesystem (None for local files)."""
    groups: dict = {}
    for snapshot, host in parts:
        if is_url(snapshot):
            fs, base = filesystem(snapshot, storage_options)
        else:
            fs, base = None, snapshot
        groups.setdefault(id(fs), (fs, {}))[1][f"{base.rstrip('/')}/{frame}.parquet"] = (snapshot, host)
    return list(groups.values())


def _scan(fs, by_file: dict, condition, storage_options: dict | None, frame: str = "files",
          read: pa.Schema = FIND_SCHEMA, every: bool = False):
    """(rows, host) of each file, the rows matching ``condition`` (None: all), for every file when
    ``every`` else for those with some: one dataset scan, without threads (the tasks are the
    parallelism)."""
    try:
        dataset = ds.dataset(list(by_file), format="parquet", schema=read, filesystem=fs)
        scanner = dataset.scanner(columns=read.names, filter=condition, use_threads=False)
        found = {}
        for tagged in scanner.scan_batches():
            if tagged.record_batch.num_rows or every:
                found.setdefault(tagged.fragment.path, []).append(tagged.record_batch)
    except FileNotFoundError:
        raise
    except (OSError, pa.ArrowException) as e:
        # A file damaged in a way its size does not show (format 3 is checked by sizes): open each
        # to name it (open_parquet's FleetError), else say what the scan said.
        for snapshot, _ in by_file.values():
            with open_parquet(snapshot, frame, storage_options) as pf:
                pf.metadata
        raise FleetError(f"the hosts' {frame}.parquet could not be read ({type(e).__name__}: {str(e)[:300]}); "
                         "rescan the host it names or remove its snapshot") from None
    for path, (_, host) in by_file.items():  # in the hosts' order
        if path in found or every:
            yield pa.Table.from_batches(found.get(path, []), schema=read), host


def glob_prefix(pattern: str) -> str:
    """The literal start of a glob (before its first ``*``, ``?`` or ``[``): every match begins with it."""
    cut = min((i for i in (pattern.find(c) for c in "*?[") if i >= 0), default=len(pattern))
    return pattern[:cut]


def find_rows(parts: list[Part], *, path: str | None = None, regex: str | None = None, sha256: str | None = None,
              size: int | None = None, prefix: str = "", storage_options: dict | None = None) -> pd.DataFrame:
    """``files`` rows of the hosts in ``parts`` matching every condition given (an exact path, a
    path regex whose matches all start with ``prefix``, a content hash, a size), with ``host``.

    The hosts' ``files.parquet`` are read by Arrow's dataset scanner in one pass, in C++: only the
    row groups whose statistics allow a match are read (format 3 stores files sorted by path in
    small row groups, so a path lookup reads one of a host's dozens), the match runs on Arrow
    columns and only the matching rows become pandas. Snapshots of every format are read through
    one schema (older ones store these columns plain, newer ones dictionary-encoded)."""
    found, hosts = [], []
    if parts and any(v is not None for v in (path, regex, sha256, size)):
        condition = _condition(path, regex, sha256, size, prefix)
        for fs, by_file in _files_by_filesystem(parts, storage_options):
            for table, host in _scan(fs, by_file, condition, storage_options):
                found.append(table)
                hosts += [host] * table.num_rows
    spec = {c.name: c for c in schema.FRAMES["files"]}
    out = {HOST: pd.Series(hosts, dtype=schema.STRING)}
    table = pa.concat_tables(found, promote_options="permissive") if found else None
    for name in FIND_COLUMNS:
        out[name] = _column(table.column(name), spec[name], "files") if table is not None \
            else pd.Series(dtype=spec[name].pandas_dtype())
    return pd.DataFrame(out, index=pd.RangeIndex(len(hosts)))
