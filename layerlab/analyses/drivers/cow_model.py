"""Copy-on-write models: what a container's writes cost under each storage driver.

Drivers differ in how a container layer grows:

- **overlay2, containerd overlayfs, aufs** keep only changes: the first write to a lower file copies
  the whole file up (with its parent directories), a deletion leaves a whiteout, a directory removed
  and made again becomes opaque, and a directory rename (no ``redirect_dir``) is a copy plus a
  whiteout, because rename(2) of a lower directory fails with EXDEV and ``mv`` copies.
- **vfs** copies every layer in full: the container layer is the whole image, and writes change it
  in place.
- **btrfs** (and zfs) snapshot the parent: the container layer shares every extent with it and only
  blocks written afterwards are its own (exclusive); metadata-only changes cost no data blocks.

``simulate_writes`` predicts the growth of a container layer for a list of ``Write``s; the named
``WORKLOADS`` are the ones measured on real daemons (``layerlab.analyses.drivers.measurements``), which test it.
"""

from __future__ import annotations

import numbers
import os
import shlex
from dataclasses import dataclass

import pandas as pd

from ...errors import Expect, LayerlabError
from ...errors import IMAGE as IMAGE_ARG
from ..opening import analysis

WRITES = Expect("a workload name (a string) or a list of Write or (op, path[, arg]) tuples", str, list, tuple)
DRIVERS_ARG = Expect("a storage driver name or a list of them", str, list, tuple, each=str)

# -- writes and the measured workloads ---------------------------------------------------------------
# Each write is a small, named change a container makes to a file or directory it got from its image.
# ``WORKLOADS`` runs each alone (so its cost can be told apart) and all together, in ``IMAGE``:
# append one byte to the 1 MiB /data/big.bin; chmod it; delete /opt/app/logs/old.log; remove and
# make again /opt/app/cache; rename /opt/app/conf to /opt/app/config. ``noop`` writes nothing.

#: The image every workload was measured in (``layerlab/app:1`` of the bundled sample).
IMAGE = "layerlab/app:1"
OPS = ("append", "chmod", "delete", "recreate_dir", "rename", "create")


#: The most bytes one write may add: 1 PiB, so the sums of a step stay far inside int64.
MAX_WRITE = 1 << 50


class WriteError(LayerlabError, ValueError):
    """A write ``simulate_writes`` cannot model: an unknown op, a relative path, an argument of the wrong kind."""


@dataclass(frozen=True)
class Write:
    """One change a container makes. ``arg``: bytes for append/create, a mode for chmod, the new path for rename."""

    op: str
    path: str
    arg: int | str | None = None

    def __post_init__(self):
        if self.op not in OPS:
            raise WriteError(f"unknown write {self.op!r}; known: {', '.join(OPS)}")
        if not isinstance(self.path, str) or not self.path.startswith("/"):
            raise WriteError(f"write paths are absolute in the container, got {self.path!r}")
        arg = self.arg
        if self.op in ("append", "create", "chmod") and arg is not None:
            # a whole number: 10**30 bytes would overflow the int64 results, NaN has no size, True is no size
            top = 0o7777 if self.op == "chmod" else MAX_WRITE
            if not isinstance(arg, numbers.Integral) or isinstance(arg, bool) or not 0 <= arg <= top:
                what = "a mode (0 to 0o7777)" if self.op == "chmod" else f"a byte count (0 to {MAX_WRITE})"
                raise WriteError(f"{self.op} {self.path}: {str(arg)[:40]!r} is not {what}")
        if self.op == "rename" and not (isinstance(arg, str) and arg.startswith("/")):
            raise WriteError(f"rename {self.path}: the new path must be absolute in the container, "
                             f"got {str(arg)[:40]!r}")

    def shell(self) -> str:
        """The busybox sh command that makes this change."""
        p = shlex.quote(self.path)
        if self.op == "append":
            return f"head -c {int(self.arg or 1)} /dev/zero >> {p}"
        if self.op == "create":
            return f"mkdir -p $(dirname {p}) && head -c {int(self.arg or 0)} /dev/urandom > {p}"
        if self.op == "chmod":
            return f"chmod {int(self.arg):o} {p}"
        if self.op == "delete":
            return f"rm {p}"
        if self.op == "recreate_dir":
            return f"rm -rf {p} && mkdir {p}"
        return f"mv {p} {shlex.quote(str(self.arg))}"

    def describe(self) -> str:
        if self.op in ("append", "create"):
            extra = f" ({'+' if self.op == 'append' else ''}{self.arg} B)"
        elif self.op == "chmod":
            extra = f" to {int(self.arg):o}"
        elif self.op == "rename":
            extra = f" to {self.arg}"
        else:
            extra = ""
        return f"{self.op} {self.path}{extra}"


