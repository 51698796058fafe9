"""containerd's image store (Docker 29's default) read into the contract's frames.

Docker 29 keeps images in containerd (namespace ``moby``, snapshotter ``overlayfs``): the content
store holds the blobs as pulled (compressed layers, manifests, configs), ``meta.db`` names images and
snapshots, and the snapshotter unpacks every layer into ``snapshots/<n>/fs``. This module joins them:

- images: one row per image config (the image ID), with every name pointing at it as a tag;
- layers: keyed by chain ID, computed from the config's ``diff_ids`` and matched to the snapshot whose
  key (or ``containerd.io/snapshot.ref`` label) is that chain ID; container read-write snapshots and
  Docker's ``<id>-init`` snapshots as ``container``/``init`` layers;
- files: each snapshot's ``fs`` walked in the overlay whiteout convention.

Both copies Docker keeps in this mode are counted apart (``layerlab.analyses.drivers.store_usage``): the content
blobs and the unpacked snapshots. Everything is read-only (see containerd_meta): no locks, no writes.
"""

from __future__ import annotations

import hashlib
import os

import pandas as pd

from ...display import progress_bar
from ...errors import BoltError, CorruptMetadata, DataRootPermissionError, NotADataRoot
from ...frames import schema
from ...frames.inventory import Inventory
from ...oci.config import chain_ids, config_problem, diff_ids, history_rows, image_layer_rows, parse_time
from ...oci.manifest import INDEX_TYPES, platform_order
from ...oci.reference import familiar, repository_of
from ...untrusted import load_json
from .._reader import (
    SCAN_HINT,
    Skipped,
    assemble,
    container_problem,
    container_state,
    docker_size,
    fill_layer_counts,
    metadata_frames,
    is_digest,
    confine,
    listdir,
    read_bytes,
    read_json,
    source_meta,
)
from ..layerfiles.rows import concat_files
from ..layerfiles.walk import compare_trees, walk_layer
from .meta import (
    CONTENT_DIR,
    META_DB,
    SNAPSHOTTER_DIR,
    find_containerd_root,
    read_containerd_meta,
    read_snapshotter_db,
)

DEFAULT_NAMESPACE = "moby"
#: Where the system containerd keeps its root; Docker 29 uses it when /run/containerd/containerd.sock exists.
SYSTEM_ROOT = "/var/lib/containerd"
DANGLING_PREFIX = "moby-dangling@"

def find_store(path: str) -> str:
    """The containerd root holding a Docker root's images, or ``path`` itself if it is a containerd root.

    A Docker root's managed containerd lives in ``<root>/containerd/daemon``; otherwise Docker uses the
    system containerd, whose root is /var/lib/containerd.
    """
    try:
        return find_containerd_root(path)
    except NotADataRoot:
        if os.path.isdir(os.path.join(path, "containers")) and os.path.isdir(os.path.join(SYSTEM_ROOT,
            "io.containerd.metadata.v1.bolt")):
            return SYSTEM_ROOT
        raise


