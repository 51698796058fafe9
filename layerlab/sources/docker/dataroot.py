"""A Docker data root with the graphdriver image store, read into the contract's frames.

Strictly read-only: files are opened for reading only, nothing is created, locked or touched.
Layouts are in docs/formats.md ("Data root", "Driver layouts"); each driver's specifics are in ``layouts.py``.
"""

from __future__ import annotations

import hashlib
import os
import stat

import pandas as pd

from ...errors import (OPTIONAL_TEXT, PATH, PROGRESS, TEXT, CorruptMetadata, DataRootPermissionError, NotADataRoot,
                       expects)
from ...frames.inventory import Inventory
from ...oci.config import chain_ids, config_problem, diff_ids, history_rows, image_layer_rows, parse_time
from .._reader import (
    SCAN_HINT,
    Folder,
    Skipped,
    assemble,
    check_id,
    check_name,
    container_problem,
    container_state,
    docker_size,
    fill_layer_counts,
    listdir,
    is_digest,
    metadata_frames,
    read_each_layer,
    read_json,
    read_optional,
    read_text,
    scandir,
    source_meta,
    confine,
    symlinked_folder,
)
from ..layerfiles.rows import FRAME_ALONE, FileRows, concat_files, frame_layers
from ..layerfiles.tarsplit import TARSPLIT_ERRORS, read_tarsplit
from ..layerfiles.walk import WalkedLayer, compare_trees, disk_usage, frame_walked, walk_layer
from .early import started
from .layouts import DRIVERS, Driver

FILES_FROM = ("auto", "walk", "tar-split")
#: containerd snapshotters whose directories layerlab reads (sources.containerd).
CONTAINERD_SNAPSHOTTERS = ("overlayfs", "native")


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
            d for d in listdir(image_dir) if os.path.isdir(os.path.join(image_dir, d, "layerdb"))
            or os.path.isfile(os.path.join(image_dir, d, "repositories.json"))
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
                f"{root} has no image store for driver {driver!r} (image/{driver}/ is missing); present: "
                f"{present or 'none'}",
                path=root,
            )
        return "graphdriver", driver
    present = [d for d in present if d in DRIVERS]
    if len(present) == 1:
        return "graphdriver", present[0]
    if len(present) > 1:
        raise NotADataRoot(
            f"{root} holds image stores for several drivers ({', '.join(present)}); choose one with driver=… (CLI: "
            "--driver)",
            path=root,
        )
    if _is_containerd(root):
        # Docker 29's default store: read by sources.containerd (snapshotter chosen there).
        return "containerd", "auto"
    raise NotADataRoot(
        f"{root} is not a Docker data root: no image/<driver>/ store in it. Give the daemon's --data-root "
        "(default /var/lib/docker; `docker info -f '{{.DockerRootDir}}'` prints it), or podman's store "
        "(/var/lib/containers/storage; `podman info -f '{{.Store.GraphRoot}}'` prints it)",
        path=root,
    )


def _is_containerd(root: str) -> bool:
    names = ("io.containerd.metadata.v1.bolt", "io.containerd.content.v1.content")
    return any(os.path.isdir(os.path.join(root, n)) for n in names) or (
        os.path.isdir(os.path.join(root, "containerd")) and os.path.isdir(os.path.join(root, "containers"))
    )


