"""layerlab: Docker image storage as pandas DataFrames."""

from .errors import (
    CorruptMetadata,
    DataRootPermissionError,
    ImageNotFound,
    LayerlabError,
    NotADataRoot,
    SnapshotError,
    UnsupportedStore,
)

__version__ = "0.1.0"

__all__ = [
    "CorruptMetadata",
    "DataRootPermissionError",
    "ImageNotFound",
    "LayerlabError",
    "NotADataRoot",
    "SnapshotError",
    "UnsupportedStore",
    "__version__",
]
