"""Fleet audits: many hosts' ``.layerlab`` snapshots as one dataset, on Dask.

    import layerlab as ll
    with ll.fleet("s3://audits/docker/") as f:       # or folders, globs; client= a Client or address
        f.summary()["size_bytes"], f.top_images(10), f.find("/usr/lib/x86_64-linux-gnu/libssl.so.3")
"""

from __future__ import annotations

import sys
import types

from .core import Fleet, fleet
from .snapshots import FleetError

__all__ = ["Fleet", "FleetError", "fleet"]


class _CallableModule(types.ModuleType):
    """``layerlab.fleet(paths, client=None, ...)`` calls :func:`layerlab.fleet.core.fleet` while
    ``layerlab.fleet`` stays the package, so ``import layerlab.fleet.demo`` keeps working."""

    def __call__(self, paths, client=None, **kwargs) -> Fleet:
        return fleet(paths, client, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