APPEND = Write("append", "/data/big.bin", 1)
CHMOD = Write("chmod", "/data/big.bin", 0o644)
DELETE = Write("delete", "/opt/app/logs/old.log")
RECREATE_DIR = Write("recreate_dir", "/opt/app/cache")
RENAME_DIR = Write("rename", "/opt/app/conf", "/opt/app/config")

WORKLOADS: dict[str, tuple[Write, ...]] = {
    "noop": (),
    "append": (APPEND,),
    "chmod": (CHMOD,),
    "delete": (DELETE,),
    "recreate_dir": (RECREATE_DIR,),
    "rename_dir": (RENAME_DIR,),
    "all": (APPEND, CHMOD, DELETE, RECREATE_DIR, RENAME_DIR),
}


#: Filesystem block: what one directory or the tail of a file costs (ext4 and btrfs here: 4 KiB).
BLOCK = 4096
#: btrfs stores files up to this size inline in its metadata (max_inline default): no data extent.
BTRFS_MAX_INLINE = 2048


@dataclass(frozen=True)
class DriverModel:
    """How a driver stores a container layer. ``layout``: ``diff`` (copy-up, whiteouts), ``copy``
    (a full copy per layer) or ``snapshot`` (block-level copy-on-write)."""

    name: str
    layout: str
    whiteouts: str
    summary: str
    measured: bool = True


MODELS: dict[str, DriverModel] = {m.name: m for m in (
    DriverModel("overlay2", "diff", "char device 0/0; opaque dirs by xattr",
                "copies a whole file up on first write (data or metadata); deletions are whiteouts"),
    DriverModel("overlayfs", "diff", "char device 0/0; opaque dirs by xattr",
                "containerd's overlay snapshotter: the same kernel overlay as overlay2"),
    DriverModel("aufs", "diff", "`.wh.` files hard-linked to the branch's `.wh..wh.aufs`; `.wh..wh..opq`",
                "copies whole files up like overlay; whiteouts are files; reconstructed here, not measured",
                measured=False),
    DriverModel("vfs", "copy", "none (deletions are real)",
                "every layer, and every container, is a full copy of the filesystem"),
    DriverModel("btrfs", "snapshot", "none (deletions are real)",
                "each layer is a snapshot of its parent: only blocks written afterwards are its own"),
    DriverModel("zfs", "snapshot", "none (deletions are real)",
                "clones of snapshots, like btrfs (not measured here)", measured=False),
)}
#: The name measurements use for containerd's overlayfs snapshotter.
ALIASES = {"containerd": "overlayfs"}
COLUMNS = ["driver", "step", "write", "op", "path", "apparent_bytes", "disk_bytes", "exclusive_bytes", "entries",
           "explanation"]


def _blocks(n: int) -> int:
    return -(-int(n) // BLOCK) * BLOCK



def _parse_writes(writes):
    if isinstance(writes, str):
        if writes not in WORKLOADS:
            raise LayerlabError(f"unknown workload {writes!r}; known: {', '.join(WORKLOADS)}")
        return list(WORKLOADS[writes])
    out = []
    for w in writes:
        if isinstance(w, Write):
            out.append(w)
        elif isinstance(w, dict):
            try:
                out.append(Write(**w))
            except TypeError as e:  # a key Write has not
                raise WriteError(f"a write given as a dict takes op, path and arg: {e}") from None
        elif isinstance(w, (list, tuple)) and 2 <= len(w) <= 3:
            out.append(Write(*w))
        else:
            raise WriteError(f"a write is a Write, a dict or an (op, path[, arg]) tuple, not {str(w)[:60]!r}")
    return out


class _Tree:
    """The image's merged filesystem: path -> (kind, size)."""

    def __init__(self, merged: pd.DataFrame):
        self.entries = {p: (k, int(s)) for p, k, s in zip(merged["path"], merged["kind"], merged["file_size"])}
        links = merged.loc[merged["kind"] == "symlink", ["path", "link_target"]]
        for p, t in zip(links["path"], links["link_target"]):
            self.entries[p] = ("symlink", len(os.fsencode(t or "")))

    def get(self, path):
        return self.entries.get(path)

    def subtree(self, path):
        prefix = path.rstrip("/") + "/"
        return {p: v for p, v in self.entries.items() if p.startswith(prefix)}

    def require(self, path, op):
        if path not in self.entries:
            raise LayerlabError(f"{op} {path}: the image has no such path; give a path the image shows "
                                "(layerlab.analyses.merged_view lists them)")
        return self.entries[path]


def _ancestors(path: str) -> list[str]:
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1)]


