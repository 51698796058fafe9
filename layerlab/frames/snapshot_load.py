"""Reading a ``.layerlab`` snapshot (snapshot.py: the format and the writing) back into an Inventory."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import PATH, LayerlabError, SnapshotError, expects
from ..untrusted import load_json
from . import schema
from .inventory import FRAME_NAMES, Inventory
from .snapshot import SAVED_DERIVED, check_meta, column_from_arrow, remote, remote_error
from .snapshot_check import check_layers_known, check_sizes, read_meta, read_table


def _from_table(table: pa.Table, kind: str) -> pd.DataFrame:
    out = {col.name: column_from_arrow(table.column(col.name), col, kind) for col in schema.FRAMES[kind]}
    return schema.coerce(pd.DataFrame(out), kind)


@expects(path=PATH)
def load(path) -> Inventory:
    """Read a ``.layerlab`` snapshot written by ``layerlab scan`` or ``Inventory.save`` (a folder or
    an fsspec URL)."""
    if remote(path):
        return _load_remote(os.fspath(path))
    path = Path(path)
    if not path.exists():
        raise SnapshotError(f"no snapshot at {path}; make one with `layerlab scan ROOT -o {path.name}`", path=str(path))
    try:
        meta = load_json(read_meta(path / "meta.json"))
    except (OSError, ValueError) as e:
        raise SnapshotError(f"{path} is not a layerlab snapshot (meta.json unreadable: {e})", path=str(path)) from None
    check_meta(meta, path)
    missing = [n for n in FRAME_NAMES if not (path / f"{n}.parquet").is_file()]
    if missing:
        raise SnapshotError(f"{path} is incomplete: {', '.join(missing)} missing (no regular file "
                            f"{missing[0]}.parquet); rescan the root", path=str(path))

    rows = meta.get("rows") or {}
    small: dict = {}  # images, layers, image_layers: read once for the size check and the Inventory

    def read(name):
        if name in small:
            return small.pop(name)
        file = path / f"{name}.parquet"
        df = _from_table(read_table(file, name, rows.get(name)), name)
        if name == "image_layers":
            check_layers_known(df, path / "layers.parquet")
        if name == "images":
            others = {n: small.get(n) if n in small else read(n) for n in ("image_layers", "layers")}
            check_sizes(df, others["image_layers"], others["layers"], path,
                        totals=meta.get("image_store") != "containers-storage")
            small.update(others)
        return df

    def reader(name):
        return lambda: read(name)

    meta["snapshot"] = str(path)
    inv = Inventory(meta, {name: reader(name) for name in FRAME_NAMES})
    if all((path / f"{n}.parquet").is_file() for n in SAVED_DERIVED):  # scan --packages
        kept = {n: _from_table(read_table(path / f"{n}.parquet", n, None), n) for n in SAVED_DERIVED}
        inv.cache["package_frames"] = {**kept, "package_files": schema.empty("package_files")}
    return inv


def _load_remote(url: str) -> Inventory:
    fs, path = remote(url)
    path = path.rstrip("/")
    try:
        with fs.open(f"{path}/meta.json", "rb") as f:
            meta = load_json(f.read())
    except FileNotFoundError:
        raise SnapshotError(f"no snapshot at {url} (no meta.json there)", path=url) from None
    except (OSError, ValueError) as e:
        raise SnapshotError(f"{url} is not a layerlab snapshot (meta.json unreadable: {e})", path=url) from None
    except Exception as e:  # noqa: BLE001 (see snapshot.remote_error)
        raise remote_error(url, e) from None
    check_meta(meta, url)

    def read(name):
        try:
            return _from_table(pq.read_table(f"{path}/{name}.parquet", filesystem=fs), name)
        except LayerlabError:
            raise
        except Exception as e:  # noqa: BLE001 (see snapshot.remote_error)
            raise remote_error(url, e) from None

    def reader(name):
        return lambda: read(name)

    meta["snapshot"] = url
    return Inventory(meta, {name: reader(name) for name in FRAME_NAMES})
