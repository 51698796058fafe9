"""The bundled sample: snapshots of real data roots captured from a real daemon (see data/README.md)."""

from __future__ import annotations

import os
from pathlib import Path

from .._bundled import bundled
from ..errors import SnapshotError
from ..errors import TEXT, expects

DRIVERS = ("overlay2", "vfs", "btrfs", "containerd")


def data_dir() -> Path:
    """Where the sample lives: $LAYERLAB_DATA, else the data the package carries
    (``layerlab._bundled.data``: the repository's data/ folder, without capture/ in a wheel)."""
    env = os.environ.get("LAYERLAB_DATA")
    return Path(env) if env else bundled("data")


@expects(driver=TEXT)
def sample_path(driver: str = "overlay2") -> Path:
    if driver not in DRIVERS:
        raise SnapshotError(f"no sample for driver {driver!r}; samples: {', '.join(DRIVERS)}")
    return data_dir() / f"sample-{driver}.layerlab"


@expects(driver=TEXT)
def sample(driver: str = "overlay2"):
    """The bundled sample snapshot for ``driver`` (overlay2 by default) as an Inventory."""
    from ..frames.snapshot_load import load

    path = sample_path(driver)
    if not path.exists():
        raise SnapshotError(
            f"the bundled sample {path} is missing; reinstall layerlab (its wheel carries the sample), set "
            "LAYERLAB_DATA to a folder holding sample-<driver>.layerlab, or remake it in a checkout with "
            "`sudo python scripts/capture_sample.py`",
            path=str(path),
        )
    return load(path)
