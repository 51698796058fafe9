"""Reading hosts' frames from their snapshots, as partitions of fleet-wide dask DataFrames.

A partition is a batch of whole hosts (never part of a host), so per-host questions never need a
shuffle. Each of a batch's Parquet files is read by ``pyarrow.parquet`` (only the columns asked
for: dask passes ``columns``; only the row groups a lookup's statistics allow), and the batch is
turned into pandas once: per-file pandas conversion cost more than the reading itself.
"""

from __future__ import annotations

import contextlib
import os
import stat

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .._files import read_sized
from ..frames import schema
from ..frames.snapshot import FLEET_INDEX, FLEET_INDEX_FILE, column_from_arrow
from .snapshots import FleetError, filesystem, is_url

HOST = "host"
Part = tuple[str, str]  # (snapshot, host)


def _column(arr, col: schema.Column, frame: str) -> pd.Series:
    return column_from_arrow(arr, col, frame)  # as a single snapshot's frames are read


def read_frame(parts: list[Part] | Part, frame: str, columns=None, storage_options: dict | None = None) -> pd.DataFrame:
    """Frame ``frame`` of the snapshots in ``parts`` (``(snapshot, host)`` pairs, or one pair),
    with a ``host`` column first, in the contract's dtypes (``read_frames`` of one frame)."""
    if isinstance(parts, tuple):
        parts = [parts]
    return read_frames(parts, {frame: columns}, storage_options)[frame]


def read_frames(parts: list[Part], wanted: dict, storage_options: dict | None = None) -> dict[str, pd.DataFrame]:
    """Frames of the snapshots in ``parts``: ``{frame: columns or None (all)}`` to ``{frame: DataFrame}``,
    each with a ``host`` column first, in the contract's dtypes.

    The frames whose columns asked for are all in a snapshot's ``fleet_index.parquet`` come from it
    when it has one, every such frame in one read of it (one small footer a host); the others, and
    snapshots written before it, from one Parquet file per frame. Each file is read by
    ``pyarrow.parquet`` (only the columns asked for) and cast to one schema made from the contract:
    older snapshots store some columns plain or as int64, newer ones dictionary-encoded or narrower,
    and all-null columns as nulls. The batch becomes pandas once per frame."""
    plans = {}
    for frame, columns in wanted.items():
        spec = {c.name: c for c in schema.FRAMES[frame]}
        names = list(spec) if columns is None else [c for c in columns if c != HOST]
        plans[frame] = (spec, names, read_schema(frame, names), columns)
    indexed = {f: plans[f][2] for f in wanted if f in FLEET_INDEX and set(plans[f][1]) <= set(FLEET_INDEX[f])}
    got = _read_indexed(parts, storage_options, indexed) if indexed else {}
    out = {}
    for frame, (spec, names, read, columns) in plans.items():
        table, hosts = got[frame] if frame in got else _read_batch(parts, storage_options, frame, read)
        out[frame] = _as_pandas(table, hosts, names, spec, frame, columns)
    return out


def _as_pandas(table, hosts, names, spec, frame, columns) -> pd.DataFrame:
    n = table.num_rows if table is not None else 0
    out = {HOST: host_column(hosts)}
    for name in names:
        out[name] = _column(table.column(name), spec[name],
                            frame) if table is not None else pd.Series(dtype=spec[name].pandas_dtype())
    df = pd.DataFrame(out, index=pd.RangeIndex(n))
    return df if columns is None else df[list(columns)]


def host_column(hosts: list[tuple[str, int]]) -> pd.Series:
    """The ``host`` column of a batch: each ``(host, rows)`` repeated, without a Python loop per row."""
    names = np.array([h for h, _ in hosts], dtype=object)
    return pd.Series(np.repeat(names, [k for _, k in hosts]), dtype=schema.STRING)


# A remote batch's files are fetched this many at a time, concurrently (s3fs's ``cat`` of a list):
# a fleet's files are small (kBs to a few MB), so a request's latency, not its bytes, is the cost.
REMOTE_ROUND = 32


