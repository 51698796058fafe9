"""A Docker data root with the graphdriver image store, read into the contract's frames.

Strictly read-only: files are opened for reading only, nothing is created, locked or touched.
Layouts are in formats.md §1-2; each driver's specifics are in ``drivers.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import warnings
from datetime import datetime, timezone

import pandas as pd
from tqdm.auto import tqdm

from ..._version import __version__
from ...errors import CorruptMetadata, DataRootPermissionError, NotADataRoot
from ...frames import schema
from ...frames.inventory import Inventory
from .layouts import DRIVERS, Driver
from ..layerfiles.rows import concat_files
from ..layerfiles.tarsplit import TARSPLIT_ERRORS, read_tarsplit
from ..layerfiles.walk import compare_trees, disk_usage, walk_layer

FILES_FROM = ("auto", "walk", "tar-split")
#: containerd snapshotters whose directories layerlab reads (sources.containerd).
CONTAINERD_SNAPSHOTTERS = ("overlayfs", "native")
SCAN_HINT = "scan it as root into a snapshot (`sudo layerlab scan ROOT -o host.layerlab`) and analyse the snapshot as any user"


def detect(root: str, driver: str | None = None) -> tuple[str, str]:
    """The image store and driver of a data root: ``("graphdriver", "overlay2")`` etc."""
    try:
        is_dir = os.path.isdir(os.path.realpath(root)) if os.path.lexists(root) else None
    except PermissionError:
        is_dir = True
    if is_dir is None:
        raise NotADataRoot(f"{root} does not exist; give a Docker data root such as /var/lib/docker", path=root)
    if not is_dir:
        raise NotADataRoot(f"{root} is not a directory; give a Docker data root such as /var/lib/docker", path=root)
    if not os.access(root, os.R_OK | os.X_OK):
        # Docker makes its root 0710 root:root: only root can look inside.
        raise DataRootPermissionError(f"permission denied reading {root}; {SCAN_HINT}", path=root)
    image_dir = os.path.join(root, "image")
    try:
        present = sorted(
            d for d in os.listdir(image_dir) if os.path.isdir(os.path.join(image_dir, d, "layerdb")) or os.path.isfile(os.path.join(image_dir, d, "repositories.json"))
        ) if os.path.isdir(image_dir) else []
    except PermissionError:
        raise DataRootPermissionError(f"permission denied reading {image_dir}; {SCAN_HINT}", path=image_dir) from None
    if driver in CONTAINERD_SNAPSHOTTERS and _is_containerd(root):
        return "containerd", driver
    if driver is not None:
        if driver not in DRIVERS:
            raise NotADataRoot(f"unknown driver {driver!r}; known drivers: {', '.join(DRIVERS)}", path=root)
        if driver not in present:
            raise NotADataRoot(
                f"{root} has no image store for driver {driver!r} (image/{driver}/ is missing); present: {present or 'none'}",
                path=root,
            )
        return "graphdriver", driver
    present = [d for d in present if d in DRIVERS]
    if len(present) == 1:
        return "graphdriver", present[0]
    if len(present) > 1:
        raise NotADataRoot(
            f"{root} holds image stores for several drivers ({', '.join(present)}); choose one with driver=… (CLI: --driver)",
            path=root,
        )
    if _is_containerd(root):
        # Docker 29's default store: read by sources.containerd (snapshotter chosen there).
        return "containerd", "auto"
    raise NotADataRoot(
        f"{root} is not a Docker data root: no image/<driver>/ store in it. Give the daemon's --data-root "
        "(default /var/lib/docker; `docker info -f '{{.DockerRootDir}}'` prints it)",
        path=root,
    )


def _is_containerd(root: str) -> bool:
    names = ("io.containerd.metadata.v1.bolt", "io.containerd.content.v1.content")
    return any(os.path.isdir(os.path.join(root, n)) for n in names) or (
        os.path.isdir(os.path.join(root, "containerd")) and os.path.isdir(os.path.join(root, "containers"))
    )


def chain_ids(diff_ids: list[str]) -> list[str]:
    """ChainID(L0) = DiffID(L0); ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(Ln))."""
    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else "sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _read_optional(path: str) -> str | None:
    """A metadata file's stripped text, or None when the file does not exist."""
    try:
        return _read(path).strip()
    except FileNotFoundError:
        return None


