"""A read-only audit of a registry's storage (distribution's layout, docs/formats.md "Registry storage"), on a local
filesystem or an object store (``stores.py``: fsspec, s3fs).

What an operator wants to know before running ``registry garbage-collect``: repositories, tags and
their history, manifests (tagged or not), layer links, blobs with sizes, and exactly which blobs
``garbage-collect`` would delete with and without ``--delete-untagged``. The mark-and-sweep here
follows distribution 2.8 (Debian's docker-registry and the ``registry:2`` image): a manifest marks
its direct references only, so with ``--delete-untagged`` the layers of an untagged child of a
tagged index are swept. Nothing is written, locked or created under the storage root: the audit
lists the tree once (``Listing``), reads the link files and manifests it needs, and decides in memory.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ...errors import PROGRESS, ArgumentError, Expect, NotADataRoot, expects
from ...frames.schema import coerce, empty
from ...oci.manifest import INDEX_TYPES, SCHEMA1, media_type_of
from ...untrusted import load_json
from .stores import Store, open_store
from .._reader import is_digest, outside_root

MANIFEST_LIMIT = 4 << 20


def find_v2(store: Store) -> str:
    """The ``docker/registry/v2`` directory of a storage root (or the v2 directory itself), in ``store``."""
    root = store.root
    for candidate in (f"{root}/docker/registry/v2", f"{root}/registry/v2", root):
        entries = store.list_dir(candidate) or []
        if any(name in ("blobs", "repositories") and kind == "directory" for name, kind in entries):
            return candidate
    if store.object_store:
        with store.translate_errors("list", store.root):  # a missing bucket or refused credentials say so
            store.call("ls", root.split("/", 1)[0])
        raise NotADataRoot(f"{store.url} is not a registry storage root: no docker/registry/v2 with blobs/ or "
                           "repositories/ below it; give s3://BUCKET/ROOTDIRECTORY with the s3 driver's "
                           "bucket and rootdirectory (or --config with the registry's config.yml)", path=store.url)
    raise NotADataRoot(f"{root} is not a registry storage root: no docker/registry/v2 with blobs/ or "
                       "repositories/ below it; give the filesystem driver's rootdirectory "
                       "(e.g. /var/lib/registry)", path=str(root))


#: What a listing records of an entry that is neither a folder nor a regular file (stores._walk_local).
ODD_KINDS = ("symlink", "FIFO", "socket", "device", "other")


@dataclass
class Listing:
    """Every file (with its size) and directory under ``blobs/`` and ``repositories/``, relative to v2.

    On an object store directories are the key prefixes, as distribution's s3 driver sees them.
    """

    files: dict[str, int]
    dirs: set[str]
    children: dict[str, list[str]]  # directory -> sorted names of its subdirectories
    links: list[str] = field(default_factory=list)  # symbolic links met (local storage), never followed
    odd: dict[str, str] = field(default_factory=dict)  # symlinks, FIFOs, devices: path -> what (never read)
    etags: dict[str, str] = field(default_factory=dict)  # file -> its object store's ETag (link files only)

    @classmethod
    def read(cls, store: Store, v2: str) -> "Listing":
        jobs = []
        links: list[str] = [f"{v2}/{top}" for top in ("blobs", "repositories") if store.is_link(f"{v2}/{top}")]
        for top in ("blobs", "repositories"):
            for name, kind in store.list_dir(f"{v2}/{top}") or []:
                if kind == "link":
                    links.append(f"{v2}/{top}/{name}")
                if kind != "directory":
                    continue
                base = f"{v2}/{top}/{name}"
                if store.can_prefix and top == "blobs":
                    # 16 listings by the digest's first hex digit, run concurrently, instead of one long
                    # sequential pagination over every blob.
                    jobs.extend((base, c) for c in "0123456789abcdef")
                else:
                    jobs.append((base, ""))
        files: dict[str, int] = {}
        odd: dict[str, str] = {}
        etags: dict[str, str] = {}
        dirs: set[str] = {"blobs", "repositories"}
        cut = len(v2) + 1
        lock = threading.Lock()

        def list_and_merge(job) -> None:
            # Each listing is merged as it arrives and dropped, rather than all of them held until
            # the last one is in: the peak is the merged listing, not it twice.
            part = store.find(*job)
            with lock:
                for name, (kind, size, etag) in part.items():
                    if not name.startswith(v2 + "/"):
                        continue
                    rel = name[cut:]
                    if kind == "link":  # listed as a problem; a blob's data that is one is said with its blob
                        links.append(name)
                        odd[rel] = "symlink"
                        continue
                    if kind == "directory":
                        dirs.add(rel)
                    elif kind in ODD_KINDS:
                        odd[rel] = kind
                    else:
                        files[rel] = size
                        if etag and rel.endswith("/link"):
                            etags[rel] = etag
                    parent = rel.rpartition("/")[0]
                    while parent and parent not in dirs:
                        dirs.add(parent)
                        parent = parent.rpartition("/")[0]

        # An object store's listing can take a while on a big registry: a bar from the first listing.
        store.map(list_and_merge, jobs, f"listing {store.url}", "listings",
                  min_items=1 if store.object_store else 200)
        children: dict[str, list[str]] = {}
        for d in dirs:
            parent, _, name = d.rpartition("/")
            if parent:
                children.setdefault(parent, []).append(name)
        for names in children.values():
            names.sort()
        return cls(files, dirs, children, sorted(links), odd, etags)

    def subdirs(self, rel: str) -> list[tuple[str, str]]:
        """(name, path) of the subdirectories of ``rel``, sorted by name."""
        return [(n, f"{rel}/{n}") for n in self.children.get(rel, ())]

    def is_dir(self, rel: str) -> bool:
        return rel in self.dirs


def _links(tree: Listing, links: dict[str, str | None], directory: str) -> list[tuple[str, str]]:
    """(path-named digest, link content) for every ``<alg>/<hex>/link`` under ``directory``."""
    out = []
    for alg, alg_path in tree.subdirs(directory):
        for name, path in tree.subdirs(alg_path):
            content = links.get(f"{path}/link")
            if content is not None:
                out.append((f"{alg}:{name}", content))
    return out


def _read_links(store: Store, v2: str, tree: Listing) -> dict[str, str | None]:
    """Every ``link`` file under repositories/, read concurrently: path -> digest it holds.

    A tag's history (``tags/<tag>/index/<alg>/<hex>/link``) is named by its path: only whether the
    link is there and not empty matters (GC does not read it), and the listing's size says so, which
    saves a GET per tag on an object store.
    """
    links: dict[str, str | None] = {}
    paths = []
    for p, size in tree.files.items():
        if not (p.startswith("repositories/") and p.endswith("/link")):
            continue
        parts = p.split("/")
        if len(parts) > 7 and parts[-4] == "index" and parts[-6] == "tags" and parts[-7] == "_manifests":
            links[p] = f"{parts[-3]}:{parts[-2]}" if size > 0 else None
        else:
            paths.append(p)
    if tree.etags:
        paths = [p for p in paths if not _known_by_etag(tree, links, p)]
    raw = store.map(lambda p: store.read(f"{v2}/{p}"), paths, "reading links", "links")
    links.update((p, (data.decode(errors="replace").strip() or None) if data is not None else None)
                 for p, data in zip(paths, raw))
    return links


def _known_by_etag(tree: Listing, links: dict[str, str | None], path: str) -> bool:
    """Whether a link's content is known from the listing alone, without a GET: on S3 (and MinIO,
    Ceph, moto) a single-part object's ETag is the MD5 of its bytes, so a link whose ETag is the MD5
    of a digest it may hold holds exactly that digest. A revision or layer link may hold the digest
    its path names; a tag's current link one its history names. Any other ETag (a multipart or
    SSE-KMS object's, or other bytes) leaves the link to be read."""
    import hashlib

    etag = tree.etags.get(path)
    if etag is None:
        return False
    parts = path.split("/")
    if parts[-2] == "current":  # _manifests/tags/<tag>/current/link
        tag_dir = path.rsplit("/", 2)[0]
        candidates = [f"{alg}:{name}" for alg, alg_path in tree.subdirs(f"{tag_dir}/index")
                      for name, _ in tree.subdirs(alg_path)]
    else:  # <alg>/<hex>/link under _layers or _manifests/revisions
        candidates = [f"{parts[-3]}:{parts[-2]}"]
    for digest in candidates:
        if hashlib.md5(digest.encode(), usedforsecurity=False).hexdigest() == etag:
            links[path] = digest
            return True
    return False