# A local file up to this size is read whole, in one system call, and parsed from memory: pyarrow
# reading a small file through an OSFile makes a call per footer and column chunk, a fifth of its
# CPU time on a fleet's files of a few kB (measured). A larger one is opened, so that a lookup reads
# only the row groups it needs. From memory there is nothing to pre-buffer (pre_buffer=False: 5% less).
WHOLE_FILE = 4 << 20


def _whole(path: str):
    """A local file's bytes, or its path when it is larger than ``WHOLE_FILE`` (to be opened)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # non-blocking: a FIFO put there never hangs
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"{path} is not a regular file")
        if st.st_size > WHOLE_FILE:
            return path
        return pa.py_buffer(read_sized(f, None))  # cut short since: the Parquet footer check says so


def _sources(fs, paths: list[str]):
    """``(path, what ParquetFile opens, or the error)`` of each file: a local file's bytes
    (``_whole``) or its path, or a remote file's bytes, fetched ``REMOTE_ROUND`` at a time with one
    concurrent ``cat``."""
    if fs is None:
        for p in paths:
            try:
                yield p, _whole(p)
            except OSError as e:
                yield p, e
        return
    for i in range(0, len(paths), REMOTE_ROUND):
        chunk = paths[i:i + REMOTE_ROUND]
        got = fs.cat(chunk, on_error="return")
        for p in chunk:
            data = got.get(p, got.get(fs._strip_protocol(p)))
            if isinstance(data, BaseException):
                yield p, data
            elif data is None:
                yield p, FileNotFoundError(p)
            else:
                yield p, pa.py_buffer(data)


def _unreadable(snapshot: str, frame: str, e: BaseException) -> FleetError:
    # A file damaged in a way its size does not show (format 3 is checked by sizes) is found when
    # read: name it rather than fail from deep inside pyarrow.
    said = " ".join(str(e).split())[:200]  # one line: pyarrow's messages end with a newline
    return FleetError(f"{snapshot}/{frame}.parquet is unreadable ({type(e).__name__}: {said}); "
                      "rescan that host or remove its snapshot", path=snapshot)


def _as_read(table: pa.Table, read: pa.Schema) -> pa.Table:
    """``table`` in the types of ``read``: strings and integers widened, dictionaries decoded, a
    column the file lacks as nulls, and nanosecond times (snapshots before format 4) floored to
    microseconds as a single snapshot's are (Arrow will not cast a value with finer digits)."""
    arrays = []
    for field in read:
        if field.name not in table.column_names:
            arrays.append(pa.nulls(table.num_rows, field.type))
            continue
        col = table.column(field.name)
        if pa.types.is_timestamp(col.type) and col.type.unit == "ns":
            floored = col.to_numpy().astype("datetime64[us]")  # numpy floors
            col = pa.array(floored, type=field.type, from_pandas=True)
        elif col.type != field.type:
            col = col.cast(field.type)
        arrays.append(col)
    return pa.Table.from_arrays(arrays, schema=read)


@contextlib.contextmanager
def _parquet(source):
    """The ParquetFile of what ``_sources`` gave: a local path (opened, its reads pre-buffered), bytes in
    memory (nothing to pre-buffer), or the error met getting them (raised)."""
    if isinstance(source, BaseException):
        raise source
    local = isinstance(source, str)
    with (pa.OSFile(source) if local else pa.BufferReader(source)) as opened, \
            pq.ParquetFile(opened, pre_buffer=local) as pf:
        yield pf


def _same_schema(by_schema: list, stored: pa.Schema) -> list:
    """The members' list of ``by_schema`` (``[(stored schema, members)]``) whose schema equals ``stored``,
    added when there is none yet: Schema.equals rather than a dict keyed by schema, since hashing a
    schema cost more than reading a column."""
    members = next((m for schema_, m in by_schema if schema_.equals(stored)), None)
    if members is None:
        by_schema.append((stored, members := []))
    return members


