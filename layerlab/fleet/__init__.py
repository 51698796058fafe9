"""Fleet audits: many hosts' ``.layerlab`` snapshots as one dataset, on Dask.

    import layerlab as ll
    with ll.fleet("s3://audits/docker/") as f:       # or folders, globs; client= a Client or address
        f.summary()["size_bytes"], f.top_images(10), f.find("/usr/lib/x86_64-linux-gnu/libssl.so.3")
"""

from __future__ import annotations

from .core import Fleet, fleet
from .snapshots import FleetError

__all__ = ["Fleet", "FleetError", "fleet"]
