"""layerlab: Docker image storage as pandas DataFrames.

    import layerlab as ll
    root = ll.open_root("/var/lib/docker")      # a live data root (read-only; usually needs root)
    snap = ll.load("host.layerlab")             # a snapshot written by `layerlab scan`
    demo = ll.sample()                          # the bundled sample, no Docker needed
    root.images, root.layers, root.image_layers, root.history, root.containers, root.files

This module holds the public API only (docs/architecture.md shows where everything lives). The
functions are imported on first use, so ``import layerlab`` (and the CLI's ``--help``) stays fast:
pandas and pyarrow load only when a source is opened.
"""

from __future__ import annotations

from ._lazy import attach
from . import frames as _frames
from ._version import __version__
from .errors import (
    ArgumentError,
    CorruptMetadata,
    DataRootPermissionError,
    ImageNotFound,
    LayerlabError,
    NotADataRoot,
    OutputError,
    SchemaError,
    SnapshotError,
    UnsupportedStore,
)

#: Public name -> the module that defines it.
_LAZY = {
    "Inventory": ".frames.inventory",
    "describe": ".frames.schema",
    "file_tree": ".widgets.tree",
    "load": ".frames.snapshot_load",
    "open_source": ".sources",
    "open_root": ".sources.docker.dataroot",
    "pull_cost": ".analyses.pullcost",
    "release_cost": ".analyses.pullcost",
    "sample": ".sources.sample",
    "sample_path": ".sources.sample",
    "scan": ".collect",
    "simulate_writes": ".analyses.drivers.cow_model",
}


def _package_frame(inv, name):
    from .analyses.packages import derived

    return derived(inv, name)


# Inventory.packages & co. are computed by analyses; frames cannot import them, so they are wired here
# (without importing pandas: the analysis loads on first use).
_frames.DERIVED.update(dict.fromkeys(("packages", "package_files", "package_changes"), _package_frame))


# ll.fleet is the fleet package, callable: ll.fleet(paths, client=None); dask loads on first use.
# ll.analyses, ll.plots, ll.tables, ll.widgets are the packages, imported when first named.
__getattr__, __dir__ = attach(__name__, _LAZY, globals(),
                              submodules=("analyses", "fleet", "plots", "tables", "widgets"))


__all__ = [
    "ArgumentError",
    "CorruptMetadata",
    "DataRootPermissionError",
    "ImageNotFound",
    "Inventory",
    "LayerlabError",
    "NotADataRoot",
    "OutputError",
    "SchemaError",
    "SnapshotError",
    "UnsupportedStore",
    "__version__",
    "analyses",
    "describe",
    "file_tree",
    "fleet",
    "load",
    "open_root",
    "open_source",
    "plots",
    "pull_cost",
    "release_cost",
    "sample",
    "sample_path",
    "scan",
    "simulate_writes",
    "tables",
    "widgets",
]
