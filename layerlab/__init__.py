"""layerlab: Docker image storage as pandas DataFrames.

    import layerlab as ll
    root = ll.open_root("/var/lib/docker")      # a live data root (read-only; usually needs root)
    snap = ll.load("host.layerlab")             # a snapshot written by `layerlab scan`
    demo = ll.sample()                          # the bundled sample, no Docker needed
    root.images, root.layers, root.image_layers, root.history, root.containers, root.files
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    CorruptMetadata,
    DataRootPermissionError,
    ImageNotFound,
    LayerlabError,
    NotADataRoot,
    SchemaError,
    SnapshotError,
    UnsupportedStore,
)
from .frames.inventory import Inventory  # noqa: E402
from .frames.schema import describe  # noqa: E402
from .frames.snapshot import load  # noqa: E402
from .sources import open_source  # noqa: E402
from .sources.dataroot import open_root  # noqa: E402
from .sources.sample import sample, sample_path  # noqa: E402
from .analyses.drivers import simulate_writes  # noqa: E402
# ``layerlab.fleet`` is the fleet package, and callable: ll.fleet(paths, client=None). dask is
# imported only when a fleet is opened.
from . import fleet  # noqa: E402


def scan(root: str, out: str, driver: str | None = None, *, files: str = "auto", hash: bool = False, progress: bool | None = None) -> str:
    """Read a data root and write it as a ``.layerlab`` snapshot at ``out``; returns the snapshot path.

    With ``hash``, files that have an identical twin get their ``sha256`` (only files sharing a size
    are read), so content comparisons still work on the snapshot without the data root. ``out`` may
    be an fsspec URL (``s3://bucket/prefix/host.layerlab``). The snapshot records this machine's
    hostname and machine ID, so that a fleet of snapshots (``layerlab.fleet``) tells hosts apart.
    """
    from .frames.host import identity

    inv = open_root(root, driver, files=files, progress=progress)
    inv.meta.update(identity())
    if hash:
        from .analyses.hashing import fill_sha256

        hashed = fill_sha256(inv, progress=progress)
        if hashed is not None:
            inv.meta["hashed"] = hashed
    return inv.save(out)


__all__ = [
    "CorruptMetadata",
    "DataRootPermissionError",
    "ImageNotFound",
    "Inventory",
    "LayerlabError",
    "NotADataRoot",
    "SchemaError",
    "SnapshotError",
    "UnsupportedStore",
    "__version__",
    "describe",
    "fleet",
    "load",
    "open_root",
    "open_source",
    "sample",
    "sample_path",
    "scan",
    "simulate_writes",
]