def _read_json(path: str, raw: bytes | None = None):
    """The JSON in ``path`` (or in ``raw``, its bytes already read), or CorruptMetadata naming it."""
    try:
        return json.loads(raw if raw is not None else _read(path))
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptMetadata(
            f"{path} is not valid JSON ({e}); the file is damaged or was being written: "
            "check the daemon, or copy the root while the daemon is stopped and scan the copy",
            path=path,
        ) from None


def _read_int(path: str) -> int:
    text = _read(path).strip()
    try:
        return int(text)
    except ValueError:
        raise CorruptMetadata(
            f"{path} should hold a decimal byte count, found {text[:40]!r}; the layer store is damaged "
            "(`docker image inspect` of its images will fail too)",
            path=path,
        ) from None


def _time(value) -> pd.Timestamp:
    if not value:
        return pd.NaT
    try:
        t = pd.Timestamp(value)
    except (ValueError, TypeError):
        return pd.NaT
    return t.tz_convert("UTC") if t.tzinfo else t.tz_localize("UTC")


def _docker_size(files: pd.DataFrame) -> int:
    """Docker's directory.Size over a diff: regular file bytes plus symlink target lengths."""
    links = files.loc[files["kind"] == "symlink", "link_target"]
    return int(files["size"].sum()) + sum(len(os.fsencode(t)) for t in links)