class ContainerdStore:
    """Reads one namespace of a containerd root. Use ``open_containerd``; this holds the steps."""

    def __init__(self, path: str, namespace: str | None = None, snapshotter: str | None = None, *,
                 docker_root: str | None = None, partial: bool = False, progress: bool | None = None):
        path = os.path.abspath(os.fspath(path))
        if not os.access(path, os.R_OK | os.X_OK):
            raise DataRootPermissionError(f"permission denied reading {path}; {SCAN_HINT}", path=path)
        self.root = confine(find_store(path))  # nothing below it is read through a symlink out of it
        confine(path)
        # A Docker root given: its containers/ are Docker's containers, whose snapshots live in containerd.
        if docker_root is None and self.root != path and os.path.isdir(os.path.join(path, "containers")):
            docker_root = path
        self.docker_root = docker_root
        self.progress = progress
        self.skipped = Skipped()
        self.issues: list[str] = []
        self.partial = False
        try:
            self.meta = read_containerd_meta(self.root)
        except BoltError as e:
            if not partial:
                raise BoltError(f"{e} Pass partial=True (CLI: --partial) to read the snapshot directories without it.",
                                path=e.path) from e
            self.meta, self.partial = None, True
            self.issues.append(str(e))
            self.skipped.add("image", "*", os.path.join(self.root, META_DB), f"meta.db unreadable, images unknown: {e}")
        self.namespace = self._pick_namespace(namespace)
        self.snapshotter = self._pick_snapshotter(snapshotter)
        if self.meta is not None:
            self.issues += self.meta.issues
        self._blob_cache: dict[str, bytes | None] = {}

    # -- choosing what to read --------------------------------------------------------------------

    def _pick_namespace(self, namespace: str | None) -> str:
        if self.meta is None:
            return namespace or DEFAULT_NAMESPACE
        known = list(self.meta.namespaces["namespace"])
        if namespace is not None:
            if namespace not in known:
                raise NotADataRoot(f"{self.root} has no containerd namespace {namespace!r}; namespaces: "
                                   f"{known or 'none'}",
                                   path=self.root)
            return namespace
        if DEFAULT_NAMESPACE in known or not known:
            return DEFAULT_NAMESPACE
        if len(known) == 1:
            return known[0]
        raise NotADataRoot(f"{self.root} has no '{DEFAULT_NAMESPACE}' namespace (Docker's) and several others "
                           f"({', '.join(known)}); choose one with namespace=…", path=self.root)

    def _pick_snapshotter(self, snapshotter: str | None) -> str:
        if snapshotter:
            return snapshotter
        if self.meta is not None:
            used = self.meta.snapshots.loc[self.meta.snapshots["namespace"] == self.namespace, "snapshotter"]
            if len(used):
                return used.value_counts().index[0]
        return "overlayfs" if os.path.isdir(os.path.join(self.root, SNAPSHOTTER_DIR.format("overlayfs"))) else "native"

    # -- content store -----------------------------------------------------------------------------

    def blob(self, digest: str) -> bytes | None:
        """A content blob's bytes (read-only), or None if it is not in the content store."""
        if digest not in self._blob_cache:
            if not is_digest(digest):  # a digest from metadata becomes a path: never ../
                raise CorruptMetadata(f"{digest[:80]!r} is not a digest (sha256:<64 hex>) but names a blob in "
                                      f"{self.root}; the store is damaged", path=self.root)
            alg, _, hexpart = digest.partition(":")
            path = os.path.join(self.root, CONTENT_DIR, alg, hexpart)
            try:
                raw = read_bytes(path)
            except FileNotFoundError:
                raw = None
            # Content-addressed: a blob is trusted only if it still hashes to its name.
            if raw is not None and hashlib.new(alg, raw).hexdigest() != hexpart:
                raise CorruptMetadata(f"{path} does not match its digest {digest}; the content store is damaged "
                                      "(`ctr content verify`? re-pull the image)", path=path)
            self._blob_cache[digest] = raw
        return self._blob_cache[digest]

    def _json_blob(self, digest: str):
        raw = self.blob(digest)
        if raw is None:
            return None
        try:
            return load_json(raw)
        except ValueError:
            path = os.path.join(self.root, CONTENT_DIR, *digest.split(":", 1))
            raise CorruptMetadata(f"{path} is not valid JSON; the content store is damaged "
                                  "(`ctr content verify`? re-pull the image)", path=path) from None

    def resolve(self, digest: str, media_type: str | None) -> tuple[str, dict] | None:
        """(manifest digest, manifest) for an image target: an index is resolved to this host's platform."""
        doc = self._json_blob(digest)
        if doc is None:
            return None
        media_type = doc.get("mediaType") or media_type
        if media_type in INDEX_TYPES or "manifests" in doc:
            for m in platform_order(doc.get("manifests") or []):
                if self.blob(m["digest"]) is not None:
                    return self.resolve(m["digest"], m.get("mediaType"))
            return None
        return digest, doc

    # -- frames -----------------------------------------------------------------------------------

    def _snapshots(self) -> pd.DataFrame:
        """Snapshots of this namespace and snapshotter: key, parent, kind, id, fs, size, inodes, labels."""
        if self.meta is not None:
            s = self.meta.snapshots
            s = s[(s["namespace"] == self.namespace) & (s["snapshotter"] == self.snapshotter)]
            return s[["key", "parent", "kind", "id", "fs", "fs_exists", "size", "inodes", "snapshot_ref", "labels",
                      "created"]].reset_index(drop=True)
        # Without meta.db: the snapshotter's own database names them <namespace>/<seq>/<key>.
        try:
            b = read_snapshotter_db(self.root, self.snapshotter)
        except BoltError as e:
            self.issues.append(str(e))
            return self._snapshot_dirs()
        names = b["name"].str.split("/", n=2)
        keyed = {n: parts[2] if len(parts) == 3 else n for n, parts in zip(b["name"], names)}
        out = pd.DataFrame({
            "key": b["name"].map(keyed),
            "parent": b["backend_parent"].map(lambda p: keyed.get(p, p) if isinstance(p, str) and p else None),
            "kind": b["kind"], "id": b["id"], "fs": b["fs"], "fs_exists": b["fs_exists"], "size": b["size"],
            "inodes": b["inodes"], "snapshot_ref": None, "labels": b["backend_labels"], "created": b["backend_created"],
        })
        ns = names.map(lambda p: p[0] if len(p) == 3 else None)
        return out[(ns == self.namespace) | ns.isna()].reset_index(drop=True)

    def _snapshot_dirs(self) -> pd.DataFrame:
        """Last resort: the snapshot directories themselves, with no names or parents."""
        base = os.path.join(self.root, SNAPSHOTTER_DIR.format(self.snapshotter), "snapshots")
        rows = []
        for name in sorted(listdir(base), key=lambda n: (len(n), n)) if os.path.isdir(base) else ():
            fs = os.path.join(base, name, "fs") if self.snapshotter == "overlayfs" else os.path.join(base, name)
            rows.append({"key": f"snapshot:{name}", "parent": None, "kind": "Unknown",
                         "id": int(name) if name.isdigit() else None,
                         "fs": fs, "fs_exists": os.path.isdir(fs), "size": None, "inodes": None, "snapshot_ref": None,
                         "labels": {}, "created": pd.NaT})
        return pd.DataFrame(rows,
                            columns=["key", "parent", "kind", "id", "fs", "fs_exists", "size", "inodes", "snapshot_ref",
                                     "labels", "created"])

    def metadata_frames(self) -> dict[str, pd.DataFrame]:
        snaps = self._snapshots()
        self._snaps = snaps
        by_key = {k: r for k, r in zip(snaps["key"], snaps.to_dict("records"))}
        by_ref = {r["snapshot_ref"]: r for r in by_key.values() if r.get("snapshot_ref")}

        def snapshot_for(chain_id: str):
            return by_key.get(chain_id) or by_ref.get(chain_id)

        images: dict[str, dict] = {}
        content_of: dict[str, set] = {}  # image ID -> content digests it needs
        compressed: dict[str, list[str]] = {}
        if self.meta is not None:
            im = self.meta.images[self.meta.images["namespace"] == self.namespace]
            for row in im.itertuples(index=False):
                resolved = self.resolve(row.target_digest, row.target_media_type)
                if resolved is None:
                    self.skipped.add("image", row.name, os.path.join(self.root, CONTENT_DIR),
                                     "manifest not in the content store (not pulled for this platform?)",
                                     names=[familiar(str(row.name))])
                    continue
                mdigest, manifest = resolved
                cdigest = (manifest.get("config") or {}).get("digest")
                config = self._json_blob(cdigest) if cdigest else None
                if config is None:
                    self.skipped.add("image", row.name, os.path.join(self.root, CONTENT_DIR),
                                     f"config {cdigest} not in the content store",
                                     names=[familiar(str(row.name))])
                    continue
                if config_problem(config):
                    self.skipped.add("image", row.name, os.path.join(self.root, CONTENT_DIR),
                                     f"config {cdigest}: {config_problem(config)}; the content store is damaged",
                                     names=[familiar(str(row.name))])
                    continue
                img = images.setdefault(cdigest, {"config": config, "names": [], "targets": set(), "manifest": manifest,
                                                  "manifest_digest": mdigest, "created_at": row.created})
                img["names"].append(row.name)
                img["targets"].add(row.target_digest)
                need = content_of.setdefault(cdigest, set())
                need |= {row.target_digest, mdigest, cdigest}
                for layer, did in zip(manifest.get("layers") or [], diff_ids(config)):
                    need.add(layer["digest"])
                    compressed.setdefault(did, [])
                    if layer["digest"] not in compressed[did]:
                        compressed[did].append(layer["digest"])

        image_rows, il_rows, hist_rows, chains = [], [], [], {}
        layer_rows: dict[str, dict] = {}
        for iid, img in images.items():
            cfg = img["config"]
            dids = diff_ids(cfg)
            chain = chain_ids(dids)
            missing = [c for c in chain if snapshot_for(c) is None]
            if missing:
                self.skipped.add("image", iid, os.path.join(self.root, SNAPSHOTTER_DIR.format(self.snapshotter)),
                           f"not unpacked for {self.snapshotter}: no snapshot for layers "
                           f"{', '.join(m[:19] for m in missing)}",
                           names=sorted({familiar(n) for n in img["names"]}))
                continue
            chains[iid] = chain
            for pos, (cid, did) in enumerate(zip(chain, dids)):
                s = snapshot_for(cid)
                layer_rows.setdefault(cid, {
                    "layer_id": cid, "kind": "image", "diff_id": did, "parent": chain[pos - 1] if pos else None,
                    "cache_id": str(s["id"]), "size": 0, "image_count": 0,
                    "compressed": sorted(compressed.get(did, [])), "_snap": s,
                })
            hist_rows += history_rows(cfg, len(chain), image_id=iid)
            il_rows += image_layer_rows(cfg, iid, chain)
            names = [n for n in img["names"] if not n.startswith(DANGLING_PREFIX)]
            tags = sorted({familiar(n) for n in names if "@" not in n})
            digests = sorted({familiar(n) for n in names if "@" in n}
                             | {f"{repository_of(t)}@{d}" for t in tags for d in img["targets"]})
            image_rows.append({"image_id": iid, "tags": tags, "digests": digests,
                               "created": parse_time(cfg.get("created")),
                               "architecture": cfg.get("architecture"), "os": cfg.get("os"), "layer_count": len(chain),
                               "size": 0, "shared_size": 0, "unique_size": 0, "container_count": 0,
                               # Classic-builder parent, as Docker 29 labels it on the image.
                               "parent": None, "intermediate": False})
        for chain in chains.values():
            for c in chain:
                layer_rows[c]["image_count"] += 1
        # Snapshots that are no image's layer: containers' read-write and init snapshots, or orphans.
        containers = self._containers(images)
        container_rows = []
        for c in containers:
            rw, init = by_key.get(c["snapshot_key"]), by_key.get(f"{c['snapshot_key']}-init")
            parent = (init or rw or {}).get("parent")
            if init is not None:
                layer_rows[f"init:{c['id']}"] = {"layer_id": f"init:{c['id']}", "kind": "init", "diff_id": None,
                                                 "parent": parent,
                                                 "cache_id": str(init["id"]), "size": 0, "image_count": 0,
                                                 "compressed": [], "_snap": init}
            if rw is not None:
                layer_rows[f"container:{c['id']}"] = {
                    "layer_id": f"container:{c['id']}", "kind": "container", "diff_id": None,
                    "parent": f"init:{c['id']}" if init is not None else parent, "cache_id": str(rw["id"]), "size": 0,
                    "image_count": 0, "compressed": [], "_snap": rw}
            else:
                self.skipped.add("container", c["id"],
                                 os.path.join(self.root, SNAPSHOTTER_DIR.format(self.snapshotter)),
                           f"no read-write snapshot {c['snapshot_key']!r}")
            container_rows.append({"container_id": c["id"], "name": c["name"], "image_id": c["image_id"],
                                   "state": c["state"],
                                   "created": c["created"], "layer_id": f"container:{c['id']}", "rw_size": None})
        used = {r["_snap"]["key"] for r in layer_rows.values()}
        for key, s in by_key.items():
            # Without meta.db nothing is known of images: every committed snapshot is an (unnamed) image layer.
            if key not in used and self.partial:
                kind = "container" if s["kind"] == "Active" else "image"
                lid = f"container:{key}" if kind == "container" else key
                layer_rows[lid] = {"layer_id": lid, "kind": kind, "diff_id": None, "parent": s["parent"],
                                   "cache_id": str(s["id"]), "size": 0, "image_count": 0, "compressed": [], "_snap": s}
        self._layer_rows = layer_rows
        self._chains = chains
        self._images_raw = images
        self._content_of = content_of
        for r in image_rows:
            r["container_count"] = sum(1 for c in container_rows if c["image_id"] == r["image_id"])
        layers = [{k: v for k, v in r.items() if k != "_snap"} for r in layer_rows.values()]
        return metadata_frames(image_rows, layers, il_rows, hist_rows, container_rows)

    def _containers(self, images: dict) -> list[dict]:
        """containerd's containers in the namespace, and Docker's (config.v2.json) when a Docker root is known."""
        by_name = {}
        for iid, img in images.items():
            for n in img["names"]:
                by_name[n] = iid
        out: dict[str, dict] = {}
        if self.meta is not None:
            cs = self.meta.containers[self.meta.containers["namespace"] == self.namespace]
            for c in cs.itertuples(index=False):
                # containerd keeps no state once a task is gone: whether it ran is not recorded.
                out[c.id] = {"id": c.id, "name": c.id, "image_id": by_name.get(c.image, c.image), "state": "unknown",
                             "created": c.created, "snapshot_key": c.snapshot_key or c.id}
        cdir = os.path.join(self.docker_root, "containers") if self.docker_root else None
        for cid in sorted(listdir(cdir)) if cdir and os.path.isdir(cdir) else ():
            path = os.path.join(cdir, cid, "config.v2.json")
            if not os.path.exists(path):
                continue
            cfg = read_json(path)
            problem = container_problem(cfg)
            if problem:
                self.skipped.add("container", cid, path, f"{problem}; the container record is damaged")
                continue
            image = cfg.get("Image")
            out[cid] = {"id": cid, "name": (cfg.get("Name") or "").lstrip("/"), "image_id": by_name.get(image, image),
                        "state": container_state(cfg.get("State") or {}), "created": parse_time(cfg.get("Created")),
                        "snapshot_key": cid}
        return list(out.values())

    # -- layer contents ---------------------------------------------------------------------------

    def _read_layer(self, row: dict):
        s = row["_snap"]
        fs = s["fs"]
        if not fs or not s["fs_exists"]:
            raise FileNotFoundError(2, "snapshot directory missing", fs or f"snapshot {s['key']}")
        if self.snapshotter == "native":
            # native keeps full copies: a layer's changes are what differs from its parent's copy.
            parent = self._layer_rows.get(row["parent"]) if row["parent"] else None
            if parent is None:
                files = walk_layer(fs, row["layer_id"], "plain")
            else:
                files = compare_trees(parent["_snap"]["fs"], fs, row["layer_id"])[0].frame()
        else:
            files = walk_layer(fs, row["layer_id"], "overlay")
        disk = int(files["disk_usage"].sum()) + os.lstat(fs).st_blocks * 512
        return files, docker_size(files), disk

    def files_frame(self, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
        layers = frames["layers"]
        read: dict[str, tuple] = {}
        rows = list(self._layer_rows.values())
        bar = progress_bar(rows, desc="reading snapshots", unit="layer", progress=self.progress, skip=not rows,
                           leave=False)
        for row in bar:
            try:
                read[row["layer_id"]] = self._read_layer(row)
            except FileNotFoundError as e:
                self.skipped.add("layer", row["layer_id"], e.filename or str(row["_snap"]["fs"]),
                                 "snapshot directory vanished or missing")
            except PermissionError as e:
                self.skipped.add("layer", row["layer_id"], e.filename or str(row["_snap"]["fs"]),
                                 "permission denied; scan as root")
        bar.close()
        self._read = read
        files = concat_files([v[0] for v in read.values()]) if read else schema.empty("files")
        for k, v in read.items():  # the layers' own frames are in ``files`` now: not kept twice
            read[k] = (None, *v[1:])
        fill_layer_counts(layers, files, {k: v[2] for k, v in read.items()})
        layers["size"] = [read[x][1] if x in read else 0 for x in layers["layer_id"]]
        self._fill_sizes(frames)
        return files

    def _fill_sizes(self, frames: dict[str, pd.DataFrame]) -> None:
        """Image sizes from the layers' apparent sizes, shared/unique as `docker system df -v` splits them."""
        layers, images = frames["layers"], frames["images"]
        il, containers = frames["image_layers"], frames["containers"]
        size = dict(zip(layers["layer_id"], layers["size"]))
        il["size"] = il["layer_id"].map(size).fillna(0).astype("int64")
        layers["size"] = layers["size"].astype("int64")
        refs: dict[str, int] = {}
        for chain in self._chains.values():
            for c in chain:
                refs[c] = refs.get(c, 0) + 1
        images["size"] = [sum(size.get(c, 0) for c in self._chains.get(i, [])) for i in images["image_id"]]
        images["shared_size"] = [sum(size.get(c, 0) for c in self._chains.get(i, []) if refs.get(c, 0) > 1)
                                 for i in images["image_id"]]
        images["size"] = images["size"].astype("int64")
        images["shared_size"] = images["shared_size"].astype("int64")
        images["unique_size"] = images["size"] - images["shared_size"]
        containers["rw_size"] = pd.array([size.get(x) if x in self._read else None for x in containers["layer_id"]],
                                         dtype="Int64")

    # -- the two copies ---------------------------------------------------------------------------

    def usage(self, frames: dict[str, pd.DataFrame]) -> dict:
        """What the store costs: content blobs and unpacked snapshots, per image and in all (JSON-able)."""
        content_rows = []
        if self.meta is not None:
            c = self.meta.content[self.meta.content["namespace"] == self.namespace]
            users: dict[str, list[str]] = {}
            for iid, need in self._content_of.items():
                for d in need:
                    users.setdefault(d, []).append(iid)
            kinds = {}
            for iid, img in self._images_raw.items():
                kinds[iid] = "config"
                kinds[img["manifest_digest"]] = "manifest"
                for t in img["targets"]:
                    kinds.setdefault(t, "index")
                for layer in img["manifest"].get("layers") or []:
                    kinds[layer["digest"]] = "layer"
            for r in c.itertuples(index=False):
                disk = None
                if r.blob_exists:
                    try:
                        disk = os.lstat(r.blob).st_blocks * 512
                    except FileNotFoundError:  # a live store: containerd's GC removed it since it was listed
                        self.issues.append(f"content blob {r.digest} was removed while the store was read")
                content_rows.append({"digest": r.digest, "kind": kinds.get(r.digest, "other"),
                                     "size": int(r.size) if pd.notna(r.size) else None,
                                     "disk_usage": disk, "uncompressed": r.uncompressed,
                                     "images": sorted(users.get(r.digest, []))})
        layers = frames["layers"]
        snaps = self._snaps
        usage_by_key = dict(zip(snaps["key"], snaps["size"]))
        image_rows = []
        for iid, chain in self._chains.items():
            need = self._content_of.get(iid, set())
            blobs = [r for r in content_rows if r["digest"] in need]
            image_rows.append({
                "image_id": iid,
                "content_size": sum(r["size"] or 0 for r in blobs),
                "content_disk_usage": sum(r["disk_usage"] or 0 for r in blobs),
                # containerd's recorded usage of each committed snapshot (what `ctr snapshots usage` shows).
                # unknown (NA) when the snapshotter's own database could not be read
                "snapshot_usage": sum(_known_int(usage_by_key.get(self._layer_rows[c]["_snap"]["key"])) for c in chain),
                "snapshot_disk_usage": int(layers.loc[layers["layer_id"].isin(chain), "disk_usage"].fillna(0).sum()),
            })
        kinds = layers["kind"]
        return {
            "namespace": self.namespace, "snapshotter": self.snapshotter, "partial": self.partial,
            "issues": list(self.issues),
            "content": content_rows,
            "images": image_rows,
            "snapshots": {k: {"count": int((kinds == k).sum()), "size": int(layers.loc[kinds == k, "size"].sum()),
                              "disk_usage": int(layers.loc[kinds == k, "disk_usage"].fillna(0).sum())}
                              for k in schema.LAYER_KINDS},
        }

    def inventory(self) -> Inventory:
        frames = self.metadata_frames()
        meta = source_meta(self.root, "containerd", self.snapshotter, files_from="walk", namespace=self.namespace,
                           docker_root=self.docker_root)

        def read_files() -> pd.DataFrame:
            files = self.files_frame(frames)
            inv.meta["containerd"] = self.usage(frames)
            return files

        # Sizes of images, layers and containers are filled while the snapshots are walked.
        inv = assemble(meta, frames, read_files, self.skipped,
                       filled_by_files=("images", "layers", "image_layers", "containers"))
        return inv


def open_containerd(path: str, namespace: str | None = None, snapshotter: str | None = None, *,
                    docker_root: str | None = None, partial: bool = False, progress: bool | None = None) -> Inventory:
    """Open containerd's image store as an Inventory of the contract's frames.

    ``path`` is a containerd root (``/var/lib/containerd``) or a Docker data root whose images are in
    containerd (its managed ``containerd/daemon``, else the system root). ``namespace`` defaults to
    Docker's ``moby``; ``snapshotter`` to the one the namespace uses. A Docker root's ``containers/``
    are read as Docker's containers (``docker_root`` names one explicitly).

    If meta.db cannot be read, a BoltError says why; with ``partial=True`` the snapshot directories
    are read anyway (unnamed image layers, no images) and the problem is listed in ``skipped``.
    Read-only: nothing under ``path`` is created, changed or locked.
    """
    return ContainerdStore(path, namespace, snapshotter, docker_root=docker_root, partial=partial,
                           progress=progress).inventory()


def _known_int(value) -> int:
    """``value`` as an int, 0 when it is missing or NA."""
    return 0 if value is None or pd.isna(value) else int(value)
