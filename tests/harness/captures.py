"""The bundled captures (data/capture/*.tar.xz: data roots made by real daemons), unpacked."""

from __future__ import annotations

import subprocess
from pathlib import Path


def unpack(archive: Path, dest: Path) -> Path:
    """Unpack a capture as root, keeping device files (whiteouts), owners and trusted.* xattrs."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpJf", str(archive), "-C", str(dest)],
                   check=True)
    return dest


def unpack_capture(name: str, dest: Path) -> Path:
    """``data/capture/<name>.tar.xz`` (overlay2, vfs, btrfs, containerd, registry) unpacked into ``dest``."""
    from layerlab.sources.sample import data_dir

    return unpack(data_dir() / "capture" / f"{name}.tar.xz", dest)
