"""Reading one host's frame from its snapshot, as a partition of a fleet-wide dask DataFrame.

Each partition is one snapshot's Parquet file with a ``host`` column added, so per-host questions
never need a shuffle. Only the columns asked for are read (dask passes ``columns``).
"""

from __future__ import annotations

import dask
import dask.dataframe as dd
import pandas as pd
import pyarrow.parquet as pq

from ..frames import schema
from .snapshots import _is_local, filesystem

HOST = "host"


def _column(arr, col: schema.Column) -> pd.Series:
    if col.logical == schema.RAW:
        return pd.Series(arr.to_pylist(), dtype=object)
    if col.logical == schema.LIST:
        return pd.Series([list(v or []) for v in arr.to_pylist()], dtype=object)
    s = arr.to_pandas()
    if col.dtype == schema.TIME:
        return pd.to_datetime(s, utc=True).astype(schema.TIME)
    return s if str(s.dtype) == col.dtype else s.astype(col.dtype)


def read_frame(part: tuple[str, str], frame: str, columns=None, storage_options: dict | None = None) -> pd.DataFrame:
    """Frame ``frame`` of the snapshot ``part[0]`` with ``host`` = ``part[1]``, in contract dtypes."""
    snapshot, host = part
    spec = {c.name: c for c in schema.FRAMES[frame]}
    wanted = list(spec) if columns is None else [c for c in columns if c != HOST]
    fs, path = filesystem(snapshot, storage_options)
    target = f"{path}/{frame}.parquet"
    table = pq.read_table(target, columns=wanted) if _is_local(fs) else pq.read_table(target, columns=wanted, filesystem=fs)
    out = {HOST: pd.Series([host] * table.num_rows, dtype=schema.STRING)}
    for name in wanted:
        out[name] = _column(table.column(name), spec[name])
    df = pd.DataFrame(out, index=pd.RangeIndex(table.num_rows))
    return df if columns is None else df[list(columns)]


def empty(frame: str) -> pd.DataFrame:
    """The meta (no rows) of a fleet frame: ``host`` then the contract's columns."""
    return pd.concat([pd.DataFrame({HOST: pd.Series(dtype=schema.STRING)}), schema.empty(frame)], axis=1)


def fleet_frame(parts: list[tuple[str, str]], frame: str, storage_options: dict | None = None) -> dd.DataFrame:
    """A dask DataFrame of ``frame`` over every snapshot in ``parts``, one partition per host."""
    # dask turns object columns into Arrow strings by default; the contract's list columns
    # (tags, digests, compressed) and raw bytes must stay Python objects.
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_map(
            read_frame, parts, frame=frame, storage_options=storage_options, meta=empty(frame),
            label=f"fleet-{frame}", enforce_metadata=False,
        )


def read_host_layers(part: tuple[str, str], storage_options: dict | None = None) -> pd.DataFrame:
    """The distinct image layers of one host's listed images (``docker images``, not intermediates):
    ``host``, ``layer_id``, ``size``, the rows whose sum is the host's ``summary --json``
    ``totals.physical_size``."""
    images = read_frame(part, "images", ["image_id", "intermediate"], storage_options)
    il = read_frame(part, "image_layers", [HOST, "image_id", "layer_id", "size"], storage_options)
    listed = images.loc[~images["intermediate"], "image_id"]
    il = il[il["image_id"].isin(listed)].drop_duplicates("layer_id")
    return il[[HOST, "layer_id", "size"]].reset_index(drop=True)


def host_layers_frame(parts: list[tuple[str, str]], storage_options: dict | None = None) -> dd.DataFrame:
    meta = empty("image_layers")[[HOST, "layer_id", "size"]]
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_map(read_host_layers, parts, storage_options=storage_options, meta=meta,
                           label="fleet-host-layers", enforce_metadata=False)