@dataclass
class GcPlan:
    """What one garbage-collect mode would delete."""

    blobs: list[str]
    bytes: int
    manifests: list[tuple[str, str]] = field(default_factory=list)  # (repository, digest)
    layer_links: list[tuple[str, str]] = field(default_factory=list)
    #: why garbage-collect in this mode would stop before deleting anything (then the lists are empty)
    error: str | None = None

    def to_dict(self) -> dict:
        return {"blobs": self.blobs, "bytes": self.bytes, "error": self.error,
                "manifests": [{"repository": r, "digest": d} for r, d in self.manifests],
                "layer_links": [{"repository": r, "digest": d} for r, d in self.layer_links]}


@dataclass
class StorageAudit:
    """The audit of one storage root: frames, the two GC plans, and problems found on the way."""

    root: Path | str  # the v2 directory: a local Path, or a URL (s3://bucket/prefix/docker/registry/v2)
    repositories: pd.DataFrame
    tags: pd.DataFrame
    manifests: pd.DataFrame
    layer_links: pd.DataFrame
    blobs: pd.DataFrame
    gc: GcPlan
    gc_untagged: GcPlan
    problems: list[str]
    requests: dict = field(default_factory=dict)  # LIST/GET/HEAD/other counts (HTTP on an object store)
    cost_usd: float | None = None  # the requests at S3 Standard prices; None for a local filesystem

    @property
    def blob_bytes(self) -> int:
        return int(self.blobs["size"].sum())

    def to_dict(self) -> dict:
        repos = []
        for row in self.repositories.itertuples(index=False):
            t = self.tags[(self.tags["repository"] == row.repository) & self.tags["current"]]
            repos.append({"repository": row.repository, "tags": dict(zip(t["tag"], t["digest"])),
                          "manifests": int(row.manifest_count), "untagged": int(row.untagged_count),
                          "layer_links": int(row.layer_link_count), "uploads": int(row.upload_count)})
        unreferenced = self.blobs[self.blobs["kind"] == "unreferenced"]
        untagged = self.manifests[~self.manifests["tags"].map(bool) & ~self.manifests["referenced_by"].map(bool)]
        return {"root": str(self.root), "repositories": repos, "blobs": len(self.blobs),
                "blob_bytes": self.blob_bytes,
                "untagged_manifests": [{"repository": r, "digest": d}
                                       for r, d in zip(untagged["repository"], untagged["digest"])],
                "unreferenced_blobs": list(unreferenced["digest"]),
                "gc": self.gc.to_dict(), "gc_untagged": self.gc_untagged.to_dict(), "problems": self.problems,
                "requests": self.requests, "cost_usd": self.cost_usd}


