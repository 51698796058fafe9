"""``.layerlab`` snapshots: a directory of Parquet files (one per frame) and ``meta.json``.

Exact bytes of names that are not valid UTF-8 (``path_raw``) are binary columns (dictionary-encoded); list columns are
Parquet lists. Format 2 adds the host's identity to meta.json (``hostname``, ``host_id``,
``scanned_at``, ``layerlab_version``) so a fleet of snapshots can be read in place. Format 3 writes
the files rows sorted by path in row groups of ``FILES_ROW_GROUP`` rows (so a reader looking for a
path skips the row groups whose min/max statistics exclude it) and records each Parquet file's
byte size in meta.json (``bytes``: a fleet checks a snapshot with one listing instead of parsing
every footer); its categorical files columns are plain values with Parquet's dictionary encoding
(one small dictionary per row group). Format 4 stores times in microseconds (the contract's unit,
years 1 to 9999), where formats 1 to 3 stored nanoseconds; those still load, into microseconds
(truncated toward the past). Since round 8 a format-4 snapshot also holds ``fleet_index.parquet``:
the columns of ``images``, ``image_layers`` and ``containers`` a fleet reads of every host, their rows
stacked in one flat table (a ``frame`` column says whose), so a fleet opens one small file a host
instead of one per frame (docs/fleet.md); the per-frame files stay, so any reader of format 4 still
reads it. A path may be an fsspec URL
(``s3://bucket/prefix/host.layerlab``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import OutputError, SnapshotError
from . import schema
from .schema import FRAME_NAMES
from .output import check_length, check_name, check_target, swap_into_place
from .snapshot_check import check_meta_shape

#: Derived frames a snapshot keeps when they were computed before it was saved (``scan --packages``).
SAVED_DERIVED = ("packages", "package_changes")

FORMAT_VERSION = 4
READABLE_FORMATS = (1, 2, 3, 4)
# Rows per row group of files.parquet: small enough that a path lookup reads one group of a host's
# tens of thousands of rows, large enough that a full scan is not slowed by per-group costs
# (docs/fleet.md has the figures).
FILES_ROW_GROUP = 4096
SUFFIX = ".layerlab"
#: What a fleet reads of every host besides ``files``, written again in one flat file
#: (``fleet_index.parquet``): opening a small Parquet file, not its few rows, was a fleet's cost a
#: host (a footer parse each; the footer grows with the columns, so only these are in it).
FLEET_INDEX = {"images": ("image_id", "tags", "size", "container_count", "intermediate"),
               "image_layers": ("image_id", "layer_id", "size"),
               "containers": ("container_id", "name", "image_id", "state", "rw_size")}
FLEET_INDEX_FILE = "fleet_index"


def _to_table(df: pd.DataFrame, kind: str) -> pa.Table:
    arrays, fields = [], []
    for col in schema.FRAMES[kind]:
        values = df[col.name]
        if col.logical == schema.RAW:
            arr = pa.array(schema.coerce_column(values, col, kind).array)  # dictionary-encoded binary
        elif col.logical == schema.LIST:
            arr = pa.array([list(v) for v in values], type=pa.list_(pa.string()))
        elif col.logical == schema.OWNER:  # stored as the numbers (as every format did): uint32, dictionary-encoded
            arr = pa.array(schema.owner_codes(values, f"{kind} frame's {col.name}").to_numpy().astype("uint32"))
        else:
            arr = pa.Array.from_pandas(values)
        if col.dtype == schema.CATEGORY and col.logical != schema.OWNER:  # an all-null one has no value type
            value_type = pa.binary() if col.logical == schema.RAW else pa.string()
            if pa.types.is_null(arr.type) or (pa.types.is_dictionary(arr.type) and len(arr.dictionary) == 0):
                arr = pa.DictionaryArray.from_arrays(pa.nulls(len(arr), pa.int8()), pa.array([], value_type))
        arrays.append(arr)
        fields.append(pa.field(col.name, arr.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def fleet_index_table(tables: dict[str, pa.Table]) -> pa.Table:
    """The ``FLEET_INDEX`` columns of ``tables``' frames, their rows stacked (images, then image_layers,
    then containers) in one table of the union of their columns, with ``frame`` naming each row's
    frame; a column a frame lacks is null in its rows. Dictionary columns as plain values."""
    stacked = []
    for name, columns in FLEET_INDEX.items():
        table = tables[name].select(list(columns))
        arrays = [c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns]
        arrays.append(pa.array([name] * table.num_rows, pa.string()))
        stacked.append(pa.Table.from_arrays(arrays, names=[*columns, "frame"]))
    return pa.concat_tables(stacked, promote_options="permissive")


def write_fleet_index(tables: dict[str, pa.Table], target: Path) -> None:
    # No Arrow schema and no statistics in the footer (a third of its bytes: one row group, nothing to
    # prune; the Parquet types say enough), no dictionaries but for `frame`: measured cheaper to read.
    pq.write_table(fleet_index_table(tables), target, compression="zstd", store_schema=False,
                   write_statistics=False, use_dictionary=["frame"])


def sorted_by_path(files: pa.Table) -> pa.Table:
    """``files`` rows ordered by path (a stable sort: rows of one path keep their layer order), so
    that each row group's min/max path statistics cover a narrow range a lookup can skip."""
    import pyarrow.compute as pc

    return files.take(pc.sort_indices(files["path"]))  # Arrow's sort is stable