def _read_files(fs, by_file: dict, frame: str, names: list[str], keep_group):
    """``(table as stored, snapshot, host)`` of each file in ``by_file``, in its order: the columns
    ``names`` it has, of the row groups ``keep_group(metadata, group)`` allows (None: all; a file
    with no group kept is left out).

    One ``ParquetFile`` per file, not a dataset scan: on a fleet's small files the dataset layer
    cost about twice the CPU time per file (measured: 0.40 against 0.22 ms a host's images)."""
    for path, source in _sources(fs, list(by_file)):
        snapshot, host = by_file[path]
        if isinstance(source, FileNotFoundError):
            raise source
        try:
            with _parquet(source) as pf:
                # a column the file lacks (an older format's) is left out by pyarrow, then made nulls
                # by _as_read: asking the file's schema first cost more than reading a column
                if keep_group is None:
                    table = pf.read(columns=names, use_threads=False)
                else:
                    groups = [g for g in range(pf.metadata.num_row_groups) if keep_group(pf.metadata, g)]
                    if not groups:
                        continue
                    table = pf.read_row_groups(groups, columns=names, use_threads=False)
        except FileNotFoundError:
            raise
        except (OSError, pa.ArrowException) as e:
            raise _unreadable(snapshot, frame, e) from None
        yield table, snapshot, host


def _read_batch(parts: list[Part], storage_options: dict | None, frame: str, read: pa.Schema, keep_group=None):
    """``(one table of the batch's rows in the types of read, [(host, rows)])`` of ``frame`` of the
    hosts in ``parts`` (a host's rows together, in the order of ``parts``; the table is None when no
    file gave rows). The files of a batch mostly share one stored schema: they are joined as stored
    and cast once per schema (``_as_read``), not once per file (0.04 ms a file, measured)."""
    by_schema: list = []  # [(stored schema, [(position in the batch, table, snapshot)])]
    hosts = []
    for fs, by_file in _files_by_filesystem(parts, storage_options, frame):
        for table, snapshot, host in _read_files(fs, by_file, frame, read.names, keep_group):
            _same_schema(by_schema, table.schema).append((len(hosts), table, snapshot))
            hosts.append((host, table.num_rows))
    pieces = []  # (positions, table, hosts) of each stored schema
    for _, members in by_schema:
        try:
            cast = _as_read(pa.concat_tables([t for _, t, _ in members]), read)
        except (pa.ArrowException, ValueError, OverflowError):  # name the snapshot whose file will not cast
            for _, t, snapshot in members:
                try:
                    _as_read(t, read)
                except (pa.ArrowException, ValueError, OverflowError) as e:
                    raise _unreadable(snapshot, frame, e) from None
            raise
        positions = [i for i, _, _ in members]
        pieces.append((positions, cast, [hosts[i] for i in positions]))
    return _in_order(pieces)  # files of several stored schemas: back to the hosts' order


# A remote batch's hosts are asked for fleet_index.parquet a round at a time; after a round where
# no host had one (a fleet written before it), the next rounds read the per-frame files straight
# away (every snapshot has those), asking again every PROBE_EVERY rounds: no 404 a host on old fleets.
PROBE_EVERY = 8


def _index_sources(parts: list[Part], storage_options: dict | None):
    """``(snapshot, host, what ParquetFile opens or the error)`` of each host's fleet_index.parquet
    that is read; a host whose snapshot has none (or not asked for, see PROBE_EVERY) gives None."""
    for fs, by_file in _files_by_filesystem(parts, storage_options, FLEET_INDEX_FILE):
        paths = list(by_file)
        if fs is None:
            for path, source in _sources(None, paths):
                yield *by_file[path], None if isinstance(source, FileNotFoundError) else source
            continue
        found_last, rounds = True, 0
        for i in range(0, len(paths), REMOTE_ROUND):
            chunk = paths[i:i + REMOTE_ROUND]
            rounds += 1
            if not found_last and (rounds - 1) % PROBE_EVERY:
                for path in chunk:
                    yield *by_file[path], None
                continue
            found_last = False
            for path, source in _sources(fs, chunk):
                missing = isinstance(source, FileNotFoundError)
                found_last |= not missing
                yield *by_file[path], None if missing else source