def _repositories(tree: Listing, repos_dir: str, prefix: str = "") -> list[tuple[str, str]]:
    """Repositories in distribution's walk order: directories holding ``_manifests``/``_layers``/``_uploads``."""
    out = []
    for entry, path in tree.subdirs(repos_dir):
        if entry.startswith("_"):
            continue
        name = prefix + entry
        if any(tree.is_dir(f"{path}/{d}") for d in ("_manifests", "_layers", "_uploads")):
            out.append((name, path))
        out.extend(_repositories(tree, path, name + "/"))
    return out


def _blob_path(digest: str) -> str:
    alg, _, hexpart = digest.partition(":")
    return f"blobs/{alg}/{hexpart[:2]}/{hexpart}/data"


_ROOT = Expect("a directory, an s3:// or other fsspec URL, a Store, or None (with config=)", str, none=True,
               test=lambda v: hasattr(v, "__fspath__") or isinstance(v, Store))
_CONFIG = Expect("the path of the registry's config.yml, or None", str, none=True,
                 test=lambda v: hasattr(v, "__fspath__"))


@expects(root=_ROOT, config=_CONFIG, progress=PROGRESS)
def audit_storage(root: str | os.PathLike | Store | None = None, *, config: str | os.PathLike | None = None,
                  progress: bool | None = None, **options) -> StorageAudit:
    """Audit a registry's storage, read-only.

    Parameters
    ----------
    root : the filesystem driver's rootdirectory (``/var/lib/registry``), ``s3://BUCKET/ROOTDIRECTORY``
        (credentials, region and endpoint from the AWS environment, ``AWS_ENDPOINT_URL`` included),
        another fsspec URL, or a :class:`~layerlab.sources.registry.stores.Store`. None with ``config``.
    config : the registry's ``config.yml``, whose ``storage`` section (filesystem or s3) says where to read.
    progress : tqdm bars while listing and reading (None: only for long runs).
    options : for :func:`~layerlab.sources.registry.stores.open_store`: ``storage_options``, ``timeout``,
        ``retries``, ``max_workers``.
    """
    from .stores import store_from_config

    if config is not None:
        store = store_from_config(config, progress=progress, **options)
    elif root is None:
        raise ArgumentError("audit_storage(): needs a root (a directory or s3://BUCKET/ROOTDIRECTORY) or config=")
    else:
        store = open_store(root, progress=progress, **options)
    v2 = find_v2(store)
    tree = Listing.read(store, v2)
    links = _read_links(store, v2, tree)
    problems: list[str] = [outside_root(link) or f"{link} is a symbolic link (distribution writes none); not followed"
                           for link in tree.links]

    # Blobs: distribution enumerates data files under blobs/<alg>/<xx>/<hex>/data; sizes from the listing.
    blob_sizes: dict[str, int] = {}
    for alg, alg_path in tree.subdirs("blobs"):
        for _, shard_path in tree.subdirs(alg_path):
            for name, path in tree.subdirs(shard_path):
                size = tree.files.get(f"{path}/data")
                if size is not None:
                    blob_sizes[f"{alg}:{name}"] = size
                elif f"{path}/data" in tree.odd:  # never followed or read: left out, and said
                    kind = tree.odd[f"{path}/data"]
                    problems.append(f"blob {alg}:{name}: its data is a {kind}, not a file; layerlab "
                                    "does not follow or read it, so the blob is left out of every figure "
                                    "(the storage is damaged or was tampered with)")
                else:
                    problems.append(f"blob {alg}:{name} has no data file (an interrupted upload or a damaged "
                                    "store); garbage-collect does not see it, and neither does this audit")

    # Manifests: every revision whose blob exists, read concurrently up front (small objects).
    wanted = sorted({content for p, content in links.items()
                     if content in blob_sizes and blob_sizes[content] <= MANIFEST_LIMIT
                     and p.split("/")[-5:-3] == ["_manifests", "revisions"]})
    bodies = dict(zip(wanted, store.map(lambda d: store.read(f"{v2}/{_blob_path(d)}"), wanted,
                                        "reading manifests", "manifests")))
    parsed: dict[str, dict | None] = {}

    def manifest(digest: str) -> dict | None:
        if digest not in parsed:
            data = None
            try:
                if bodies.get(digest) is not None:
                    raw = load_json(bodies[digest])
                    data = raw if isinstance(raw, dict) else None
            except ValueError:
                data = None
            if data is None:
                problems.append(f"manifest {digest} cannot be read as JSON; garbage-collect would stop here")
            parsed[digest] = data
        return parsed[digest]

    def references(data: dict) -> tuple[str, list[str], str | None]:
        """(media type, digests it references — distribution 2.8's References(), config digest)."""
        media_type = media_type_of(data)
        if media_type in SCHEMA1:
            return media_type, [l.get("blobSum") for l in data.get("fsLayers") or []], None
        if media_type in INDEX_TYPES:
            return media_type, [m.get("digest") for m in data.get("manifests") or []], None
        config = (data.get("config") or {}).get("digest")
        return media_type, ([config] if config else []) + [l.get("digest") for l in data.get("layers") or []], config

    repo_rows, tag_rows, manifest_rows, link_rows = [], [], [], []
    kinds: dict[str, str] = {}
    linked_by: dict[str, set[str]] = {}
    marks = {False: set(), True: set()}  # delete_untagged -> mark set
    gc_untagged_error = None
    manifest_deletes = {False: [], True: []}
    link_deletes = {False: [], True: []}

    for repo, path in _repositories(tree, "repositories"):
        mdir = f"{path}/_manifests"
        # Tags and their history.
        current: dict[str, str] = {}
        for tag, tag_path in tree.subdirs(f"{mdir}/tags"):
            digest = links.get(f"{tag_path}/current/link")
            if digest is None and (f"{tag_path}/current/link" in tree.files or f"{tag_path}/current/link" in tree.odd):
                digest = ""  # a link file that is empty or unreadable: as damaged as one holding junk
            if digest is not None and not is_digest(digest):
                # distribution's tag lookup parses every tag link: --delete-untagged stops at this one
                # (plain garbage-collect never reads tags)
                message = (f"failed to retrieve tags for digest of {repo}: tag {tag}'s link holds "
                           f"{digest[:80]!r}: invalid checksum digest format")
                gc_untagged_error = gc_untagged_error or message
                problems.append(f"{message}; `garbage-collect --delete-untagged` stops here and deletes nothing")
                digest = None
            if digest:
                current[tag] = digest
                tag_rows.append({"repository": repo, "tag": tag, "digest": digest, "current": True})
            for d, _ in _links(tree, links, f"{tag_path}/index"):
                if d != digest:
                    tag_rows.append({"repository": repo, "tag": tag, "digest": d, "current": False})
        tags_of: dict[str, list[str]] = {}
        for tag, digest in current.items():
            tags_of.setdefault(digest, []).append(tag)

        # Manifest revisions: the link's content names the blob; a missing blob is skipped, as by GC.
        revisions = [content for _, content in _links(tree, links, f"{mdir}/revisions")]
        present = [d for d in revisions if d in blob_sizes]
        for d in revisions:
            if d not in blob_sizes:
                problems.append(f"{repo}: revision {d} links to a blob that does not exist")
        info = {}
        for d in present:
            data = manifest(d)
            info[d] = references(data) if data is not None else (None, [], None)
            linked_by.setdefault(d, set()).add(repo)
        referenced_by: dict[str, list[str]] = {}
        for d, (mt, refs, _) in info.items():
            if mt in INDEX_TYPES:
                for child in refs:
                    referenced_by.setdefault(child, []).append(d)

        for untagged_mode in (False, True):
            mark = marks[untagged_mode]
            for d in present:
                if untagged_mode and d not in tags_of:
                    manifest_deletes[True].append((repo, d))
                    continue
                mark.add(d)
                mark.update(r for r in info[d][1] if r)

        # Layer links, judged against the mark set as it stands after this repository (GC's order).
        has_manifests = tree.is_dir(mdir)
        layer_links = _links(tree, links, f"{path}/_layers")
        for _, content in layer_links:
            linked_by.setdefault(content, set()).add(repo)
            exists = content in blob_sizes
            row = {"repository": repo, "digest": content, "blob_exists": exists}
            for untagged_mode, column in ((False, "gc"), (True, "gc_untagged")):
                doomed = has_manifests and exists and content not in marks[untagged_mode]
                row[column] = doomed
                if doomed:
                    link_deletes[untagged_mode].append((repo, content))
            link_rows.append(row)

        doomed_manifests = set(manifest_deletes[True])
        for d in revisions:
            mt, refs, config = info.get(d, (None, [], None))
            for r in refs:
                if r and r not in kinds:
                    kinds[r] = "config" if r == config else ("manifest" if mt in INDEX_TYPES else "layer")
            manifest_rows.append({
                "repository": repo, "digest": d, "media_type": mt, "size": blob_sizes.get(d),
                "tags": sorted(tags_of.get(d, [])), "referenced_by": sorted(referenced_by.get(d, [])),
                "config_digest": config, "layer_count": len(refs) - (1 if config else 0) if mt else None,
                "gc_untagged": (repo, d) in doomed_manifests,
            })
        uploads = len(tree.subdirs(f"{path}/_uploads"))
        repo_rows.append({"repository": repo, "tag_count": len(current), "manifest_count": len(revisions),
                          "untagged_count": sum(1 for d in revisions if d not in tags_of),
                          "layer_link_count": len(layer_links), "upload_count": uploads})

    revision_types = {}
    for row in manifest_rows:
        if row["media_type"]:
            revision_types[row["digest"]] = "index" if row["media_type"] in INDEX_TYPES else "manifest"
    blob_rows = []
    plans = {}
    for untagged_mode in (False, True):
        doomed = [d for d in blob_sizes if d not in marks[untagged_mode]]
        plans[untagged_mode] = GcPlan(sorted(doomed), sum(blob_sizes[d] for d in doomed),
                                      manifest_deletes[untagged_mode], link_deletes[untagged_mode])
    if gc_untagged_error:  # GC fails in its mark phase: its sweep never runs
        plans[True] = GcPlan([], 0, error=gc_untagged_error)
        for row in manifest_rows + link_rows:
            row["gc_untagged"] = False
    gc_set, gcu_set = set(plans[False].blobs), set(plans[True].blobs)
    for d, size in blob_sizes.items():
        kind = revision_types.get(d) or kinds.get(d) or "unreferenced"
        blob_rows.append({"digest": d, "size": size, "kind": kind, "repositories": sorted(linked_by.get(d, ())),
                          "gc": d in gc_set, "gc_untagged": d in gcu_set})

    def frame(rows, kind):
        return coerce(pd.DataFrame(rows), kind) if rows else empty(kind)

    return StorageAudit(
        root=store.url + v2[len(store.root):] if store.object_store else Path(v2),
        requests=store.counts.to_dict(), cost_usd=store.cost_usd(),
        repositories=frame(repo_rows, "storage_repositories"), tags=frame(tag_rows, "storage_tags"),
        manifests=frame(manifest_rows, "storage_manifests"), layer_links=frame(link_rows, "storage_layer_links"),
        blobs=frame(blob_rows, "storage_blobs"), gc=plans[False], gc_untagged=plans[True], problems=problems,
    )