def _write_row_groups(files: pa.Table, target: Path, dictionary) -> None:
    """files.parquet in row groups of ``FILES_ROW_GROUP`` rows. The categorical columns are written
    as plain values with Parquet's dictionary encoding, whose dictionary page is per row group and
    holds only that group's values (an Arrow dictionary column would put its whole dictionary in
    every group: a host's thousands of symlink targets once per group, a third of the file; cutting
    it group by group took longer than the write). Readers ask for them back as dictionaries."""
    plain = pa.Table.from_arrays([c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c
                                  for c in files.columns],
                                 names=files.column_names)
    pq.write_table(plain, target, compression="zstd", use_dictionary=dictionary, row_group_size=FILES_ROW_GROUP)


def column_from_arrow(arr, col: schema.Column, kind: str) -> pd.Series:
    """Column ``col`` of frame ``kind`` from the Arrow array it was stored as, in the contract's dtype."""
    if col.logical == schema.RAW or (col.logical == schema.CATEGORY and col.categories is None and kind == "files"):
        return pd.Series(schema.categorical_from_arrow(arr))  # plain (older snapshots) or dictionary-encoded
    if col.logical == schema.LIST:
        return pd.Series([list(v or []) for v in arr.to_pylist()], dtype=object)
    if col.logical == schema.ARROW_INT:
        return pd.Series(schema.arrow_ints(arr))  # not through pandas: nulls would make it float64
    if col.logical == schema.OWNER:
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        if arr.null_count:
            raise SnapshotError(f"the {kind} frame's {col.name} holds nulls (a file always has an owner): the "
                                "snapshot is damaged or was edited; rescan the root")
        return pd.Series(schema.owner_codes(arr.to_numpy(zero_copy_only=False), f"{kind} frame's {col.name}"))
    if col.logical == schema.PATH_STRING and not pa.types.is_dictionary(arr.type):
        return pd.Series(schema.path_strings(arr))  # Arrow strings as stored, 32-bit offsets
    if kind == "files" and col.logical == schema.STRING and not pa.types.is_dictionary(arr.type):
        # Arrow strings, as a walk gives them (pandas 2 would make Python strings: 3x the memory)
        return pd.Series(pd.arrays.ArrowStringArray(arr.cast(pa.large_string())))
    return schema.coerce_column(arr.to_pandas(), col, kind)


def remote(path):
    """``(filesystem, path)`` for an fsspec URL other than a local file (``s3://...``), else None."""
    path = os.fspath(path)
    if "://" not in path or path.startswith("file://"):
        return None
    from .._network import remote_filesystem

    return remote_filesystem(path)


def _upload(local: Path, url: str) -> str:
    # Parquet files first and meta.json last: a reader takes a folder without meta.json as no
    # snapshot, so an interrupted upload is never read as a whole one.
    fs, target = remote(url)
    if fs.exists(target):
        fs.rm(target, recursive=True)
    for f in sorted(local.iterdir(), key=lambda f: f.name == "meta.json"):
        fs.put_file(str(f), f"{target.rstrip('/')}/{f.name}")
    return url


def check_output(path) -> Path:
    """The snapshot path ``save`` would write for ``path``, or OutputError if it must not.

    ``scan`` calls it before reading a data root, so a bad ``-o`` is reported at once. An fsspec
    URL is checked by the store when the snapshot is uploaded.
    """
    if remote(path):
        return path
    path = Path(path)
    check_name(path)
    # the folder written beside it first is named <name>.layerlab.XXXXXXXX.tmp
    check_length(path if path.suffix == SUFFIX else path.with_name(path.name + SUFFIX), spare=len(".12345678.tmp"))
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path} exists and is not a folder; choose another -o path", path=str(path))
    if path.suffix != SUFFIX:
        path = path.with_name(path.name + SUFFIX)
    check_target(path, (*FRAME_NAMES, FLEET_INDEX_FILE))
    parent = next((p for p in [path.parent, *path.parent.parents] if p.exists()), None)
    if parent is not None and (not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK)):
        what = "is not a folder" if not parent.is_dir() else "is not writable here"
        raise OutputError(f"cannot write a snapshot at {path}: {parent} {what}; choose another -o path", path=str(path))
    return path


