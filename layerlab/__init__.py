"""layerlab: Docker image storage as pandas DataFrames.

    import layerlab as ll
    root = ll.open_root("/var/lib/docker")      # a live data root (read-only; usually needs root)
    snap = ll.load("host.layerlab")             # a snapshot written by `layerlab scan`
    demo = ll.sample()                          # the bundled sample, no Docker needed
    root.images, root.layers, root.image_layers, root.history, root.containers, root.files

This module holds the public API only; docs/architecture.md shows where everything lives.
"""

from __future__ import annotations

from ._version import __version__
from .analyses.cow_model import simulate_writes
from .collect import scan
from .errors import (
    CorruptMetadata,
    DataRootPermissionError,
    ImageNotFound,
    LayerlabError,
    NotADataRoot,
    SchemaError,
    SnapshotError,
    UnsupportedStore,
)
from .frames.inventory import Inventory
from .frames.schema import describe
from .frames.snapshot import load
from .sources import open_source
from .sources.docker.dataroot import open_root
from .sources.sample import sample, sample_path

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
    "load",
    "open_root",
    "open_source",
    "sample",
    "sample_path",
    "scan",
    "simulate_writes",
]