class DataRoot:
    """Reads one graphdriver data root. Use ``open_root``; this class holds the reading steps."""

    def __init__(self, root: str, driver: str | None = None, files: str = "auto", progress: bool | None = None):
        if files not in FILES_FROM:
            raise ValueError(f"files={files!r}; choose one of {FILES_FROM}")
        self.root = os.path.abspath(root)
        self.image_store, name = detect(self.root, driver)
        self.driver: Driver = DRIVERS[name]
        self.files_from = files
        self.progress = progress
        self.store = os.path.join(self.root, "image", name)
        self.layerdb = os.path.join(self.store, "layerdb")
        self._check_readable()
        self.skipped: list[dict] = []

    # -- metadata -----------------------------------------------------------------------------

    def _check_readable(self) -> None:
        denied = [
            p
            for p in (self.store, self.layerdb, os.path.join(self.layerdb, "sha256"), os.path.join(self.store, "imagedb"), os.path.join(self.root, self.driver.name), os.path.join(self.root, "containers"))
            if os.path.exists(p) and not os.access(p, os.R_OK | os.X_OK)
        ]
        if denied:
            raise DataRootPermissionError(
                f"permission denied reading {', '.join(denied)}; {SCAN_HINT}", path=denied[0]
            )

    def _skip(self, what: str, id_: str, path: str, reason: str) -> None:
        warnings.warn(f"layerlab: skipped {what} {id_}: {reason} ({path})", stacklevel=3)
        self.skipped.append({"what": what, "id": id_, "path": path, "reason": reason})

    def read_layerdb(self) -> dict[str, dict]:
        base = os.path.join(self.layerdb, "sha256")
        layers: dict[str, dict] = {}
        if not os.path.isdir(base):
            return layers
        for name in sorted(os.listdir(base)):
            if len(name) != 64:  # "<hex>-<random>-removing" entries are being deleted
                continue
            d = os.path.join(base, name)
            try:
                layers["sha256:" + name] = {
                    "layer_id": "sha256:" + name,
                    "diff_id": _read(os.path.join(d, "diff")).strip(),
                    "size": _read_int(os.path.join(d, "size")),
                    "cache_id": _read(os.path.join(d, "cache-id")).strip(),
                    "parent": _read_optional(os.path.join(d, "parent")),
                    "tar_split": os.path.join(d, "tar-split.json.gz"),
                }
            except FileNotFoundError as e:
                self._skip("layer", "sha256:" + name, d, f"layer metadata vanished while reading ({e.filename})")
        return layers

    def read_repositories(self) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        path = os.path.join(self.store, "repositories.json")
        tags: dict[str, list[str]] = {}
        digests: dict[str, list[str]] = {}
        if not os.path.exists(path):
            return tags, digests
        for refs in (_read_json(path).get("Repositories") or {}).values():
            for ref, image_id in refs.items():
                (digests if "@" in ref else tags).setdefault(image_id, []).append(ref)
        return tags, digests

    def read_images(self) -> list[dict]:
        content = os.path.join(self.store, "imagedb", "content", "sha256")
        meta = os.path.join(self.store, "imagedb", "metadata", "sha256")
        out = []
        if not os.path.isdir(content):
            return out
        for name in sorted(os.listdir(content)):
            path = os.path.join(content, name)
            try:
                with open(path, "rb") as f:
                    raw = f.read()
            except FileNotFoundError:
                self._skip("image", "sha256:" + name, path, "image config vanished while reading")
                continue
            if hashlib.sha256(raw).hexdigest() != name:
                raise CorruptMetadata(f"{path} does not match its digest: the image store is damaged", path=path)
            config = _read_json(path, raw)
            parent = _read_optional(os.path.join(meta, name, "parent"))
            out.append({"image_id": "sha256:" + name, "config": config, "parent": parent or None})
        return out

    def read_containers(self) -> list[dict]:
        cdir = os.path.join(self.root, "containers")
        mounts = os.path.join(self.layerdb, "mounts")
        out = []
        if not os.path.isdir(cdir):
            return out
        for cid in sorted(os.listdir(cdir)):
            cfg_path = os.path.join(cdir, cid, "config.v2.json")
            if not os.path.exists(cfg_path):
                continue
            cfg = _read_json(cfg_path)
            m = os.path.join(mounts, cid)
            try:
                mount_id = _read(os.path.join(m, "mount-id")).strip()
                init_id = _read_optional(os.path.join(m, "init-id"))
                parent = _read_optional(os.path.join(m, "parent"))
            except FileNotFoundError:
                self._skip("container", cid, m, "no layer mount record (layerdb/mounts) for this container")
                mount_id = init_id = parent = None
            out.append({"id": cid, "config": cfg, "mount_id": mount_id, "init_id": init_id, "parent": parent})
        return out

    def read_compressed(self) -> dict[str, list[str]]:
        """Registry blob digests per DiffID, from the distribution metadata Docker keeps."""
        base = os.path.join(self.store, "distribution", "v2metadata-by-diffid", "sha256")
        out: dict[str, list[str]] = {}
        if not os.path.isdir(base):
            return out
        for name in os.listdir(base):
            entries = _read_json(os.path.join(base, name)) or []
            out["sha256:" + name] = sorted({e["Digest"] for e in entries if e.get("Digest")})
        return out

    # -- frames -------------------------------------------------------------------------------

    def metadata_frames(self) -> dict[str, pd.DataFrame]:
        layerdb = self.read_layerdb()
        tags, digests = self.read_repositories()
        images = self.read_images()
        containers = self.read_containers()
        compressed = self.read_compressed()
        self._layerdb = layerdb

        image_rows, il_rows, hist_rows = [], [], []
        chains: dict[str, list[str]] = {}
        children: dict[str, int] = {}
        for img in images:
            if img["parent"]:
                children[img["parent"]] = children.get(img["parent"], 0) + 1
        for img in images:
            cfg, iid = img["config"], img["image_id"]
            diff_ids = (cfg.get("rootfs") or {}).get("diff_ids") or []
            chain = chain_ids(diff_ids)
            missing = [c for c in chain if c not in layerdb]
            if missing:
                self._skip("image", iid, self.layerdb, f"layers {', '.join(m[:19] for m in missing)} are not in the layer store")
                continue
            chains[iid] = chain
            history = cfg.get("history") or []
            made = [h for h in history if not h.get("empty_layer")]
            pos = 0
            for i, h in enumerate(history):
                empty = bool(h.get("empty_layer"))
                hist_rows.append(
                    {
                        "image_id": iid,
                        "index": i,
                        "created": _time(h.get("created")),
                        "created_by": h.get("created_by"),
                        "comment": h.get("comment"),
                        "empty_layer": empty,
                        "position": None if empty or pos >= len(chain) else pos,
                    }
                )
                if not empty:
                    pos += 1
            for p, (cid, did) in enumerate(zip(chain, diff_ids)):
                h = made[p] if len(made) == len(chain) else {}
                il_rows.append(
                    {
                        "image_id": iid,
                        "position": p,
                        "layer_id": cid,
                        "diff_id": did,
                        "size": layerdb[cid]["size"],
                        "created_by": h.get("created_by"),
                        "created": _time(h.get("created")),
                    }
                )
            image_rows.append(
                {
                    "image_id": iid,
                    "tags": sorted(t for t in tags.get(iid, [])),
                    "digests": sorted(digests.get(iid, [])),
                    "created": _time(cfg.get("created")),
                    "architecture": cfg.get("architecture"),
                    "os": cfg.get("os"),
                    "layer_count": len(chain),
                    "size": sum(layerdb[c]["size"] for c in chain),
                    "container_count": sum(1 for c in containers if c["config"].get("Image") == iid),
                    "parent": img["parent"],
                    # `docker images` (and `docker system df`) leave out untagged images that have children:
                    # the classic builder's intermediate images.
                    "intermediate": not (tags.get(iid) or digests.get(iid)) and children.get(iid, 0) > 0,
                }
            )
        # docker system df -v: a layer is shared when more than one listed image uses it (daemon 20.10).
        refs: dict[str, int] = {}
        for row in image_rows:
            if not row["intermediate"]:
                for c in chains[row["image_id"]]:
                    refs[c] = refs.get(c, 0) + 1
        for row in image_rows:
            row["shared_size"] = sum(layerdb[c]["size"] for c in chains[row["image_id"]] if refs.get(c, 0) > 1)
            row["unique_size"] = row["size"] - row["shared_size"]

        image_count: dict[str, int] = {}
        for chain in chains.values():
            for c in chain:
                image_count[c] = image_count.get(c, 0) + 1
        layer_rows = [
            {
                "layer_id": lid,
                "kind": "image",
                "diff_id": l["diff_id"],
                "parent": l["parent"],
                "cache_id": l["cache_id"],
                "size": l["size"],
                "image_count": image_count.get(lid, 0),
                "compressed": compressed.get(l["diff_id"], []),
            }
            for lid, l in layerdb.items()
        ]
        container_rows = []
        for c in containers:
            cfg = c["config"]
            cid = c["id"]
            if c["mount_id"]:
                if c["init_id"]:
                    layer_rows.append(
                        {"layer_id": f"init:{cid}", "kind": "init", "diff_id": None, "parent": c["parent"], "cache_id": c["init_id"], "size": 0, "image_count": 0, "compressed": []}
                    )
                layer_rows.append(
                    {
                        "layer_id": f"container:{cid}",
                        "kind": "container",
                        "diff_id": None,
                        "parent": f"init:{cid}" if c["init_id"] else c["parent"],
                        "cache_id": c["mount_id"],
                        "size": 0,
                        "image_count": 0,
                        "compressed": [],
                    }
                )
            container_rows.append(
                {
                    "container_id": cid,
                    "name": (cfg.get("Name") or "").lstrip("/"),
                    "image_id": cfg.get("Image"),
                    "state": _state(cfg.get("State") or {}),
                    "created": _time(cfg.get("Created")),
                    "layer_id": f"container:{cid}",
                    "rw_size": None,
                }
            )
        return metadata_frames(image_rows, layer_rows, il_rows, hist_rows, container_rows)

    def layer_files(self, row) -> tuple[pd.DataFrame, int | None, int | None]:
        """(files rows, docker size or None, disk usage or None) of one layer row."""
        drv, root = self.driver, self.root
        lid, kind, cache = row.layer_id, row.kind, row.cache_id
        if kind == "image":
            use_walk = self.files_from == "walk" or (self.files_from == "auto" and drv.image_files == "walk")
            diff = drv.diff_dir(root, cache)
            if use_walk and diff is not None:
                files = walk_layer(diff, lid, drv.convention)
                return files, None, self._disk_from_walk(files, cache, diff)
            files = read_tarsplit(self._layerdb[lid]["tar_split"], lid).frame()
            return files, None, self._disk(cache)
        # init and container layers
        if drv.container_files == "walk":
            diff = drv.diff_dir(root, cache, container=True)
            files = walk_layer(diff, lid, drv.convention)
            if drv.name == "overlay" and row.kind == "container":
                # The legacy overlay driver starts a container's upper/ as a copy of its init layer's
                # upper/; Docker's naive diff does not count those copies, so neither do we.
                init = walk_layer(drv.diff_dir(root, self._lower_cache(row), container=True), lid, drv.convention)
                key = ["path", "kind", "size", "mode", "uid", "gid", "mtime", "link_target"]
                same = files[key].merge(init[key].drop_duplicates(), how="left", indicator=True)["_merge"] == "both"
                files = files[~same.to_numpy()].reset_index(drop=True)
            return files, _docker_size(files), self._disk_from_walk(files, cache, diff)
        if drv.container_files == "compare":
            lower_cache = self._lower_cache(row)
            rows, size = compare_trees(drv.full_dir(root, lower_cache), drv.full_dir(root, cache), lid)
            return rows.frame(), size, self._disk(cache)
        raise _NotPlain(f"the {drv.name} driver keeps container layers in block devices or datasets, not plain directories")

    def _lower_cache(self, row) -> str:
        if row.kind == "container" and str(row.parent).startswith("init:"):
            return self._layer_rows[row.parent].cache_id
        return self._layerdb[row.parent]["cache_id"]

    def _disk(self, cache: str) -> int | None:
        d = self.driver.layer_dir(self.root, cache)
        if not os.path.isdir(d):
            return None
        return disk_usage(d) + os.lstat(d).st_blocks * 512

    def _disk_from_walk(self, files: pd.DataFrame, cache: str, diff: str) -> int:
        # The walk already has every block under diff/; add the diff dir itself and the driver's
        # bookkeeping beside it (link, lower, work/), without walking diff/ twice.
        total = int(files["disk_usage"].sum()) + os.lstat(diff).st_blocks * 512
        layer_dir = self.driver.layer_dir(self.root, cache)
        if os.path.abspath(layer_dir) != os.path.abspath(diff):
            total += os.lstat(layer_dir).st_blocks * 512
            for name in os.listdir(layer_dir):
                p = os.path.join(layer_dir, name)
                if os.path.abspath(p) == os.path.abspath(diff):
                    continue
                st = os.lstat(p)
                total += st.st_blocks * 512
                if os.path.isdir(p) and not os.path.islink(p):
                    total += disk_usage(p)
        return total

    def read_layers(self, layers: pd.DataFrame, which: pd.Series | None = None) -> None:
        """Read the files of the layers selected by ``which`` (all by default) into the cache."""
        self._layer_rows = {r.layer_id: r for r in layers.itertuples(index=False)}
        rows = [r for r in layers[which if which is not None else slice(None)].itertuples(index=False) if r.layer_id not in self._read]
        bar = tqdm(rows, desc="reading layers", unit="layer", disable=self.progress is False or not rows, leave=False)
        for row in bar:
            where = self.driver.layer_dir(self.root, row.cache_id)
            try:
                self._read[row.layer_id] = self.layer_files(row)
                continue
            except _NotPlain as e:
                reason, path = str(e), where
            except FileNotFoundError as e:
                reason, path = "layer vanished while reading (removed by the daemon?)", e.filename or where
            except PermissionError as e:
                reason, path = f"permission denied; {SCAN_HINT}", e.filename or where
            except TARSPLIT_ERRORS as e:
                reason, path = f"unreadable tar-split ({type(e).__name__}: {e})", where
            self._read[row.layer_id] = None
            self._skip("layer", row.layer_id, path, reason)
        bar.close()

    def container_sizes(self, meta: dict[str, pd.DataFrame]) -> pd.DataFrame:
        """The containers frame with rw_size (reads only container and init layers)."""
        layers, containers = meta["layers"], meta["containers"]
        self.read_layers(layers, layers["kind"] != "image")
        sizes = {k: v[1] for k, v in self._read.items() if v is not None}
        containers["rw_size"] = pd.array([sizes.get(x) for x in containers["layer_id"]], dtype="Int64")
        return containers

    def files_frame(self, meta: dict[str, pd.DataFrame]) -> pd.DataFrame:
        """The files frame of every layer; fills the layers frame's counts and disk usage."""
        layers = meta["layers"]
        self.read_layers(layers)
        read = {k: v for k, v in self._read.items() if v is not None}
        files = concat_files([v[0] for v in read.values()])
        fill_layer_counts(layers, files, {k: v[2] for k, v in read.items()})
        lid = layers["layer_id"]
        is_rw = layers["kind"] != "image"
        if is_rw.any():
            layers.loc[is_rw, "size"] = [read[x][1] if x in read and read[x][1] is not None else 0 for x in lid[is_rw]]
        return files

    def inventory(self) -> Inventory:
        """An Inventory whose metadata frames are read now and whose layer contents on first use."""
        frames = self.metadata_frames()
        self._read: dict[str, tuple | None] = {}
        state: dict = {}

        def files():
            if "files" not in state:
                state["files"] = self.files_frame(frames)
            return state["files"]

        def layers():
            files()
            return frames["layers"]

        def skipped():
            files()
            return schema.coerce(pd.DataFrame(self.skipped, columns=schema.columns("skipped")), "skipped")

        meta = {
            "source": self.root,
            "image_store": self.image_store,
            "driver": self.driver.name,
            "host": socket.gethostname(),
            "scanned_at": datetime.now(timezone.utc).isoformat(),
            "layerlab_version": __version__,
            "files_from": self.files_from,
        }
        return Inventory(
            meta,
            {
                "images": frames["images"],
                "layers": layers,
                "image_layers": frames["image_layers"],
                "history": frames["history"],
                "containers": lambda: self.container_sizes(frames),
                "files": files,
                "skipped": skipped,
            },
        )


