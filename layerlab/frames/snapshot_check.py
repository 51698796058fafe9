"""Checks a snapshot's frames against the contract and its meta.json before anyone reads them.

A damaged or hand-edited snapshot must fail loudly, naming the file: a list column stored as a
string would otherwise be split into characters, a time stored as an integer become 1970, an
emptied file load as no rows, and a layer missing from ``layers`` vanish from every analysis.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .._files import open_file
from ..errors import SnapshotError, whole_number
from . import schema

_HINT = "the snapshot is damaged or was edited; rescan the root (`layerlab scan ROOT -o ...`)"


def _is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or (
        pa.types.is_dictionary(t) and _is_string(t.value_type))


#: The contract's types that are never null (an all-null column cannot be one of them).
_NEVER_NULL = (schema.INT, schema.UINT16, schema.UINT32, schema.BOOL)


def _fits(t: pa.DataType, logical: str) -> bool:
    """Whether an Arrow column type can hold the contract's ``logical`` type without guessing."""
    if pa.types.is_null(t):  # a column of nulls only
        return logical not in _NEVER_NULL
    if logical in (schema.STRING, schema.CATEGORY):  # a category column may be stored plain (older snapshots)
        return _is_string(t)
    if logical == schema.LIST:
        return (pa.types.is_list(t) or pa.types.is_large_list(t)) and (
            _is_string(t.value_type) or pa.types.is_null(t.value_type))
    if logical == schema.TIME:
        return pa.types.is_timestamp(t) and t.tz is not None and t.tz.upper() in ("UTC", "+00:00", "Z")
    if logical in (schema.INT, schema.NULLABLE_INT, schema.UINT16, schema.UINT32):
        return pa.types.is_integer(t)
    if logical == schema.BOOL:
        return pa.types.is_boolean(t)
    if logical == schema.RAW:
        t = t.value_type if pa.types.is_dictionary(t) else t
        return pa.types.is_binary(t) or pa.types.is_large_binary(t)
    if logical == schema.FLOAT:
        return pa.types.is_floating(t) or pa.types.is_integer(t)
    return False


META_LIMIT = 16 << 20


def open_own_file(path: Path, limit: int | None = None):
    """A snapshot's file opened for reading only if it is a regular file in the snapshot's folder: a
    symbolic link (to a file outside it) is never followed, a FIFO never waited on, /dev/zero never
    read (ValueError or OSError otherwise)."""
    return open_file(path, SnapshotError, expected="a snapshot's file", limit=limit, follow=False)


def read_meta(path: Path) -> bytes:
    """meta.json's bytes, read only if it is a regular file (a FIFO would block, /dev/zero never end)."""
    with open_own_file(path, META_LIMIT) as f:
        return f.read(META_LIMIT)


def read_table(path: Path, kind: str, rows: int | None) -> pa.Table:
    """The Parquet table of frame ``kind`` at ``path``, or SnapshotError naming the file and the fault."""
    try:
        # not read_table: its dataset layer is slow to import. Categorical columns come back as
        # dictionaries (format 3 stores them as plain values, dictionary-encoded by Parquet).
        categorical = [c.name for c in schema.FRAMES[kind] if c.dtype == schema.CATEGORY]
        with open_own_file(path) as f:
            table = pq.ParquetFile(f, read_dictionary=categorical or None).read()
    except (OSError, pa.ArrowException, ValueError) as e:
        raise SnapshotError(f"{path} is not a readable Parquet file ({type(e).__name__}: {str(e)[:200]}); {_HINT}",
                            path=str(path)) from None
    for col in schema.FRAMES[kind]:
        if col.name not in table.column_names:
            raise SnapshotError(f"{path} has no column {col.name!r} (the {kind} frame needs it); {_HINT}",
                                path=str(path))
        t = table.schema.field(col.name).type
        if not _fits(t, col.logical):
            raise SnapshotError(f"{path}: column {col.name!r} is stored as {t}, where the contract has "
                                f"{col.dtype}; {_HINT}", path=str(path))
        if col.logical in _NEVER_NULL and table.column(col.name).null_count:
            raise SnapshotError(f"{path}: column {col.name!r} holds nulls, where the contract has {col.dtype} "
                                f"(never null); {_HINT}", path=str(path))
    if rows is not None and table.num_rows != rows:
        raise SnapshotError(f"{path} holds {table.num_rows} rows but meta.json says {rows}; {_HINT}", path=str(path))
    return table


def check_meta_shape(meta, path) -> dict:
    """meta.json's content if it is an object whose ``rows`` (if any) maps frame names to counts;
    ``path`` is the snapshot (a folder or a URL)."""
    if not isinstance(meta, dict):
        raise SnapshotError(f"{path}/meta.json is not a JSON object; {_HINT}", path=str(path))
    rows = meta.get("rows")
    if rows is not None and not (isinstance(rows, dict) and all(map(whole_number(0), rows.values()))):
        raise SnapshotError(f"{path}/meta.json: `rows` should map each frame to its row count; {_HINT}",
                            path=str(path))
    return meta


def check_layers_known(image_layers, layers_file: Path) -> None:
    """Every layer ``image_layers`` names must be in ``layers`` (read from its one column)."""
    with open_own_file(layers_file) as f:
        known = set(pq.ParquetFile(f).read(columns=["layer_id"]).column("layer_id").to_pylist())
    missing = sorted(set(image_layers["layer_id"].dropna()) - known)
    if missing:
        raise SnapshotError(f"{layers_file} lacks layers that image_layers uses "
                            f"({', '.join(m[:19] for m in missing[:3])}"
                            f"{' ...' if len(missing) > 3 else ''}); {_HINT}", path=str(layers_file))