class _DiffLayer:
    """A container's upper directory (overlay) or writable branch (aufs), entry by entry."""

    def __init__(self, tree: _Tree, aufs: bool):
        self.tree, self.aufs = tree, aufs
        # path -> {"kind": file/dir/symlink/whiteout/opq, "size": int, "up": copied up from below}
        self.upper: dict[str, dict] = {}
        if aufs:  # what aufs makes in every writable branch root
            self.upper.update({"/.wh..wh.aufs": {"kind": "base", "size": 0, "up": False},
                               "/.wh..wh.plnk": {"kind": "dir", "size": 0, "up": False},
                               "/.wh..wh.orph": {"kind": "dir", "size": 0, "up": False}})

    def parents(self, path):
        for d in _ancestors(path):
            if d not in self.upper:
                self.upper[d] = {"kind": "dir", "size": 0, "up": self.tree.get(d) is not None}

    def copy_up(self, path, op):
        if path not in self.upper:
            kind, size = self.tree.require(path, op)
            self.parents(path)
            self.upper[path] = {"kind": kind, "size": size, "up": True}
        return self.upper[path]

    def drop(self, path):
        for p in [p for p in self.upper if p == path or p.startswith(path.rstrip("/") + "/")]:
            del self.upper[p]

    def whiteout(self, path):
        self.drop(path)
        if self.tree.get(path) is not None:
            self.parents(path)
            name = path.rsplit("/", 1)
            self.upper[name[0] + "/.wh." + name[1] if self.aufs else path] = {"kind": "whiteout", "size": 0,
                                                                              "up": False}

    def apply(self, w) -> str:
        if w.op in ("append", "chmod"):
            fresh = w.path not in self.upper
            e = self.copy_up(w.path, w.op)
            if w.op == "append":
                e["size"] += int(w.arg or 1)
            if not fresh:
                return "already in the layer"
            return f"copy-up of the whole {e['size'] - (int(w.arg or 1) if w.op == 'append' else 0)} B file"
        if w.op == "delete":
            self.tree.require(w.path, w.op)
            self.whiteout(w.path)
            return "a whiteout hides it; its bytes stay in the image layer"
        if w.op == "create":
            self.parents(w.path)
            self.upper[w.path] = {"kind": "file", "size": int(w.arg or 0), "up": False}
            return "a new file"
        if w.op == "recreate_dir":
            self.tree.require(w.path, w.op)
            self.drop(w.path)
            self.parents(w.path)
            self.upper[w.path] = {"kind": "dir", "size": 0, "up": False, "opaque": True}
            if self.aufs:
                self.upper[w.path + "/.wh..wh..opq"] = {"kind": "whiteout", "size": 0, "up": False}
            return "an opaque directory hides the old contents"
        # rename: EXDEV for a lower directory, so mv copies the tree, then removes the source.
        kind, size = self.tree.require(w.path, w.op)
        dst = str(w.arg)
        self.parents(dst)
        self.upper[dst] = {"kind": kind, "size": size, "up": False}
        for p, (k, s) in self.tree.subtree(w.path).items():
            self.upper[dst + p[len(w.path):]] = {"kind": k, "size": s, "up": False}
        self.whiteout(w.path)
        return "rename(2) of a lower directory fails (EXDEV): mv copies the tree and whites out the old name"

    def cost(self) -> dict:
        u = self.upper
        apparent = sum(e["size"] for e in u.values() if e["kind"] in ("file", "symlink"))
        disk = BLOCK  # the layer's root directory
        for p, e in u.items():
            if e["kind"] == "file":
                disk += _blocks(e["size"])
            elif e["kind"] == "dir":
                disk += BLOCK
                # overlay on ext4: a copied-up directory that holds more than whiteouts carries
                # origin and impure xattrs, which no longer fit in the inode: one more block.
                if not self.aufs and e["up"] and any(
                    q.startswith(p + "/") and "/" not in q[len(p) + 1:] and f["kind"] != "whiteout" for q,
                    f in u.items()
                ):
                    disk += BLOCK
        return {"apparent_bytes": apparent, "disk_bytes": disk, "exclusive_bytes": disk, "entries": len(u)}


