"""Where each storage driver keeps a layer's contents, and in which whiteout convention.

A driver answers three questions for a layer's cache ID: the directory holding the layer's own
changes (if it stores a diff), the directory holding its full filesystem (if it stores copies),
and the directory that is everything it costs on disk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Driver:
    name: str
    #: whiteout convention of diff directories (walk.CONVENTIONS); fuse-overlayfs's is overlay's
    #: plus .wh. files (pulled layers) and its own .wh..opq opaque marker (containers)
    convention: str
    #: image layers' files come from walking diff dirs ("walk") or from tar-split ("tar-split")
    image_files: str
    #: container layers: "walk" a diff dir, "compare" full copies, or "none" (not plain directories)
    container_files: str

    def layer_dir(self, root: str, cache_id: str) -> str:
        """Everything the driver stores for this layer (what it costs on disk)."""
        home = os.path.join(root, self.name)
        if self.name == "aufs":
            return os.path.join(home, "diff", cache_id)
        if self.name == "vfs":
            return os.path.join(home, "dir", cache_id)
        if self.name == "btrfs":
            return os.path.join(home, "subvolumes", cache_id)
        if self.name == "zfs":
            return os.path.join(home, "graph", cache_id)
        if self.name == "devicemapper":
            return os.path.join(home, "mnt", cache_id, "rootfs")
        return os.path.join(home, cache_id)

    def diff_dir(self, root: str, cache_id: str, container: bool = False) -> str | None:
        """The directory holding only this layer's changes, or None if the driver keeps full copies."""
        d = self.layer_dir(root, cache_id)
        if self.name in ("overlay2", "fuse-overlayfs"):
            return os.path.join(d, "diff")
        if self.name == "aufs":
            return d
        if self.name == "overlay":
            # legacy overlay: image layers hold a full root/ (hard-linked copies); containers an upper/
            return os.path.join(d, "upper") if container else None
        return None

    def full_dir(self, root: str, cache_id: str) -> str | None:
        """The directory holding this layer's full filesystem, for drivers that keep copies."""
        if self.name in ("vfs", "btrfs", "zfs"):
            return self.layer_dir(root, cache_id)
        if self.name == "overlay":
            return os.path.join(self.layer_dir(root, cache_id), "root")
        return None


DRIVERS = {
    d.name: d
    for d in (
        Driver("overlay2", "overlay", "walk", "walk"),
        Driver("fuse-overlayfs", "overlay", "walk", "walk"),
        Driver("overlay", "overlay", "tar-split", "walk"),
        Driver("aufs", "aufs", "walk", "walk"),
        Driver("vfs", "plain", "tar-split", "compare"),
        Driver("btrfs", "plain", "tar-split", "compare"),
        Driver("zfs", "plain", "tar-split", "none"),
        Driver("devicemapper", "plain", "tar-split", "none"),
    )
}