class DataRoot:
    """Reads one graphdriver data root. Use ``open_root``; this class holds the reading steps."""

    def __init__(self, root: str, driver: str | None = None, files: str = "auto", progress: bool | None = None):
        if files not in FILES_FROM:
            raise ValueError(f"files={files!r}; choose one of {FILES_FROM}")
        self.root = os.path.abspath(root)
        self.image_store, name = detect(self.root, driver)
        self.driver: Driver = DRIVERS[name]
        # Nothing below the root is read through a symbolic link out of it; the driver's own folder
        # may be placed elsewhere (the host's choice, not the metadata's).
        confine(self.root)
        confine(os.path.join(self.root, name))
        self.files_from = files
        self.progress = progress
        self.store = os.path.join(self.root, "image", name)
        self.layerdb = os.path.join(self.store, "layerdb")
        self._check_readable()
        self.skipped = Skipped()
        # walks begun while layerlab loaded (overlay2, its own whiteout convention, only)
        self._early = started(self.root) if name == "overlay2" and files != "tar-split" else None

    # -- metadata -----------------------------------------------------------------------------

    def _check_readable(self) -> None:
        denied = [
            p
            for p in (self.store, self.layerdb, os.path.join(self.layerdb, "sha256"),
                      os.path.join(self.store, "imagedb"), os.path.join(self.root, self.driver.name),
                      os.path.join(self.root, "containers"))
            if os.path.exists(p) and not os.access(p, os.R_OK | os.X_OK)
        ]
        if denied:
            raise DataRootPermissionError(
                f"permission denied reading {', '.join(denied)}; {SCAN_HINT}", path=denied[0]
            )

    def read_layerdb(self) -> dict[str, dict]:
        base = os.path.join(self.layerdb, "sha256")
        layers: dict[str, dict] = {}
        if not os.path.isdir(base):
            return layers
        with Folder(base) as entries:
            names = sorted(entries.names())
            for name in names:
                if len(name) != 64:  # "<hex>-<random>-removing" entries are being deleted
                    continue
                d = os.path.join(base, name)
                try:
                    with entries.sub(name) as entry:
                        layer = {
                            "layer_id": "sha256:" + name,
                            "diff_id": entry.text("diff"),
                            "size": entry.int("size"),
                            "cache_id": entry.text("cache-id"),
                            "parent": entry.optional("parent"),
                            "tar_split": os.path.join(d, "tar-split.json.gz"),
                        }
                except FileNotFoundError as e:
                    self.skipped.add("layer", "sha256:" + name, d,
                                     f"layer metadata vanished while reading ({e.filename})")
                    continue
                bad = _bad_layer_ids(layer)
                if bad:
                    self.skipped.add("layer", "sha256:" + name, os.path.join(d, bad[0]), bad[1])
                    continue
                layers["sha256:" + name] = layer
        return layers

    def _missing_layers(self, missing: list[str]) -> str:
        """Why an image whose layers ``missing`` were not read is skipped: the layers' own skips, or absent."""
        skipped = {r["id"]: r["reason"] for r in self.skipped if r["what"] == "layer"}
        read_but_skipped = [m for m in missing if m in skipped]
        absent = [m for m in missing if m not in skipped]
        parts = []
        if read_but_skipped:
            first = read_but_skipped[0]
            parts.append(f"its layer{'s' if len(read_but_skipped) > 1 else ''} "
                         f"{', '.join(m[:19] for m in read_but_skipped)} could not be read "
                         f"({first[:19]}: {skipped[first]})")
        if absent:
            parts.append(f"its layer{'s' if len(absent) > 1 else ''} {', '.join(m[:19] for m in absent)} "
                         f"{'are' if len(absent) > 1 else 'is'} not in the layer store "
                         f"(image/{self.driver.name}/layerdb)")
        return "; ".join(parts)

    def read_repositories(self) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        path = os.path.join(self.store, "repositories.json")
        tags: dict[str, list[str]] = {}
        digests: dict[str, list[str]] = {}
        if not os.path.exists(path):
            return tags, digests
        data = read_json(path)
        repos = data.get("Repositories") if isinstance(data, dict) else None
        if not isinstance(repos or {}, dict) or not all(
                isinstance(refs, dict) and all(isinstance(r, str) and isinstance(i, str) for r, i in refs.items())
                for refs in (repos or {}).values()):
            raise CorruptMetadata(f"{path} is not docker's repositories.json shape ({{\"Repositories\": {{repo: "
                                  "{reference: image ID}}}}); the image store is damaged: `docker images` will "
                                  "fail too", path=path)
        for refs in (repos or {}).values():
            for ref, image_id in refs.items():
                (digests if "@" in ref else tags).setdefault(image_id, []).append(ref)
        return tags, digests

    def read_images(self) -> list[dict]:
        content = os.path.join(self.store, "imagedb", "content", "sha256")
        meta = os.path.join(self.store, "imagedb", "metadata", "sha256")
        if not os.path.isdir(content):
            return []
        configs, metadata = Folder(content), Folder(meta)
        try:
            return self._read_images(configs, metadata)
        finally:
            configs.close()
            metadata.close()

    def _read_images(self, configs, metadata) -> list[dict]:
        content, out = configs.path, []
        for name in sorted(configs.names()):
            path = os.path.join(content, name)
            try:
                raw = configs.read(name)
            except FileNotFoundError:
                self.skipped.add("image", "sha256:" + name, path, "image config vanished while reading")
                continue
            if hashlib.sha256(raw).hexdigest() != name:
                raise CorruptMetadata(f"{path} does not match its digest: the image store is damaged", path=path)
            config = read_json(path, raw)
            problem = config_problem(config)
            if problem:
                self.skipped.add("image", "sha256:" + name, path, f"{problem}; the image store is damaged")
                continue
            with metadata.sub(name) as image_meta:
                parent = image_meta.optional("parent")
            out.append({"image_id": "sha256:" + name, "config": config, "parent": parent or None})
        return out

    def read_containers(self) -> list[dict]:
        cdir = os.path.join(self.root, "containers")
        mounts = os.path.join(self.layerdb, "mounts")
        out = []
        if not os.path.isdir(cdir):
            return out
        for cid in sorted(listdir(cdir)):
            cfg_path = os.path.join(cdir, cid, "config.v2.json")
            if not os.path.exists(cfg_path):
                continue
            cfg = read_json(cfg_path)
            problem = container_problem(cfg)
            if problem:
                self.skipped.add("container", cid, cfg_path, f"{problem}; the container record is damaged")
                continue
            m = os.path.join(mounts, cid)
            try:
                mount_id = read_text(os.path.join(m, "mount-id")).strip()
                init_id = read_optional(os.path.join(m, "init-id"))
                parent = read_optional(os.path.join(m, "parent"))
            except FileNotFoundError:
                self.skipped.add("container", cid, m, "no layer mount record (layerdb/mounts) for this container")
                mount_id = init_id = parent = None
            # mount-id and init-id are 64 hex (init: plus "-init") in every form the daemon writes, and the
            # daemon refuses others itself (layer/filestore.go isValidID): kept that strict.
            if mount_id is not None and (not check_id(mount_id) or (init_id and not check_id(init_id, "-init"))
                                         or (parent and not is_digest(parent))):
                self.skipped.add("container", cid, m, f"its layer mount record holds an ID that is not a 64-hex ID "
                                 f"or digest ({mount_id[:80]!r}, {str(init_id)[:80]!r}, {str(parent)[:80]!r}), as "
                                 "Docker writes them and reads them back; IDs become paths, so its layers are not read")
                mount_id = init_id = parent = None
            out.append({"id": cid, "config": cfg, "mount_id": mount_id, "init_id": init_id, "parent": parent})
        return out

    def read_compressed(self) -> dict[str, list[str]]:
        """Registry blob digests per DiffID, from the distribution metadata Docker keeps."""
        base = os.path.join(self.store, "distribution", "v2metadata-by-diffid", "sha256")
        out: dict[str, list[str]] = {}
        if not os.path.isdir(base):
            return out
        for name in listdir(base):
            path = os.path.join(base, name)
            entries = read_json(path) or []
            if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
                self.skipped.add("layer", "sha256:" + name, path, "its distribution metadata is not a list of "
                                 "objects: its compressed digests are unknown")
                continue
            out["sha256:"
                + name] = sorted({e["Digest"] for e in entries if isinstance(e.get("Digest"), str) and e["Digest"]})
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
            chain = chain_ids(diff_ids(cfg))
            missing = [c for c in chain if c not in layerdb]
            if missing:
                self.skipped.add("image", iid, self.layerdb, self._missing_layers(missing),
                                 names=sorted(tags.get(iid, [])) + sorted(digests.get(iid, [])))
                continue
            chains[iid] = chain
            hist_rows += history_rows(cfg, len(chain), image_id=iid)
            il_rows += image_layer_rows(cfg, iid, chain, {c: layerdb[c]["size"] for c in chain})
            image_rows.append(
                {
                    "image_id": iid,
                    "tags": sorted(t for t in tags.get(iid, [])),
                    "digests": sorted(digests.get(iid, [])),
                    "created": parse_time(cfg.get("created")),
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
                        {"layer_id": f"init:{cid}", "kind": "init", "diff_id": None, "parent": c["parent"],
                         "cache_id": c["init_id"], "size": 0, "image_count": 0, "compressed": []}
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
                    "state": container_state(cfg.get("State") or {}),
                    "created": parse_time(cfg.get("Created")),
                    "layer_id": f"container:{cid}",
                    "rw_size": None,
                }
            )
        return metadata_frames(image_rows, layer_rows, il_rows, hist_rows, container_rows)

    def layer_files(self, row) -> tuple[pd.DataFrame, int | None, int | None]:
        """(files rows, docker size or None, disk usage or None) of one layer row. An image layer's rows
        are a frame, or for a small layer its walk or tar-split rows, framed with the others by files_frame."""
        drv, root = self.driver, self.root
        lid, kind, cache = row.layer_id, row.kind, row.cache_id
        self._refuse_symlinks(cache)
        if (kind != "image" and drv.container_files == "compare") or (kind == "container" and drv.name == "overlay"):
            self._refuse_symlinks(self._lower_cache(row))  # read below too
        if kind == "image":
            use_walk = self.files_from == "walk" or (self.files_from == "auto" and drv.image_files == "walk")
            diff = drv.diff_dir(root, cache)
            if use_walk and diff is not None:
                walked = walk_layer(diff, lid, drv.convention, frame=False, checked=True,  # _refuse_symlinks
                                    walked=self._walked_early(diff))
                disk = self._disk_from_walk(walked.disk_bytes, cache, diff)
                # a small layer is framed with the others (files_frame); a large one here, beside the other walks
                return walked if len(walked) < FRAME_ALONE else frame_walked([walked]), None, disk
            refused: list = []
            rows = read_tarsplit(self._layerdb[lid]["tar_split"], lid, refused)
            for name, reason in refused:
                self.skipped.add("layer", lid, self._layerdb[lid]["tar_split"], reason)
            return rows if len(rows) < FRAME_ALONE else rows.frame(), None, self._disk(cache)
        # init and container layers
        if drv.container_files == "walk":
            diff = drv.diff_dir(root, cache, container=True)
            files = walk_layer(diff, lid, drv.convention, walked=self._walked_early(diff))
            if drv.name == "overlay" and row.kind == "container":
                # The legacy overlay driver starts a container's upper/ as a copy of its init layer's
                # upper/; Docker's naive diff does not count those copies, so neither do we.
                init = walk_layer(drv.diff_dir(root, self._lower_cache(row), container=True), lid, drv.convention)
                key = ["path", "kind", "size", "mode", "uid", "gid", "mtime", "link_target"]
                same = files[key].merge(init[key].drop_duplicates(), how="left", indicator=True)["_merge"] == "both"
                files = files[~same.to_numpy()].reset_index(drop=True)
            return files, docker_size(files), self._disk_from_walk(int(files["disk_usage"].sum()), cache, diff)
        if drv.container_files == "compare":
            lower_cache = self._lower_cache(row)
            rows, size = compare_trees(drv.full_dir(root, lower_cache), drv.full_dir(root, cache), lid)
            return rows.frame(), size, self._disk(cache)
        raise _NotPlain(f"the {drv.name} driver keeps container layers in block devices or datasets, not plain "
                        "directories")

    def _walked_early(self, diff: str) -> tuple | None:
        """The walk of ``diff`` begun before this reader (``layerlab scan``: docker.early), if any."""
        early = self._early
        return early.take(diff) if early is not None else None

    def _refuse_symlinks(self, cache: str) -> None:
        """_Symlinked if the folder the driver keeps layer ``cache`` in, or one it reads below it, is a
        symbolic link (the driver's own home may be one: that is the host's choice, not metadata's)."""
        drv, home = self.driver, os.path.join(self.root, self.driver.name)
        layer_dir = drv.layer_dir(self.root, cache)
        known: set[str] = set()  # folders found to be no link: each looked at once
        for path in dict.fromkeys((layer_dir, drv.diff_dir(self.root, cache),
                                   drv.diff_dir(self.root, cache, container=True), drv.full_dir(self.root, cache))):
            found = path and symlinked_folder(home, path, known)
            if found:
                raise _Symlinked(f"{found} is a symbolic link where the {drv.name} driver keeps a layer's folder; "
                                 "layerlab does not follow it out of the data root (the store is damaged or was "
                                 "tampered with)", found)

    def _lower_cache(self, row) -> str:
        if row.kind == "container" and str(row.parent).startswith("init:"):
            return self._layer_rows[row.parent].cache_id
        return self._layerdb[row.parent]["cache_id"]

    def _disk(self, cache: str) -> int | None:
        d = self.driver.layer_dir(self.root, cache)
        if not os.path.isdir(d):
            return None
        return disk_usage(d) + os.lstat(d).st_blocks * 512

    def _disk_from_walk(self, walked_bytes: int, cache: str, diff: str) -> int:
        # The walk already has every block under diff/ (``walked_bytes``); add the diff dir itself and
        # the driver's bookkeeping beside it (link, lower, work/), without walking diff/ twice.
        total = walked_bytes + os.lstat(diff).st_blocks * 512
        layer_dir = self.driver.layer_dir(self.root, cache)
        if os.path.abspath(layer_dir) != os.path.abspath(diff):
            total += os.lstat(layer_dir).st_blocks * 512
            diff = os.path.abspath(diff)
            # layer_dir is no symbolic link (_refuse_symlinks), nor is a folder in it found by lstat
            with scandir(layer_dir, check=False) as entries:
                for entry in entries:
                    p = os.path.join(layer_dir, entry.name)
                    if os.path.abspath(p) == diff:
                        continue
                    st = entry.stat(follow_symlinks=False)
                    total += st.st_blocks * 512
                    if stat.S_ISDIR(st.st_mode):
                        total += disk_usage(p, check=False)
        return total

    def read_layers(self, layers: pd.DataFrame, which: pd.Series | None = None) -> None:
        """Read the files of the layers selected by ``which`` (all by default) into the cache."""
        self._layer_rows = {r.layer_id: r for r in layers.itertuples(index=False)}
        rows = [r for r in layers[which if which is not None else slice(None)].itertuples(index=False)
                if r.layer_id not in self._read]
        # Walked already while layerlab loaded (docker.early): what is left is Python's, read in this
        # thread; walks still to come are shared among threads (on every core) as without it.
        walked = self._early is not None and self._early.done()
        results = read_each_layer(rows, self.layer_files, (_NotPlain, _Symlinked, OSError, *TARSPLIT_ERRORS),
                                  self.progress, threads=not walked)
        for row, (got, e) in zip(rows, results):
            self._read[row.layer_id] = got
            if e is None:
                continue
            where = self.driver.layer_dir(self.root, row.cache_id)
            if isinstance(e, _NotPlain):
                reason, path = str(e), where
            elif isinstance(e, _Symlinked):
                reason, path = e.args
            elif isinstance(e, FileNotFoundError):
                reason, path = "layer vanished while reading (removed by the daemon?)", e.filename or where
            elif isinstance(e, PermissionError):
                reason, path = f"permission denied; {SCAN_HINT}", e.filename or where
            elif isinstance(e, TARSPLIT_ERRORS):
                reason, path = f"unreadable tar-split ({type(e).__name__}: {e})", where
            else:
                raise e
            self.skipped.add("layer", row.layer_id, path, reason)

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
        files = concat_files(_frames_of([v[0] for v in read.values()]))
        if self._early is not None:  # folders no layer named (left over by the daemon): not read
            self._early.stop()
        for k, v in read.items():  # the layers' own frames are in ``files`` now: not kept twice
            self._read[k] = (None, *v[1:])
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
        meta = source_meta(self.root, self.image_store, self.driver.name, files_from=self.files_from)
        return assemble(meta, frames, lambda: self.files_frame(frames), self.skipped,
                        containers=lambda: self.container_sizes(frames))