class _CopyLayer:
    """vfs (a full copy) and btrfs (a snapshot): the container layer holds the whole tree."""

    def __init__(self, tree: _Tree, snapshot: bool):
        self.files = dict(tree.entries)
        self.tree = tree
        self.snapshot = snapshot
        self.exclusive = 0

    def apply(self, w) -> str:
        f = self.files
        if w.op == "append":
            kind, size = f[w.path] if w.path in f else self.tree.require(w.path, w.op)
            n = int(w.arg or 1)
            f[w.path] = (kind, size + n)
            if self.snapshot:
                if size + n > BTRFS_MAX_INLINE or size > BTRFS_MAX_INLINE:
                    self.exclusive += _blocks(size % BLOCK + n)
                return "copy-on-write of the blocks written"
            return "written in place in the full copy"
        if w.op == "chmod":
            self.tree.require(w.path, w.op)
            return "metadata only: no data copied"
        if w.op == "delete":
            self.tree.require(w.path, w.op)
            f.pop(w.path, None)
            if self.snapshot:
                return "deleted for real (btrfs: the blocks stay in the parent snapshot)"
            return "deleted for real: its blocks are freed"
        if w.op == "create":
            n = int(w.arg or 0)
            f[w.path] = ("file", n)
            if self.snapshot and n > BTRFS_MAX_INLINE:
                self.exclusive += _blocks(n)
            return "a new file"
        if w.op == "recreate_dir":
            self.tree.require(w.path, w.op)
            for p in [p for p in f if p.startswith(w.path + "/")]:
                del f[p]
            return "the old contents are deleted for real"
        self.tree.require(w.path, w.op)
        dst = str(w.arg)
        for p in [p for p in f if p == w.path or p.startswith(w.path + "/")]:
            f[dst + p[len(w.path):]] = f.pop(p)
        return "rename within one filesystem: metadata only"

    def cost(self) -> dict:
        apparent = sum(s for k, s in self.files.values() if k in ("file", "symlink"))
        disk = BLOCK + sum(_blocks(s) if k == "file" else BLOCK if k == "dir" else 0 for k, s in self.files.values())
        return {"apparent_bytes": apparent, "disk_bytes": disk,
                "exclusive_bytes": self.exclusive if self.snapshot else disk, "entries": len(self.files)}


@analysis(image=IMAGE_ARG, writes=WRITES, driver=DRIVERS_ARG)
def simulate_writes(source, image, writes, driver="overlay2") -> pd.DataFrame:
    """Predict how a container layer grows when a container of ``image`` makes ``writes``.

    Parameters
    ----------
    {source}
        It gives the image's files (their sizes); the prediction depends on them, not on the source's driver.
    image
        Tag, image ID or ID prefix.
    writes
        A workload name of ``WORKLOADS`` (``"all"``), or a list of
        ``Write`` (or ``(op, path[, arg])`` tuples): append, chmod, delete, recreate_dir, rename, create.
    driver
        ``overlay2``, ``overlayfs`` (or ``containerd``), ``aufs``, ``vfs``, ``btrfs``, ``zfs``; or a list of them.

    Returns
    -------
    DataFrame
        One row per driver and step; step 0 is the container before any write (vfs: the full copy),
        then one row per write with what it adds: ``apparent_bytes`` (Docker's ``docker ps -s``
        size), ``disk_bytes`` (allocated blocks under the layer's directory, 4 KiB blocks),
        ``exclusive_bytes`` (what only this layer holds: for btrfs/zfs the data extents it does not
        share with its parent, elsewhere ``disk_bytes``), ``entries`` (directory entries), and
        ``explanation``. Sums over the steps give the layer's size.
    """
    drivers = [driver] if isinstance(driver, str) else list(driver)
    inv = source
    from ..merged import merged_view

    tree = _Tree(merged_view(inv, image))
    steps = _parse_writes(writes)
    rows = []
    for name in drivers:
        key = ALIASES.get(name, name)
        if key not in MODELS:
            raise LayerlabError(f"no model for driver {name!r}; known: {', '.join([*MODELS, *ALIASES])}")
        model = MODELS[key]
        layer = _DiffLayer(tree, aufs=key == "aufs") if model.layout == "diff" else _CopyLayer(tree,
            snapshot=model.layout == "snapshot")
        before = {"apparent_bytes": 0, "disk_bytes": 0, "exclusive_bytes": 0, "entries": 0}
        now = layer.cost()
        start = {"copy": "a full copy of the image's filesystem",
                 "snapshot": "a snapshot: shares everything with the image"}
        rows.append({"driver": name, "step": 0, "write": "(container created)", "op": None, "path": None,
                     **{k: now[k] - before[k] for k in before},
                     "explanation": start.get(model.layout, "an empty upper directory")})
        for i, w in enumerate(steps, 1):
            before = now
            why = layer.apply(w)
            now = layer.cost()
            rows.append({"driver": name, "step": i, "write": w.describe(), "op": w.op, "path": w.path,
                         **{k: now[k] - before[k] for k in before}, "explanation": why})
    out = pd.DataFrame(rows, columns=COLUMNS)
    try:
        out = out.astype({"step": "int64", "apparent_bytes": "int64", "disk_bytes": "int64",
                          "exclusive_bytes": "int64", "entries": "int64"})
    except OverflowError:  # thousands of 1 PiB writes
        raise WriteError("the writes add up past 2^63-1 bytes; model fewer or smaller writes") from None
    # Step 0 has no op or path: None, as in the other analyses (pandas 3 would make them NaN in a str column).
    from ..stacking import nulls_as_none

    return nulls_as_none(out, ["op", "path"])

