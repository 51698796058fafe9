"""podman, buildah and CRI-O's image store (containers/storage) read into the contract's frames.

The store (``/var/lib/containers/storage``, rootless ``~/.local/share/containers/storage``) keeps:

- ``<driver>-layers/layers.json``: one record per layer (``id``, ``parent``, ``diff-digest``,
  ``diff-size``, ``compressed-diff-digest``, ...), and ``<id>.tar-split.gz`` beside it for layers
  that came from a tar;
- ``<driver>-images/images.json``: one record per image (``id`` = its config digest, ``names``,
  ``digest``, ``layer`` = its top layer), and ``<driver>-images/<id>/`` holding the image's "big
  data" (its config, manifests, signatures), each file named by its key, base64'd after ``=`` when
  the key holds other characters than ``[0-9a-z.]``;
- ``<driver>-containers/containers.json``: one record per container (podman's and buildah's), whose
  ``layer`` is its read-write layer;
- ``<driver>/<id>/diff`` (overlay: the layer's changes, overlay whiteouts) or ``vfs/dir/<id>``
  (vfs: a full copy of the filesystem).

Layers are keyed by chain ID (as every layerlab source), computed from the config's ``diff_ids``
and checked against each layer record's ``diff-digest``; ``cache_id`` is the store's layer ID.
Sizes follow podman: a layer's ``size`` is its ``diff-size`` (the uncompressed tar's length), an
image's ``size`` is ``podman image inspect``'s (its layers plus its big data), ``shared_size`` and
``unique_size`` are what ``podman system df -v`` (podman 4.x) shows. Read-only, no locks taken:
podman need not run, and nothing under the store is written.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re

import pandas as pd

from ...errors import CorruptMetadata, DataRootPermissionError, ImageNotFound, NotADataRoot, UnsupportedStore
from ...frames import schema
from ...frames.inventory import Inventory
from ...oci.config import chain_ids, config_problem, diff_ids, history_rows, image_layer_rows, parse_time
from ...untrusted import load_json
from .._reader import (
    SCAN_HINT,
    LeftTheRoot,
    Skipped,
    assemble,
    check_id,
    confine,
    docker_size,
    fill_layer_counts,
    is_digest,
    metadata_frames,
    read_bytes,
    read_each_layer,
    read_json,
    real_dir,
    source_meta,
)
from ..layerfiles.rows import concat_files
from ..layerfiles.tarsplit import TARSPLIT_ERRORS, read_tarsplit
from ..layerfiles.walk import compare_trees, walk_layer
from .location import DRIVERS, OTHER_DRIVERS, store_driver

FILES_FROM = ("auto", "walk", "tar-split")
#: libpod's ContainerStatus codes as the contract's states (podman prints 1 and 2 as "created" and
#: "initialized", 4 as "stopped", 8 as "stopping").
_PODMAN_STATES = {1: "created", 2: "created", 3: "running", 4: "exited", 5: "paused", 6: "exited",
                  7: "removing", 8: "running"}


def big_data_name(key: str) -> str:
    """The file name containers/storage gives an image's big-data item ``key`` (makeBigDataBaseName)."""
    if key and all(c == "." or "0" <= c <= "9" or "a" <= c <= "z" for c in key):
        return key
    return "=" + base64.b64encode(key.encode()).decode()


#: An image ID or a prefix of one, as skopeo and podman take it (three hex digits at least).
_ID_PREFIX = re.compile(r"[0-9a-f]{3,64}")


#: A layer or image folder that is a symbolic link (or not a directory): never followed.
_Outside = LeftTheRoot


def layer_dir(root: str, driver: str, cache_id: str) -> str:
    """The directory holding a layer's version of its files (real_dir's errors if unsafe or absent)."""
    return real_dir(root, "overlay", cache_id, "diff") if driver == "overlay" else real_dir(root, "vfs", "dir",
        cache_id)


def content_dir(root: str, driver: str, cache_id: str) -> str | None:
    """:func:`layer_dir` for hashing: None if the ID or the directory is unsafe or absent."""
    if not check_id(cache_id):
        return None
    try:
        return layer_dir(root, driver, cache_id)
    except OSError:
        return None


def _names(rec: dict, key: str = "names") -> list[str]:
    """A record's names (or other list of strings), anything not a string left out."""
    return [n for n in rec.get(key) or [] if isinstance(n, str)]


