"""Checks a snapshot's frames against the contract and its meta.json before anyone reads them.

A damaged or hand-edited snapshot must fail loudly, naming the file: a list column stored as a
string would otherwise be split into characters, a time stored as an integer become 1970, an
emptied file load as no rows, and a layer missing from ``layers`` vanish from every analysis.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .._files import open_file
from ..errors import SnapshotError, whole_number
from . import schema

_HINT = "the snapshot is damaged or was edited; rescan the root (`layerlab scan ROOT -o ...`)"


def _is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or (
        pa.types.is_dictionary(t) and _is_string(t.value_type))


#: The contract's types that are never null (an all-null column cannot be one of them).
_NEVER_NULL = (schema.INT, schema.UINT16, schema.UINT32, schema.OWNER, schema.BOOL)


def _fits(t: pa.DataType, logical: str) -> bool:
    """Whether an Arrow column type can hold the contract's ``logical`` type without guessing."""
    if pa.types.is_null(t):  # a column of nulls only
        return logical not in _NEVER_NULL
    if logical in (schema.STRING, schema.PATH_STRING, schema.CATEGORY):  # a category may be stored plain (older)
        return _is_string(t)
    if logical == schema.LIST:
        return (pa.types.is_list(t) or pa.types.is_large_list(t)) and (
            _is_string(t.value_type) or pa.types.is_null(t.value_type))
    if logical == schema.TIME:
        return pa.types.is_timestamp(t) and t.tz is not None and t.tz.upper() in ("UTC", "+00:00", "Z")
    if logical in _INTEGERS:
        return pa.types.is_integer(t.value_type if pa.types.is_dictionary(t) else t)
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


#: A frame of more rows than this must hold at least a byte a row: 30 million equal rows in a 1.8 MB
#: file would take gigabytes to read, and no real frame compresses so far (a real files frame: ~20 B a row).
ROWS_BEFORE_RATIO = 1_000_000


def read_table(path: Path, kind: str, rows: int | None) -> pa.Table:
    """The Parquet table of frame ``kind`` at ``path``, or SnapshotError naming the file and the fault."""
    try:
        # not read_table: its dataset layer is slow to import. Categorical columns come back as
        # dictionaries (format 3 stores them as plain values, dictionary-encoded by Parquet).
        categorical = [c.name for c in schema.FRAMES[kind] if c.dtype == schema.CATEGORY and c.logical != schema.OWNER]
        with open_own_file(path) as f:
            parquet = pq.ParquetFile(f, read_dictionary=categorical or None)
            # The counts are checked before any row is decoded (the footer declares them).
            declared = parquet.metadata.num_rows
            if rows is not None and declared != rows:
                raise SnapshotError(f"{path} declares {declared} rows but meta.json says {rows}; {_HINT}",
                                    path=str(path))
            size = os.fstat(f.fileno()).st_size
            if declared > ROWS_BEFORE_RATIO and declared > size:
                raise SnapshotError(f"{path} declares {declared} rows in {size} bytes (less than a byte a row); no "
                                    f"real frame compresses so far: it is damaged or hostile, and is not read; {_HINT}",
                                    path=str(path))
            table = parquet.read()
    except SnapshotError:
        raise
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
    for col in schema.FRAMES[kind]:  # sizes, counts and positions: never negative
        if col.logical in _INTEGERS and table.num_rows:
            values = table.column(col.name)
            if pa.types.is_dictionary(values.type):
                values = values.cast(values.type.value_type)
            low = pc.min(values).as_py()
            if low is not None and low < 0:
                raise SnapshotError(f"{path}: column {col.name!r} holds {low}; sizes, counts and positions are never "
                                    f"negative; {_HINT}", path=str(path))
    return table


_INTEGERS = (schema.INT, schema.NULLABLE_INT, schema.ARROW_INT, schema.UINT16, schema.UINT32, schema.OWNER)


def check_sizes(images, image_layers, layers, path, *, totals: bool = True) -> None:
    """An image's size is the sum of its layers' sizes, and each image_layers row carries its layer's
    size: a snapshot whose figures disagree (a layer's size edited, x1000) is damaged, not analysed.
    ``totals=False`` for a store whose image sizes count more than layers (containers-storage adds
    an image's big data, as podman does)."""
    import pandas as pd

    size = layers.drop_duplicates("layer_id").set_index("layer_id")["size"]
    row_size = image_layers["layer_id"].map(size)
    wrong = image_layers[row_size.notna() & (row_size != image_layers["size"])]
    if len(wrong):
        r = wrong.iloc[0]
        raise SnapshotError(f"{path}: image_layers gives layer {r['layer_id'][:19]} {r['size']} bytes, layers gives "
                            f"{size[r['layer_id']]}; {_HINT}", path=str(path))
    if not totals:
        return
    totals = pd.Series(row_size.to_numpy(dtype="float64"), index=image_layers["image_id"]).groupby(level=0).sum()
    given = images.set_index("image_id")["size"]
    both = given.index.intersection(totals.index)
    off = both[(given[both].astype("float64") - totals[both]).abs() > 0.5]
    if len(off):
        iid = off[0]
        raise SnapshotError(f"{path}: image {iid[:19]} has size {given[iid]} but its layers add up to "
                            f"{int(totals[iid])}; {_HINT}", path=str(path))


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
    try:
        with open_own_file(layers_file) as f:
            known = set(pq.ParquetFile(f).read(columns=["layer_id"]).column("layer_id").to_pylist())
    except SnapshotError:
        raise
    except (OSError, pa.ArrowException, ValueError, KeyError) as e:  # truncated, not Parquet, no such column
        raise SnapshotError(f"{layers_file} is not a readable Parquet file ({type(e).__name__}: {str(e)[:200]}); "
                            f"{_HINT}", path=str(layers_file)) from None
    missing = sorted(set(image_layers["layer_id"].dropna()) - known)
    if missing:
        raise SnapshotError(f"{layers_file} lacks layers that image_layers uses "
                            f"({', '.join(m[:19] for m in missing[:3])}"
                            f"{' ...' if len(missing) > 3 else ''}); {_HINT}", path=str(layers_file))