def save(inventory, path) -> str:
    """Write ``inventory`` to ``path`` (a directory named ``*.layerlab``, or an fsspec URL such as
    ``s3://bucket/host.layerlab``); returns the path.

    An existing layerlab snapshot at ``path`` is replaced (the new one is written aside and swapped
    in, so an interrupted save leaves one whole snapshot); anything else there is refused with
    :class:`~layerlab.errors.OutputError`, never removed.
    """
    if remote(path):
        url = os.fspath(path)
        url = url if url.rstrip("/").endswith(SUFFIX) else url.rstrip("/") + SUFFIX
        with tempfile.TemporaryDirectory() as tmp:
            return _upload(Path(save(inventory, Path(tmp) / "snapshot")), url)
    path = check_output(path)
    # Everything is read before anything is written: a source that fails while its frames are read
    # (a damaged layer, a bad time) leaves no empty X.layerlab.XXXX.tmp folder behind.
    frames = inventory.frames()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write next to the target and swap, so a failed scan never leaves a half snapshot behind.
        tmp = Path(tempfile.mkdtemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent))
    except OSError as e:
        raise OutputError(
            f"cannot write a snapshot at {path}: {e.strerror or e} ({e.filename or path.parent}); "
            "choose a folder you can write to",
            path=str(path),
        ) from None
    # mkdtemp makes the directory private; a snapshot is for analysts who are not root.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        small = {}
        for name, df in frames.items():
            # Dictionary pages only for the categorical columns: trying them on paths (no repeats)
            # took most of the write time.
            dictionary = [c.name for c in schema.FRAMES[name] if c.dtype == schema.CATEGORY] or False
            table = _to_table(df, name)
            if name in FLEET_INDEX:
                small[name] = table
            if name == "files" and table.num_rows:
                _write_row_groups(sorted_by_path(table), tmp / f"{name}.parquet", dictionary)
            else:
                pq.write_table(table, tmp / f"{name}.parquet", compression="zstd", use_dictionary=dictionary)
        write_fleet_index(small, tmp / f"{FLEET_INDEX_FILE}.parquet")
        # Packages (docs/packages.md) read while the layers were here, kept when they were computed.
        derived = {n: df for n, df in (inventory.cache.get("package_frames") or {}).items() if n in SAVED_DERIVED}
        for name, df in derived.items():
            pq.write_table(_to_table(df, name), tmp / f"{name}.parquet", compression="zstd")
        meta = dict(inventory.meta, format_version=FORMAT_VERSION, rows={n: len(f) for n, f in frames.items()},
                    bytes={n: (tmp / f"{n}.parquet").stat().st_size for n in (*frames, FLEET_INDEX_FILE)})
        meta.setdefault("hostname", meta.get("host"))
        meta.setdefault("host_id", None)
        meta.pop("snapshot", None)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
        swap_into_place(tmp, path)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"cannot write a snapshot at {path}: {e}", path=str(path)) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return str(path)


def remote_error(url: str, e: Exception) -> SnapshotError:
    """An object store's failure (botocore's NoCredentialsError, an endpoint that refuses, ...) as a
    SnapshotError saying what to do; their exceptions share no base class layerlab could name."""
    name = type(e).__name__
    hint = ("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, to credentials that may read it"
            if "Credential" in name or isinstance(e, PermissionError) else "check the URL and that the store answers")
    return SnapshotError(f"cannot read the snapshot at {url} ({name}: {str(e)[:200]}); {hint}", path=url)


def _remote_file(fs, path: str) -> bool:
    # Not fs.isfile: it answers False for any error, so a silent store would be asked again and again.
    try:
        return fs.info(path).get("type") == "file"
    except FileNotFoundError:
        return False


def is_snapshot(path) -> bool:
    if os.fspath(path).startswith("docker://"):  # a registry image, not a URL fsspec reads
        return False
    if remote(path):
        fs, p = remote(path)
        try:
            return _remote_file(fs, f"{p}/meta.json") and _remote_file(fs, f"{p}/images.parquet")
        except Exception as e:  # noqa: BLE001 (see remote_error)
            raise remote_error(os.fspath(path), e) from None
    try:
        return (Path(path) / "meta.json").is_file() and (Path(path) / "images.parquet").is_file()
    except PermissionError:  # a folder the user may not enter (a 0710 data root): not one to read as a snapshot
        return False


def check_meta(meta: dict, path) -> dict:
    """Raise SnapshotError unless ``meta`` is a meta.json of the right shape and of a format this
    layerlab reads (every loader: a folder, a URL, a fleet's); fill format 1's gaps."""
    meta = check_meta_shape(meta, path)
    version = meta.get("format_version")
    if type(version) is not int or version not in READABLE_FORMATS:  # true == 1 in Python, not in a format
        newer = isinstance(version, int) and version > FORMAT_VERSION
        raise SnapshotError(
            f"{path} has snapshot format {version}; this layerlab reads formats "
            f"{', '.join(map(str, READABLE_FORMATS))}: " + ("upgrade layerlab" if newer else "rescan the root"),
            path=str(path),
        )
    meta.setdefault("hostname", meta.get("host"))
    meta.setdefault("host_id", None)
    return meta