class ContainersStore:
    """Reads one containers-storage graph root. Use ``open_containers_storage``; this holds the steps."""

    def __init__(self, root: str, driver: str | None = None, ref: str | None = None, *, files: str = "auto",
                 progress: bool | None = None):
        if files not in FILES_FROM:
            raise ValueError(f"files={files!r}; choose one of {FILES_FROM}")
        self.root = confine(os.fspath(root))  # nothing below it is read through a symlink out of it
        if not os.path.isdir(self.root):
            raise NotADataRoot(f"{self.root} does not exist or is not a directory; give a containers-storage graph "
                               "root "
                               "(`podman info -f '{{.Store.GraphRoot}}'` prints it)", path=self.root)
        if not os.access(self.root, os.R_OK | os.X_OK):
            raise DataRootPermissionError(f"permission denied reading {self.root}; {SCAN_HINT}", path=self.root)
        present = store_driver(self.root)
        if driver is None:
            if not present:
                raise NotADataRoot(f"{self.root} is not a containers-storage graph root: no "
                                   "<driver>-layers/layers.json "
                                   "or <driver>-images/images.json in it", path=self.root)
            if len(present) > 1:
                raise NotADataRoot(f"{self.root} holds stores of several drivers ({', '.join(present)}); choose one "
                                   "with driver=… (CLI: --driver, or containers-storage:[DRIVER@ROOT])", path=self.root)
            driver = present[0]
        if driver in present and driver not in DRIVERS:
            raise UnsupportedStore(f"{self.root} uses the {driver} driver; layerlab reads the overlay and vfs drivers' "
                                   "layer directories only (copy the images to one of those with skopeo)",
                                   path=self.root)
        if driver not in DRIVERS and driver not in OTHER_DRIVERS:
            raise NotADataRoot(f"unknown containers-storage driver {driver!r}; known: {', '.join(DRIVERS)}",
                               path=self.root)
        if driver not in present:
            raise NotADataRoot(f"{self.root} has no {driver} store ({driver}-layers/layers.json is missing); present: "
                               f"{', '.join(present) or 'none'}", path=self.root)
        self.driver = driver
        self.ref = ref
        self.files_from = files
        self.progress = progress
        self.layers_dir = os.path.join(self.root, f"{driver}-layers")
        self.images_dir = os.path.join(self.root, f"{driver}-images")
        self.containers_dir = os.path.join(self.root, f"{driver}-containers")
        denied = [p for p in (self.layers_dir, self.images_dir, self.containers_dir, os.path.join(self.root, driver))
                  if os.path.exists(p) and not os.access(p, os.R_OK | os.X_OK)]
        if denied:
            raise DataRootPermissionError(f"permission denied reading {', '.join(denied)}; {SCAN_HINT}", path=denied[0])
        self.skipped = Skipped()
        self._read: dict[str, tuple | None] = {}

    # -- records ----------------------------------------------------------------------------------

    def _records(self, folder: str, names: tuple[str, ...], what: str) -> list[dict]:
        """The records of ``folder``'s JSON lists (``layers.json`` and ``volatile-layers.json`` ...)."""
        out: list[dict] = []
        for name in names:
            path = os.path.join(folder, name)
            if not os.path.lexists(path):
                continue
            data = read_json(path)
            if data is None:
                continue
            if not isinstance(data, list):
                raise CorruptMetadata(f"{path} is a JSON {type(data).__name__}, not a list of {what} records; the "
                                      "store is damaged (`podman images` will fail too)", path=path)
            for rec in data:
                if not isinstance(rec, dict):
                    self.skipped.add(what, "?", path,
                                     f"a {what} record that is a JSON {type(rec).__name__}, not an object")
                    continue
                rec_id = rec.get("id")
                problem = _record_problem(rec, what)
                if problem:
                    self.skipped.add(what, str(rec_id)[:80], path,
                                     f"{problem}; the store is damaged, so it is not read")
                    continue
                if not check_id(rec_id):
                    self.skipped.add(what, str(rec_id)[:80], path,
                                     f"its id {str(rec_id)[:80]!r} is not a 64-hex ID; IDs "
                                     "become paths, so it is not read (the store is damaged or was tampered with)")
                    continue
                out.append(rec)
        return out

    def read_layers(self) -> dict[str, dict]:
        layers: dict[str, dict] = {}
        path = os.path.join(self.layers_dir, "layers.json")
        for rec in self._records(self.layers_dir, ("layers.json", "volatile-layers.json"), "layer"):
            lid = rec["id"]
            parent = rec.get("parent") or None
            problem = None
            if parent is not None and not check_id(parent):
                problem = f"its parent {str(parent)[:80]!r} is not a 64-hex ID"
            elif rec.get("diff-digest") is not None and not is_digest(rec.get("diff-digest")):
                problem = f"its diff-digest {str(rec.get('diff-digest'))[:80]!r} is not a digest"
            elif rec.get("diff-size") is not None and (type(rec.get("diff-size")) is not int or not
                                                       -1 <= rec["diff-size"] < 1 << 63):
                problem = f"its diff-size {str(rec.get('diff-size'))[:40]!r} is not a byte count"
            elif isinstance(rec.get("flags"), dict) and rec["flags"].get("incomplete"):
                problem = "it is marked incomplete (being written, or left by an interrupted pull)"
            if problem:
                self.skipped.add("layer", lid, path, f"{problem}; the layer is not read")
                continue
            layers[lid] = rec
        return layers

    def big_data(self, image_id: str, key: str) -> bytes:
        """One big-data item of an image (its config, a manifest), read-only; FileNotFoundError if absent."""
        folder = real_dir(self.images_dir, image_id)
        return read_bytes(os.path.join(folder, big_data_name(key)))

    def _big_data_size(self, rec: dict, key: str) -> int:
        sizes = rec.get("big-data-sizes") if isinstance(rec.get("big-data-sizes"), dict) else {}
        if isinstance(sizes.get(key), int):
            return sizes[key]
        try:  # as containers/storage's BigDataSize: the file's length when the record has none
            return os.lstat(os.path.join(self.images_dir, rec["id"], big_data_name(key))).st_size
        except OSError:
            return 0

    # -- frames -----------------------------------------------------------------------------------

    def metadata_frames(self) -> dict[str, pd.DataFrame]:
        layers = self.read_layers()
        image_recs = self._records(self.images_dir, ("images.json",), "image")
        container_recs = self._records(self.containers_dir, ("containers.json", "volatile-containers.json"),
                                       "container")
        self._layers = layers

        def record_chain(top: str | None) -> list[dict] | None:
            out, seen, cur = [], set(), top
            while cur:
                if cur in seen or cur not in layers:
                    return None
                seen.add(cur)
                out.append(layers[cur])
                cur = layers[cur].get("parent") or None
            return out[::-1]

        # Chain IDs of layer records from their own diff digests (for layers no image names).
        chain_of: dict[str, str] = {}

        def chain_id(lid: str) -> str | None:
            if lid in chain_of:
                return chain_of[lid]
            recs = record_chain(lid)
            if recs is None or not all(r.get("diff-digest") for r in recs):
                return None
            for r, c in zip(recs, chain_ids([r["diff-digest"] for r in recs])):
                chain_of.setdefault(r["id"], c)
            return chain_of[lid]

        images: list[dict] = []
        for rec in image_recs:
            iid = rec["id"]
            names = _names(rec)  # named in errors for that name
            where = os.path.join(self.images_dir, iid)
            try:
                raw = self.big_data(iid, "sha256:" + iid)
            except FileNotFoundError:
                self.skipped.add("image", "sha256:" + iid, where,
                                 "no image config in its big data (a manifest list, or an "
                                 "image being written)", names=names)
                continue
            except _Outside as e:
                self.skipped.add("image", "sha256:" + iid, where, str(e), names=names)
                continue
            except CorruptMetadata as e:
                self.skipped.add("image", "sha256:" + iid, where, str(e), names=names)
                continue
            if hashlib.sha256(raw).hexdigest() != iid:
                self.skipped.add("image", "sha256:" + iid, where,
                                 "its config does not hash to the image ID; the store is damaged", names=names)
                continue
            try:
                config = read_json(where, raw)
            except CorruptMetadata as e:
                self.skipped.add("image", "sha256:" + iid, where, str(e), names=names)
                continue
            problem = config_problem(config)
            top = rec.get("layer") or None
            recs = record_chain(top) if (top is None or check_id(top)) else None
            dids = diff_ids(config)
            if problem:
                reason = f"{problem}; the store is damaged"
            elif recs is None:
                reason = f"its top layer {str(top)[:80]!r} or one below it is not in the layer store"
            elif len(recs) != len(dids):
                reason = f"its config lists {len(dids)} layers but its layer chain in the store has {len(recs)}"
            else:
                bad = [r["id"] for r, d in zip(recs, dids) if r.get("diff-digest") and r["diff-digest"] != d]
                reason = f"layer {bad[0][:12]}'s diff-digest is not the config's diff ID" if bad else None
            if reason:
                self.skipped.add("image", "sha256:" + iid, where, reason, names=names)
                continue
            chain = chain_ids(dids)
            for r, c in zip(recs, chain):
                chain_of.setdefault(r["id"], c)
            images.append({"rec": rec, "config": config, "chain": chain, "recs": recs})

        for img in images:
            img["selected"] = True
        if self.ref is not None:
            self._select(images)

        # Containers and their read-write layers.
        by_image = {img["rec"]["id"]: img for img in images}
        container_layer: dict[str, dict] = {}
        containers: list[dict] = []
        for c in container_recs:
            image = c.get("image") if isinstance(c.get("image"), str) else ""
            if self.ref is not None and not (image in by_image and by_image[image]["selected"]):
                continue
            layer = c.get("layer")
            if not check_id(layer) or layer not in layers:
                self.skipped.add("container", c["id"], os.path.join(self.containers_dir, "containers.json"),
                                 f"its read-write layer {str(layer)[:80]!r} is not in the layer store")
                layer = None
            else:
                container_layer[layer] = c
            containers.append({**c, "_layer": layer})

        # As containers/storage's ImageSize: a record's diff-size (absent: 0) counts when it has a
        # diff-digest and the size is not -1; otherwise the size comes from the layer's files.
        sizes = {lid: (r.get("diff-size") or 0) if r.get("diff-digest") and r.get("diff-size") != -1 else None
                 for lid, r in layers.items()}
        chosen = [img for img in images if img["selected"]]
        self._podman_figures(chosen, sizes, containers)
        self._sizes, self._chosen, self._container_recs = sizes, chosen, containers
        self._unknown_sizes = {r["id"] for img in chosen for r in img["recs"] if sizes.get(r["id"]) is None}

        image_rows, il_rows, hist_rows = [], [], []
        layer_rows: dict[str, dict] = {}
        image_count: dict[str, int] = {}
        for img in chosen:
            rec, cfg, chain = img["rec"], img["config"], img["chain"]
            iid = "sha256:" + rec["id"]
            for pos, (r, c) in enumerate(zip(img["recs"], chain)):
                image_count[c] = image_count.get(c, 0) + 1
                layer_rows.setdefault(c, self._layer_row(c, r, chain[pos - 1] if pos else None, sizes))
            hist_rows += history_rows(cfg, len(chain), image_id=iid)
            il_rows += image_layer_rows(cfg, iid, chain, {c: layer_rows[c]["size"] for c in chain})
            names = _names(rec)
            tags = sorted(n for n in names if "@" not in n)
            digest = rec.get("digest") if is_digest(rec.get("digest")) else None
            digests = sorted({n for n in names if "@" in n}
                             | ({f"{t.rsplit(':', 1)[0]}@{digest}" for t in tags} if digest else set()))
            created = parse_time(cfg.get("created"))
            image_rows.append({
                "image_id": iid, "tags": tags, "digests": digests,
                "created": created if not pd.isna(created) else parse_time(rec.get("created")),
                "architecture": cfg.get("architecture"), "os": cfg.get("os"), "layer_count": len(chain),
                **img["figures"],
            })
        if self.ref is None:  # layers no image uses (left by removed images, or being built)
            for lid, r in layers.items():
                c = chain_id(lid)
                if lid in container_layer or c is None or c in layer_rows:
                    continue
                parent = chain_of.get(r.get("parent")) if r.get("parent") else None
                layer_rows[c] = self._layer_row(c, r, parent, sizes)
        for c, row in layer_rows.items():
            row["image_count"] = image_count.get(c, 0)

        states = self._podman_states() if containers else {}
        container_rows = []
        for c in containers:
            cid = c["id"]
            if c["_layer"]:
                r = layers[c["_layer"]]
                parent = chain_of.get(r.get("parent")) if r.get("parent") else None
                layer_rows[f"container:{cid}"] = {"layer_id": f"container:{cid}", "kind": "container", "diff_id": None,
                                                  "parent": parent, "cache_id": c["_layer"], "size": 0,
                                                  "image_count": 0,
                                                  "compressed": []}
            image = c.get("image") if check_id(c.get("image")) else None
            names = _names(c)
            container_rows.append({
                "container_id": cid, "name": names[0] if names else "",
                "image_id": "sha256:" + image if image else None,
                "state": states.get(cid, "unknown"),
                "created": parse_time(c.get("created") if isinstance(c.get("created"), str) else None),
                "layer_id": f"container:{cid}", "rw_size": None,
            })
        self._layer_rows = layer_rows
        self._chains = {"sha256:" + img["rec"]["id"]: img["chain"] for img in chosen}
        return metadata_frames(image_rows, list(layer_rows.values()), il_rows, hist_rows, container_rows)

    def _podman_states(self) -> dict[str, str]:
        """Each podman container's state as podman last recorded it in its own database
        (``libpod/bolt_state.db``, podman 4); {} where there is none (buildah's containers, podman 5's
        SQLite database, which is not read)."""
        path = os.path.join(self.root, "libpod", "bolt_state.db")
        if not os.path.lexists(path):
            return {}
        from ..containerd.bbolt import DB

        try:
            ctr = DB(path).bucket("ctr")
            out = {}
            for cid, bucket in ctr.buckets() if ctr is not None else ():
                raw = bucket.get("state")
                state = load_json(raw) if raw else None
                code = state.get("state") if isinstance(state, dict) else None
                out[cid.decode("utf-8", "replace")] = _PODMAN_STATES.get(code,
                                                                         "unknown") if type(code) is int else "unknown"
            return out
        except (CorruptMetadata, ValueError) as e:  # BoltError is a CorruptMetadata
            self.skipped.add("container", "*", path, f"podman's state database is unreadable ({e}); states unknown")
            return {}

    def _layer_row(self, chain_id: str, rec: dict, parent: str | None, sizes: dict) -> dict:
        compressed = rec.get("compressed-diff-digest")
        return {"layer_id": chain_id, "kind": "image", "diff_id": rec.get("diff-digest"), "parent": parent,
                "cache_id": rec["id"], "size": sizes.get(rec["id"]) or 0, "image_count": 0,
                "compressed": [compressed] if is_digest(compressed) else []}

    def _select(self, images: list[dict]) -> None:
        """Keep the image ``self.ref`` names (a name, a short name as podman resolves it, an ID or prefix)."""
        ref = self.ref.removeprefix("sha256:")
        name, at, by_id = ref.rpartition("@")
        id_form = bool(at and _ID_PREFIX.fullmatch(by_id))
        is_prefix = not at and _ID_PREFIX.fullmatch(ref) is not None  # a bare ID prefix (if no name matches)
        wanted = [name] if id_form else [ref] if (":" in ref.rsplit("/", 1)[-1] or at) else [ref, ref + ":latest"]
        if id_form:
            # skopeo's @ID and NAME@ID (an ID prefix too): the image by its ID; a NAME given must be one of
            # its names, or the repository of one (localhost/app@ID)
            hits = [img for img in images if img["rec"]["id"].startswith(by_id)]
            if name:
                hits = _named(hits, wanted, repository=True)
        else:
            hits = _named(images, wanted)
        if not hits and is_prefix:
            hits = [img for img in images if img["rec"]["id"].startswith(ref)]
        if len({img["rec"]["id"] for img in hits}) != 1:
            names = sorted({n for img in images for n in _names(img["rec"])})[:10]
            skipped = [s for s in self.skipped if s["what"] == "image"]
            # the skipped images this reference names, found by the same rules (an ID, a name, a short name)
            def names_it(s: dict) -> bool:
                if id_form:
                    return s["id"][7:].startswith(by_id) and (not name
                                                              or bool(_named([{"rec": s}], wanted, repository=True)))
                return bool(_named([{"rec": s}], wanted)) or (is_prefix and s["id"][7:].startswith(ref))

            named = [s for s in skipped if names_it(s)]
            shown = "; ".join(f"{s['id'][:19]}" + (f" ({', '.join(s['names'][:5])})" if s["names"] else "")
                              + f": {s['reason']}"
                              for s in named[:3])
            raise ImageNotFound(
                f"{'no' if not hits else 'more than one'} image {self.ref!r} in {self.root}"
                + (f" (names here include: {', '.join(names)})" if names else "")
                + (f"; an image of that name was skipped as unreadable: {shown}" if named and not hits else
                   f"; {len(skipped)} image(s) were skipped as unreadable: {', '.join(s['id'] for s in skipped[:5])}"
                   if skipped else ""),
                ref=self.ref)
        keep = hits[0]["rec"]["id"]
        for img in images:
            img["selected"] = img["rec"]["id"] == keep

    def _podman_figures(self, images: list[dict], sizes: dict, containers: list[dict]) -> None:
        """Each image's size, shared/unique split, parent and whether it is intermediate, as podman 4's
        libimage computes them (``podman image inspect``, ``podman system df -v``, ``podman images``).

        podman's parent of an image is an image whose top layer is the same or the one below, whose
        diff IDs are a prefix of the image's and whose history is the image's less its last entry;
        an image with a child shares all its size, else it shares its parent's size."""
        layers = self._layers
        by_top: dict[str | None, list[dict]] = {}
        for img in images:
            by_top.setdefault(img["rec"].get("layer") or None, []).append(img)
        below: dict[str, list[str]] = {}
        for lid, r in layers.items():
            if r.get("parent"):
                below.setdefault(r["parent"], []).append(lid)

        def size(img) -> int | None:
            # containers/storage's ImageSize: every layer below the top layer and below each of the
            # image's id-mapped copies of it (mapped-top-layers), each once, plus its big data
            total, seen = 0, set()
            tops = [img["rec"].get("layer")] + list(img["rec"].get("mapped-top-layers") or [])
            for top in tops:
                cur = top
                while cur and cur not in seen:
                    seen.add(cur)
                    r = layers.get(cur)
                    if r is None or sizes.get(cur) is None:
                        return None
                    total += sizes[cur]
                    cur = r.get("parent")
            names = _names(img["rec"], "big-data-names")
            return total + sum(self._big_data_size(img["rec"], n) for n in names)

        for img in images:
            top = img["rec"].get("layer") or None
            cands = list(by_top.get(top, []))
            if top is not None and layers[top].get("parent"):
                cands += by_top.get(layers[top]["parent"], [])
            parent = next((p for p in cands if p is not img and _parent_and_child(p["config"], img["config"])), None)
            kids = list(by_top.get(top, [])) if top is not None else []
            for child_top in below.get(top, []) if top is not None else []:
                kids += by_top.get(child_top, [])
            if top is None:
                kids = list(by_top.get(None, []))
            has_child = any(k is not img and _parent_and_child(img["config"], k["config"]) for k in kids)
            own = size(img)
            shared = own if has_child else (size(parent) if parent is not None else 0)
            names = _names(img["rec"])
            img["figures"] = {
                "size": own or 0, "shared_size": (shared or 0) if own is not None else 0,
                "unique_size": (own - (shared or 0)) if own is not None else 0,
                "container_count": sum(1 for c in containers if c.get("image") == img["rec"]["id"]),
                "parent": "sha256:" + parent["rec"]["id"] if parent is not None else None,
                "intermediate": not names and has_child,
            }
            img["size_known"] = own is not None

    # -- layer contents ---------------------------------------------------------------------------

    def layer_files(self, row) -> tuple[pd.DataFrame, int | None, int | None]:
        """(files rows, size as podman measures a diff, disk usage or None) of one layer row."""
        lid, cache = row.layer_id, row.cache_id
        tar_split = os.path.join(self.layers_dir, cache + ".tar-split.gz")
        # overlay's diff dirs are walked by the C walker (6x faster than parsing a tar-split in Python);
        # vfs keeps full copies, so its tar-split (the layer's own tar headers) is read instead.
        use_tarsplit = self.files_from == "tar-split" or (
            self.files_from == "auto" and self.driver == "vfs" and os.path.lexists(tar_split))
        if row.kind == "image" and use_tarsplit:
            refused: list = []
            files = read_tarsplit(tar_split, lid, refused).frame()
            for _name, reason in refused:
                self.skipped.add("layer", lid, tar_split, reason)
            return files, docker_size(files), None
        d = layer_dir(self.root, self.driver, cache)
        if self.driver == "overlay":
            try:
                files = walk_layer(d, lid, "overlay")
            except PermissionError:
                # A rootless store read by its user: a folder owned by another of the user's
                # subordinate IDs is closed to them; an image layer's tar-split still lists it.
                if row.kind != "image" or not os.path.lexists(tar_split):
                    raise
                files = read_tarsplit(tar_split, lid).frame()
                return files, docker_size(files), None
            size = docker_size(files)
        else:  # vfs keeps full copies: a layer's changes are what differs from its parent's copy
            parent = self._layers[cache].get("parent")
            if parent:
                rows, size = compare_trees(layer_dir(self.root, self.driver, parent), d, lid)
                files = rows.frame()
            else:
                files = walk_layer(d, lid, "plain")
                size = docker_size(files)
        return files, size, int(files["disk_usage"].sum()) + os.lstat(d).st_blocks * 512

    def read_layer_files(self, layers: pd.DataFrame, which=None) -> None:
        rows = [r for r in layers[which if which is not None else slice(None)].itertuples(index=False)
                if r.layer_id not in self._read]
        results = read_each_layer(rows, self.layer_files, (OSError, *TARSPLIT_ERRORS, CorruptMetadata), self.progress)
        for row, (got, e) in zip(rows, results):
            self._read[row.layer_id] = got
            if e is None:
                continue
            where = os.path.join(self.root, self.driver, row.cache_id)
            if isinstance(e, _Outside):
                reason, path = str(e), e.path
            elif isinstance(e, FileNotFoundError):
                reason, path = "layer directory or tar-split missing (removed while reading?)", e.filename or where
            elif isinstance(e, PermissionError):
                reason, path = (f"permission denied; {SCAN_HINT}, or as the store's rootless user inside "
                                "its user namespace (`podman unshare layerlab ...`)"), e.filename or where
            elif isinstance(e, CorruptMetadata):
                reason, path = str(e), e.path or where
            else:
                reason, path = f"unreadable layer ({type(e).__name__}: {e})", where
            self.skipped.add("layer", row.layer_id, path, reason)

    def files_frame(self, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
        layers, containers = frames["layers"], frames["containers"]
        self.read_layer_files(layers)
        read = {k: v for k, v in self._read.items() if v is not None}
        files = concat_files([v[0] for v in read.values()]) if read else schema.empty("files")
        for k, v in read.items():  # the layers' own frames are in ``files`` now: not kept twice
            self._read[k] = (None, *v[1:])
        fill_layer_counts(layers, files, {k: v[2] for k, v in read.items()})
        if self._unknown_sizes:
            self._fill_unknown_sizes(frames, read)
        is_rw = layers["kind"] != "image"
        if is_rw.any():
            layers.loc[is_rw,
                       "size"] = [read[x][1] if x in read and read[x][1] is not None else 0
                                  for x in layers.loc[is_rw, "layer_id"]]
        containers["rw_size"] = pd.array([read[x][1] if x in read else None for x in containers["layer_id"]],
                                         dtype="Int64")
        return files

    def _fill_unknown_sizes(self, frames: dict[str, pd.DataFrame], read: dict) -> None:
        """Sizes of layers whose record holds none, from their files (what the driver's DiffSize
        counts: file and symlink bytes, hard links once), and the images' figures again with them."""
        layers, images, il = frames["layers"], frames["images"], frames["image_layers"]
        by_cache = dict(zip(layers["cache_id"], layers["layer_id"]))
        for cache in self._unknown_sizes:
            got = read.get(by_cache.get(cache))
            if got is not None:
                self._sizes[cache] = got[1]
        self._podman_figures(self._chosen, self._sizes, self._container_recs)
        size_of = {lid: self._sizes.get(cache) or 0 for cache, lid in by_cache.items()}
        is_image = layers["kind"] == "image"
        layers.loc[is_image, "size"] = layers.loc[is_image, "layer_id"].map(size_of).astype("int64")
        il["size"] = il["layer_id"].map(size_of).fillna(0).astype("int64")
        figures = {"sha256:" + img["rec"]["id"]: img["figures"] for img in self._chosen}
        for col in ("size", "shared_size", "unique_size"):
            images[col] = images["image_id"].map(lambda i: figures[i][col]).astype("int64")

    def container_sizes(self, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
        layers, containers = frames["layers"], frames["containers"]
        self.read_layer_files(layers, layers["kind"] != "image")
        sizes = {k: v[1] for k, v in self._read.items() if v is not None}
        containers["rw_size"] = pd.array([sizes.get(x) for x in containers["layer_id"]], dtype="Int64")
        return containers

    def inventory(self) -> Inventory:
        frames = self.metadata_frames()
        source = self.root if self.ref is None else f"containers-storage:[{self.driver}@{self.root}]{self.ref}"
        meta = source_meta(source, "containers-storage", self.driver, files_from=self.files_from, graph_root=self.root)
        # Images whose layers' records hold no size get their figures once the files are read.
        filled = ("layers", "images", "image_layers") if self._unknown_sizes else ("layers",)
        return assemble(meta, frames, lambda: self.files_frame(frames), self.skipped, filled_by_files=filled,
                        containers=lambda: self.container_sizes(frames))


#: The fields of each record layerlab reads, and the JSON type containers/storage writes each as
#: (absent or null allowed): a record of another shape is skipped, naming the field.
_FIELDS = {
    "layer": {"parent": str, "diff-digest": str, "diff-size": int, "compressed-diff-digest": str, "flags": dict},
    "image": {"names": list, "digest": str, "layer": str, "big-data-names": list, "big-data-sizes": dict,
              "created": str,
              "mapped-top-layers": list},
    "container": {"names": list, "image": str, "layer": str, "created": str},
}
_JSON_TYPE = {str: "a string", int: "a number", list: "a list", dict: "an object"}


def _record_problem(rec: dict, what: str) -> str | None:
    """What is wrong with the shape of a layer, image or container record (None when nothing)."""
    for name, kind in _FIELDS[what].items():
        value = rec.get(name)
        if value is None:
            continue
        if type(value) is not kind or (kind is list and not all(isinstance(v, str) for v in value)):
            return f"its {name!r} is {str(value)[:40]!r}, not {_JSON_TYPE[kind]}{' of strings' if kind is list else ''}"
    return None


def _repository(name: str) -> str:
    """A stored name without its tag or digest (``localhost:5000/app:1`` -> ``localhost:5000/app``)."""
    name = name.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name[: len(name) - len(last) + last.index(":")] if ":" in last else name


def _named(images: list[dict], wanted: list[str], *, repository: bool = False) -> list[dict]:
    """The images one of whose names is in ``wanted`` (or, with ``repository``, whose repository is);
    failing that, as podman resolves a short name, one whose name ends in ``/`` + it."""
    def forms(n: str) -> tuple[str, ...]:
        return (n, _repository(n)) if repository else (n,)

    for short in (False, True):
        hits = [img for img in images
                if any(isinstance(n, str)
                       and any(f == w or (short and f.endswith("/" + w)) for f in forms(n) for w in wanted)
                       for n in img["rec"].get("names") or [])]
        if hits:
            return hits
    return []


def _parent_and_child(parent: dict, child: dict) -> bool:
    """libimage's areParentAndChild: the child's diff IDs start with the parent's, and its history is
    the parent's plus one entry (compared on created, created_by, author, comment, empty_layer)."""
    pd_, cd = diff_ids(parent), diff_ids(child)
    if len(pd_) > len(cd) or cd[:len(pd_)] != pd_:
        return False
    ph, ch = parent.get("history") or [], child.get("history") or []
    if len(ph) + 1 != len(ch):
        return False
    for a, b in zip(ph, ch):
        ta, tb = a.get("created"), b.get("created")
        if (ta is None) != (tb is None) or (ta is not None and parse_time(ta) != parse_time(tb)):
            return False
        if any((a.get(k) or "") != (b.get(k) or "") for k in ("created_by", "author", "comment")):
            return False
        if bool(a.get("empty_layer")) != bool(b.get("empty_layer")):
            return False
    return True


def open_containers_storage(root: str, driver: str | None = None, ref: str | None = None, *, files: str = "auto",
                            progress: bool | None = None) -> Inventory:
    """Open a containers-storage graph root (podman, buildah, CRI-O: ``/var/lib/containers/storage``,
    rootless ``~/.local/share/containers/storage``) as an Inventory, without podman.

    ``driver`` chooses the store when several are present (overlay or vfs); ``ref`` reads one image
    (a name, a short name, an ID or ID prefix) and its containers. ``files``: where image layers'
    files come from: ``"auto"`` (overlay: the layer's diff directory; vfs: its tar-split where it
    has one, else the difference of its copy from its parent's), ``"walk"`` or ``"tar-split"``.
    Nothing under ``root`` is written, and no lock is taken.
    """
    return ContainersStore(root, driver, ref, files=files, progress=progress).inventory()


def open_location(source: str, driver: str | None = None, *, files: str = "auto",
                  progress: bool | None = None) -> Inventory:
    """``open_containers_storage`` of a graph root path or a ``containers-storage:[DRIVER@ROOT]REF`` name."""
    from .location import PREFIX, parse_transport

    if source.startswith(PREFIX):
        where = parse_transport(source)
        return open_containers_storage(where.root, where.driver or driver, where.ref, files=files, progress=progress)
    return open_containers_storage(source, driver, files=files, progress=progress)