def _frames_of(parts: list) -> list[pd.DataFrame]:
    """Layers' files frames in order, each run of layers not yet framed (walked, or read from
    tar-split) made one frame."""
    frames, run = [], []

    def frame_run():
        frames.append(frame_walked(run) if isinstance(run[0], WalkedLayer) else frame_layers(run))
        run.clear()

    for part in parts:
        if run and type(part) is not type(run[0]):
            frame_run()
        if isinstance(part, (WalkedLayer, FileRows)):
            run.append(part)
        else:
            frames.append(part)
    if run:
        frame_run()
    return frames


class _NotPlain(Exception):
    pass


class _Symlinked(Exception):
    """(reason, path): a layer's folder is a symbolic link."""


def _bad_layer_ids(layer: dict) -> tuple[str, str] | None:
    """(file, reason) if a layerdb entry's IDs are not what Docker writes, else None.

    The cache ID becomes a path under the driver's directory: 64 hex for layers the layer store made,
    25 base-36 characters for BuildKit's, and any name is followed, but one such as ``../../outside``
    would make the scan read outside the data root, so only a single folder name is (``check_name``).
    """
    if not is_digest(layer["diff_id"]):
        return "diff", (f"its diff {layer['diff_id'][:80]!r} is not a digest (sha256:<64 hex>); the layer store is "
                        "damaged")
    if not check_name(layer["cache_id"]):
        return "cache-id", (f"its cache-id {layer['cache_id'][:80]!r} is not a folder name (it is empty, '.' or '..', "
                            "longer than 255 bytes, or holds '/', NUL or a control character); IDs become paths, so "
                            "the layer is not read (the layer store is damaged or was tampered with)")
    if layer["parent"] and not is_digest(layer["parent"]):
        return "parent", (f"its parent {layer['parent'][:80]!r} is not a digest (sha256:<64 hex>); the layer store is "
                          "damaged")
    return None


@expects(path=PATH, driver=OPTIONAL_TEXT, files=TEXT, progress=PROGRESS)
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