def _read_indexed(parts: list[Part], storage_options: dict | None, reads: dict[str, pa.Schema]) -> dict:
    """``{frame: (table in the types of reads[frame], [(host, rows)])}`` of the frames in ``reads``
    (``FLEET_INDEX`` columns only), each host's from one read of its ``fleet_index.parquet``, or, for a
    snapshot without one, from its per-frame files (``_read_batch``); hosts in ``parts``' order."""
    names = ["frame", *dict.fromkeys(n for read in reads.values() for n in read.names)]
    at = {(s, h): i for i, (s, h) in enumerate(parts)}
    by_schema: list = []  # [(stored schema, [(position in parts, table, snapshot, host)])]
    old = []
    for snapshot, host, source in _index_sources(parts, storage_options):
        if source is None:
            old.append((snapshot, host))
            continue
        try:
            with _parquet(source) as pf:
                table = pf.read(columns=names, use_threads=False)
        except FileNotFoundError:
            raise
        except (OSError, pa.ArrowException) as e:
            raise _unreadable(snapshot, FLEET_INDEX_FILE, e) from None
        if "frame" not in table.column_names:
            raise _unreadable(snapshot, FLEET_INDEX_FILE, ValueError("no frame column"))
        if table.num_columns < len(names):  # an index without a column asked for: the frames' own files
            old.append((snapshot, host))
            continue
        _same_schema(by_schema, table.schema).append((at[snapshot, host], table, snapshot, host))
    # each schema's tables joined once, in one chunk: a kernel over 256 one-file chunks cost ms a call
    joined = [(members, pa.concat_tables([t for _, t, _, _ in members]).combine_chunks()) for _, members in by_schema]
    out = {}
    for frame, read in reads.items():
        pieces = []  # (positions, table, hosts)
        for members, table in joined:
            mine = pc.equal(table["frame"], frame).combine_chunks()
            # each host's rows of this frame: its rows are together, in members' order
            bounds = np.cumsum([0] + [t.num_rows for _, t, _, _ in members])
            running = np.concatenate([[0], np.cumsum(mine.to_numpy(zero_copy_only=False), dtype=np.int64)])
            counts = running[bounds[1:]] - running[bounds[:-1]]
            try:
                kept = _as_read(table.filter(mine).select(read.names), read)
            except (pa.ArrowException, ValueError, OverflowError) as e:
                raise _unreadable(members[0][2] if len(members) == 1 else f"one of {len(members)} hosts' snapshots",
                                  FLEET_INDEX_FILE, e) from None
            pieces.append(([p for p, _, _, _ in members], kept, [(m[3], int(k)) for m, k in zip(members, counts)]))
        if old:
            table, hosts = _read_batch(old, storage_options, frame, read)
            if table is not None:
                pieces.append(([at[p] for p in old], table, hosts))
        out[frame] = _in_order(pieces)
    return out


def _in_order(pieces: list) -> tuple:
    """``(table, [(host, rows)])`` of ``pieces`` (``(positions, table, hosts)``) joined in the order of
    the positions (a host's rows together)."""
    if not pieces:
        return None, []
    order = [p for positions, _, _ in pieces for p in positions]
    hosts = [h for _, _, hs in pieces for h in hs]
    table = pa.concat_tables([t for _, t, _ in pieces]) if len(pieces) > 1 else pieces[0][1]
    if order != sorted(order):
        starts = np.cumsum([0] + [k for _, k in hosts])
        by_position = np.argsort(order, kind="stable")
        rows = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in by_position])
        table = table.take(pa.array(rows))
        hosts = [hosts[i] for i in by_position]
    return table, hosts


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
    """The mask ``find`` keeps a row group's rows by, as a function of the table (Arrow compute
    kernels: ``Table.filter`` of an expression goes through Acero, 0.3-0.5 ms a call, more than a
    small file's read); ``_may_hold`` picks the groups."""
    h = sha256.lower().removeprefix("sha256:") if sha256 is not None else None

    def mask(table: pa.Table):
        terms = []
        if path is not None:
            terms.append(pc.equal(table["path"], path))
        if regex is not None:
            # every match starts with prefix: RE2 need not run on other rows' paths, and the
            # statistics (``_may_hold``) have ruled out most groups of those
            terms.append(pc.match_substring_regex(table["path"], pattern=regex))
        if h is not None:
            terms.append(pc.is_in(table["sha256"], value_set=pa.array([h, f"sha256:{h}"], type=pa.large_string())))
        if size is not None:
            terms.append(pc.equal(table["size"], int(size)))
        out = terms[0]
        for term in terms[1:]:
            out = pc.and_kleene(out, term)
        return pc.fill_null(out, False)

    return mask


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