def fill_layer_counts(layers: pd.DataFrame, files: pd.DataFrame, disk_usage: dict) -> None:
    """Fill the layers frame's file_count, whiteout_count and opaque_count from ``files``, and its
    disk_usage from ``disk_usage`` (layer_id -> bytes; absent or None: unknown)."""
    counts = files.groupby("layer_id", observed=True)["kind"].value_counts().unstack(fill_value=0)
    lid = layers["layer_id"]
    layers["file_count"] = lid.map(counts.sum(axis=1) if len(counts) else {}).fillna(0).astype("int64")
    for col, k in (("whiteout_count", "whiteout"), ("opaque_count", "opaque")):
        layers[col] = lid.map(counts[k] if k in counts else {}).fillna(0).astype("int64")
    layers["disk_usage"] = pd.array([disk_usage.get(x) for x in lid], dtype="Int64")


def metadata_frames(images, layers, image_layers, history, containers) -> dict[str, pd.DataFrame]:
    """The contract's frames from row dicts; the layers' per-file counts start at 0 until files are read."""
    return {
        "images": schema.from_rows("images", images),
        "layers": schema.from_rows("layers", layers, file_count=0, whiteout_count=0, opaque_count=0),
        "image_layers": schema.from_rows("image_layers", image_layers),
        "history": schema.from_rows("history", history),
        "containers": schema.from_rows("containers", containers),
    }


class _NotPlain(Exception):
    pass


def _state(state: dict) -> str:
    # Docker's State.StateString()
    if state.get("Running"):
        if state.get("Paused"):
            return "paused"
        if state.get("Restarting"):
            return "restarting"
        return "running"
    if state.get("RemovalInProgress"):
        return "removing"
    if state.get("Dead"):
        return "dead"
    started = state.get("StartedAt") or ""
    if not started or started.startswith("0001-01-01"):
        return "created"
    return "exited"


def open_root(path: str, driver: str | None = None, *, files: str = "auto", progress: bool | None = None) -> Inventory:
    """Open a Docker data root (e.g. ``/var/lib/docker``) as an Inventory of the contract's frames.

    ``driver`` chooses the image store when several are present. ``files`` chooses where image
    layers' files come from: ``"auto"`` (walk diff directories where the driver keeps them, else
    tar-split), ``"walk"`` or ``"tar-split"``. Nothing under ``path`` is ever written.
    """
    if detect(path, driver)[0] == "containerd":
        from ..containerd.store import open_containerd

        return open_containerd(path, snapshotter=driver, progress=progress)
    return DataRoot(path, driver, files=files, progress=progress).inventory()

