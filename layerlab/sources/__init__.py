"""Sources: each reads one kind of image storage into the contract's frames (an Inventory)."""

from __future__ import annotations

import os

from ..errors import NotADataRoot


def open_source(source=None, *, driver: str | None = None, progress: bool | None = None):
    """An Inventory from whatever ``source`` names: None or "sample" (the bundled sample),
    "sample:<driver>", a ``.layerlab`` snapshot, a data root, or an Inventory (returned as is)."""
    from ..frames.inventory import Inventory
    from ..frames.snapshot import is_snapshot, load
    from .docker.dataroot import open_root
    from .sample import sample

    if isinstance(source, Inventory):
        return source
    if source is None or source == "sample":
        return sample()
    source = os.fspath(source)
    if source.startswith("sample:"):
        return sample(source.split(":", 1)[1])
    if is_snapshot(source):
        return load(source)
    if source.endswith(".layerlab"):
        return load(source)  # gives the snapshot error (missing or incomplete)
    if not os.path.exists(source):
        raise NotADataRoot(
            f"{source} does not exist; give a Docker data root, a .layerlab snapshot, or 'sample'", path=source
        )
    return open_root(source, driver, progress=progress)