def _may_hold(path: str | None, prefix: str, size: int | None):
    """``keep_group(metadata, group)`` for ``_read``: whether a row group's min/max statistics allow a
    row with ``path``, a path starting with ``prefix``, or ``size`` (None when nothing narrows it).
    Format 3 stores files sorted by path in small row groups, so a path lookup reads one of a
    host's dozens; a group without statistics is read."""
    if path is None and not prefix and size is None:
        return None
    ranges = []
    if path is not None:
        ranges.append(("path", path, path))
    elif prefix:
        ranges.append(("path", prefix, prefix + chr(0x10FFFF)))
    if size is not None:
        ranges.append(("size", int(size), int(size)))

    def keep_group(md, group: int) -> bool:
        names = md.schema.names
        rg = md.row_group(group)
        for name, low, high in ranges:
            if name not in names:
                continue
            st = rg.column(names.index(name)).statistics
            if st is None or not st.has_min_max:
                continue
            lo, hi = st.min, st.max
            if isinstance(lo, bytes) and isinstance(low, str):  # a string column stored without its logical type
                low, high = low.encode(), high.encode()
            if hi < low or lo > high:
                return False
        return True

    return keep_group


def glob_prefix(pattern: str) -> str:
    """The literal start of a glob (before its first ``*``, ``?`` or ``[``): every match begins with it."""
    cut = min((i for i in (pattern.find(c) for c in "*?[") if i >= 0), default=len(pattern))
    return pattern[:cut]


def find_rows(parts: list[Part], *, path: str | None = None, regex: str | None = None, sha256: str | None = None,
              size: int | None = None, prefix: str = "", storage_options: dict | None = None) -> pd.DataFrame:
    """``files`` rows of the hosts in ``parts`` matching every condition given (an exact path, a
    path regex whose matches all start with ``prefix``, a content hash, a size), with ``host``.

    Only the row groups whose statistics allow a match are read (``_may_hold``), the match runs on
    Arrow columns and only the matching rows become pandas. Snapshots of every format are read
    through one schema (older ones store these columns plain, newer ones dictionary-encoded)."""
    table, hosts = None, []
    if parts and any(v is not None for v in (path, regex, sha256, size)):
        keep_group = _may_hold(path, prefix if regex is not None else "", size)
        table, read = _read_batch(parts, storage_options, "files", FIND_SCHEMA, keep_group)
        if table is not None:
            # the match runs once on the batch's rows, each row's host (its index in ``read``) kept beside it
            mask = _condition(path, regex, sha256, size, prefix)(table)
            which = np.repeat(np.arange(len(read)), [k for _, k in read])[mask.to_numpy(zero_copy_only=False)]
            table = table.filter(mask)
            names = [h for h, _ in read]
            hosts = [(names[i], k) for i, k in zip(*np.unique(which, return_counts=True))]
    spec = {c.name: c for c in schema.FRAMES["files"]}
    out = {HOST: host_column(hosts)}
    for name in FIND_COLUMNS:
        out[name] = _column(table.column(name), spec[name], "files") if table is not None \
            else pd.Series(dtype=spec[name].pandas_dtype())
    return pd.DataFrame(out, index=pd.RangeIndex(len(out[HOST])))
