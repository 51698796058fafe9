"""A read-only audit of a registry's storage (distribution's layout, docs/formats.md "Registry storage"), on a local
filesystem or an object store (``stores.py``: fsspec, s3fs).

What an operator wants to know before running ``registry garbage-collect``: repositories, tags and
their history, manifests (tagged or not), layer links, blobs with sizes, and exactly which blobs
``garbage-collect`` would delete with and without ``--delete-untagged``. The mark-and-sweep here
follows distribution 2.8 (Debian's docker-registry and the ``registry:2`` image): a manifest marks
its direct references only, so with ``--delete-untagged`` the layers of an untagged child of a
tagged index are swept. Nothing is written, locked or created under the storage root: the audit
reads the blobs' sizes and one repository after another (a local folder with ``_LocalScan``, an
object store part by part (``_streamed_repositories``), a local folder without the C scanner as one
``Listing``), with the link files and manifests it needs, and decides in memory.
"""

from __future__ import annotations

import errno
import gc
import os
import sys
import threading
from collections import deque
from itertools import chain
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pandas as pd

from ...errors import PROGRESS, ArgumentError, DataRootPermissionError, Expect, NotADataRoot, expects
from ...frames.schema import coerce, empty
from ...oci.manifest import INDEX_TYPES, SCHEMA1, media_type_of
from ...untrusted import load_json
from .stores import LOCAL_WORKERS, Store, open_store
from .._reader import is_digest, open_beneath, outside_root

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
        listing = cls({}, {"blobs", "repositories"}, {}, links)
        lock = threading.Lock()

        def list_and_merge(job) -> None:
            # Each listing is merged as it arrives and dropped, rather than all of them held until
            # the last one is in: the peak is the merged listing, not it twice.
            part = store.find(*job)
            with lock:
                listing.merge(v2, part.items())

        # An object store's listing can take a while on a big registry: a bar from the first listing.
        store.map(list_and_merge, jobs, f"listing {store.url}", "listings",
                  min_items=1 if store.object_store else 200)
        listing.links.sort()
        return listing.finish()

    def merge(self, v2: str, found) -> None:
        """Add ``(path, (kind, size, etag))`` entries of a listing below ``v2`` (Store.find's)."""
        files, dirs, odd, etags, links = self.files, self.dirs, self.odd, self.etags, self.links
        cut = len(v2) + 1
        for name, (kind, size, etag) in found:
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

    def finish(self) -> "Listing":
        """The children of every directory, once everything is merged."""
        children: dict[str, list[str]] = {}
        for d in self.dirs:
            parent, _, name = d.rpartition("/")
            if parent:
                children.setdefault(parent, []).append(name)
        for names in children.values():
            names.sort()
        self.children = children
        return self

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


def _read_links(store: Store, v2: str, tree: Listing, read_all=None) -> dict[str, str | None]:
    """Every ``link`` file under repositories/, read concurrently (``read_all(fn, paths)``: the
    store's pool by default): path -> digest it holds.

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
    read_all = read_all or (lambda fn, items: store.map(fn, items, "reading links", "links"))
    raw = read_all(lambda p: store.read(f"{v2}/{p}"), paths)
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
        current = self.tags[self.tags["current"]]
        tags_of: dict[str, dict[str, str]] = {}
        for repo, tag, digest in zip(current["repository"], current["tag"], current["digest"]):
            tags_of.setdefault(repo, {})[tag] = digest
        for row in self.repositories.itertuples(index=False):
            repos.append({"repository": row.repository, "tags": tags_of.get(row.repository, {}),
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


@dataclass
class RepoData:
    """What the audit needs of one repository, however the storage was read (listed or scanned)."""

    name: str
    has_manifests: bool
    #: (tag, its current link's content): None without a current link, "" when it is empty or not a file
    tags: list[tuple[str, str | None]]
    history: dict[str, list[str]]  # tag -> digests its index names (links that are not empty)
    revisions: list[str]  # what each revision link holds, in path order
    layers: list[str]  # what each _layers link holds, in path order
    uploads: int
    #: manifests read for this repository: digest -> (media type, references, config) or None (not JSON)
    infos: dict[str, tuple | None] = field(default_factory=dict)


def _manifest_info(body: bytes | None) -> tuple | None:
    """(media type, digests it references — distribution 2.8's References(), config digest), or None
    when the body is not a JSON object."""
    if body is None:
        return None
    try:
        data = load_json(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    media_type = media_type_of(data)
    intern = sys.intern  # _intern's work inline: a call less for each of half a million references
    if media_type in SCHEMA1:
        refs, config = [l.get("blobSum") for l in data.get("fsLayers") or []], None
    elif media_type in INDEX_TYPES:
        refs, config = [m.get("digest") for m in data.get("manifests") or []], None
    else:
        config = (data.get("config") or {}).get("digest")
        refs = ([config] if config else []) + [l.get("digest") for l in data.get("layers") or []]
    return media_type, [intern(r) if type(r) is str else r for r in refs], _intern(config)


def _intern(value):
    """One str object per digest, however many links, marks and rows name it (a million links at full
    size name a few hundred thousand digests): Python's own interning, which the C scanner uses for
    the links it reads, so a digest read there and one parsed here are the same object."""
    return sys.intern(value) if type(value) is str else value


def _listed_repositories(store: Store, v2: str, tree: Listing, links: dict[str, str | None],
                         blob_sizes: dict[str, int], read_all=None, infos: dict | None = None):
    """RepoData from a listing of the tree (a local tree without the C scanner), or of a part of it
    (object stores, _streamed_repositories: ``infos`` holds the manifests read so far, shared by the parts,
    and ``read_all(fn, digests)`` reads the missing ones: ``fn`` reads and parses one)."""
    infos = {} if infos is None else infos
    wanted = sorted({content for p, content in links.items()
                     if content in blob_sizes and blob_sizes[content] <= MANIFEST_LIMIT and content not in infos
                     and p.split("/")[-5:-3] == ["_manifests", "revisions"]})
    read_all = read_all or (lambda fn, items: store.map(fn, items, "reading manifests", "manifests"))
    infos.update(zip(wanted, read_all(lambda d: _manifest_info(store.read(f"{v2}/{_blob_path(d)}")), wanted)))
    for repo, path in _repositories(tree, "repositories"):
        mdir = f"{path}/_manifests"
        tags, history = [], {}
        for tag, tag_path in tree.subdirs(f"{mdir}/tags"):
            digest = links.get(f"{tag_path}/current/link")
            if digest is None and (f"{tag_path}/current/link" in tree.files or f"{tag_path}/current/link" in tree.odd):
                digest = ""  # a link file that is empty or unreadable: as damaged as one holding junk
            tags.append((tag, digest))
            history[tag] = [d for d, _ in _links(tree, links, f"{tag_path}/index")]
        revisions = [_intern(c) for _, c in _links(tree, links, f"{mdir}/revisions")]
        yield RepoData(repo, tree.is_dir(mdir), tags, history, revisions,
                       [_intern(c) for _, c in _links(tree, links, f"{path}/_layers")],
                       len(tree.subdirs(f"{path}/_uploads")), {d: infos.get(d) for d in revisions if d in blob_sizes})


def _read_ahead(fn, items: list, workers: int, window: int, desc: str, unit: str, progress: bool | None):
    """``fn(item)`` of each item, in the items' order, on a pool of ``workers`` threads at most ``window``
    items ahead of the caller (never the whole storage at once), with a progress bar; stopped early
    (an error, Ctrl-C), nothing more is started."""
    from ...display import progress_bar

    with ThreadPoolExecutor(max_workers=workers) as pool, \
            progress_bar(total=len(items), desc=desc, unit=unit, leave=False, progress=progress,
                         skip=progress is None and len(items) < 200, delay=1) as bar:
        pending: deque = deque()
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) >= window:
                    yield pending.popleft().result()
                    bar.update()
            while pending:
                yield pending.popleft().result()
                bar.update()
        finally:
            for future in pending:
                future.cancel()


# -- an object store, streamed part by part -------------------------------------------------------
# The storage audit on an object store (s3, or another fsspec store), streamed repository by repository.
#
# A listing of the whole bucket held at once costs about 2.3 GB at 950,000 keys (a path string, a size
# and an ETag per key, and the directories made from them). Here only what the mark and sweep needs
# outlives a listing: the blobs' digest -> size, from 16 concurrent flat listings of ``blobs/<alg>/``
# (by the digest's first hex digit) read page by page, and then each repository's keys, listed and
# judged one part of ``repositories/`` at a time:
#
# - ``repositories/`` and each of its folders are listed with a delimiter (one LIST each, concurrently);
# - a part is a folder two levels down (``repositories/<team>/<name>/``, a repository and any nested
#   below it) listed flat, or a top folder's own ``_manifests``/``_layers``/``_uploads`` (a one-level
#   repository name); parts are read on the store's pool a bounded window ahead of the mark and
#   sweep, and handed to it in distribution's walk order (the order its layer-link deletions depend on);
# - within a part, the links and manifests are read as before (``storage._read_links``,
#   ``storage._listed_repositories``): a link named by its ETag needs no GET.
#
# Nothing is written anywhere: a killed run leaves nothing behind.

#: Underscore folders that make a folder a repository (distribution's walk).
_REPOSITORY_MARKS = ("_manifests", "_layers", "_uploads")


def _listed(store: Store, path: str, prefix: str = "") -> Iterator[tuple[str, tuple[str, int, str | None]]]:
    """``(path, (kind, size, etag))`` of every object under ``path`` (whose name below it starts with
    ``prefix``): on S3 a page of 1000 keys at a time, so that a long listing is never held whole
    (s3fs's ``find`` builds every key's info dict before it returns); elsewhere one ``find``."""
    if not (store.http_counted and hasattr(store.fs, "_call_s3")):
        yield from store.find(path, prefix).items()
        return
    bucket, _, key = path.partition("/")
    kwargs = {"Bucket": bucket, "Prefix": f"{key}/{prefix}" if key else prefix}
    while True:
        with store.translate_errors("list", path):
            page = store.call("call_s3", "list_objects_v2", **kwargs)
        for c in page.get("Contents") or ():
            etag = c.get("ETag")
            yield (f"{bucket}/{c['Key']}",
                   ("file", int(c.get("Size") or 0), etag.strip('"').lower() if isinstance(etag, str) else None))
        if not page.get("IsTruncated") or not page.get("NextContinuationToken"):
            return
        kwargs["ContinuationToken"] = page["NextContinuationToken"]


def _streamed_blob_sizes(store: Store, v2: str, problems: list[str]) -> dict[str, int]:
    """digest -> size of every ``blobs/<alg>/<xx>/<hex>/data``, from concurrent flat listings; a blob
    folder without its data file is a problem said (as ``storage._listed_blob_sizes`` says it)."""
    jobs = []
    for alg, kind in sorted(store.list_dir(f"{v2}/blobs") or []):
        if kind == "directory":
            # 16 listings by the digest's first hex digit, run concurrently, instead of one long
            # sequential pagination over every blob.
            jobs.extend((alg, c) for c in ("0123456789abcdef" if store.can_prefix else [""]))

    def shard(job) -> list[tuple[str, str, str, int | None]]:
        alg, first = job
        base = f"{v2}/blobs/{alg}/"
        found: dict[tuple[str, str], int | None] = {}
        for name, (kind, size, _) in _listed(store, base.rstrip("/"), first):
            parts = name[len(base):].split("/") if name.startswith(base) else []
            if len(parts) < 2 or len(parts) == 2 and kind != "directory":
                continue  # not below a blob's folder
            if len(parts) == 3 and parts[2] == "data" and kind not in ("directory", "link"):
                found[parts[0], parts[1]] = size
            else:
                found.setdefault((parts[0], parts[1]), None)
        return [(alg, xx, name, size) for (xx, name), size in found.items()]

    blobs = []
    for part in store.map(shard, jobs, f"listing {store.url} blobs", "listings", min_items=1):
        blobs.extend(part)
    blobs.sort()
    sizes: dict[str, int] = {}
    for alg, _, name, size in blobs:
        if size is not None:
            sizes[_intern(f"{alg}:{name}")] = size
        else:
            problems.append(_no_data_file(f"{alg}:{name}"))
    return sizes


def _parts(store: Store, v2: str) -> list[tuple[str, tuple[str, ...]]]:
    """The parts of ``repositories/`` in distribution's walk order: (folder below v2, the underscore
    folders to list in it — empty: list the whole folder)."""
    tops = sorted(name for name, kind in store.list_dir(f"{v2}/repositories") or []
                  if kind == "directory" and not name.startswith("_"))
    entries = store.map(lambda top: store.list_dir(f"{v2}/repositories/{top}") or [], tops,
                        f"listing {store.url} repositories", "folders", min_items=1)
    parts = []
    for top, below in zip(tops, entries):
        folders = sorted(name for name, kind in below if kind == "directory")
        own = tuple(name for name in folders if name in _REPOSITORY_MARKS)
        if own:
            parts.append((f"repositories/{top}", own))
        parts.extend((f"repositories/{top}/{name}", ()) for name in folders if not name.startswith("_"))
    return parts


def _streamed_repositories(store: Store, v2: str, blob_sizes: dict[str, int]) -> Iterator[RepoData]:
    """RepoData of every repository in distribution's walk order, each part listed and read on the
    store's pool a bounded window ahead of the caller, and dropped once handed over."""
    parts = _parts(store, v2)
    infos: dict = {}  # manifests read so far (a manifest pushed to several repositories is read once)

    inflight: dict[str, Future] = {}
    lock = threading.Lock()

    def serial(fn, items):  # within a part: the pool's concurrency is across parts
        return [fn(item) for item in items]

    def read_once(fn, digests):
        """Each manifest read once, even when two parts that name it are read at the same time: the
        first claims it and reads it at once (so no claim is held while waiting), the other waits."""
        out = []
        for d in digests:
            with lock:
                mine = d not in infos and d not in inflight
                if mine:
                    inflight[d] = Future()
                claim = inflight.get(d)
            if mine:
                try:
                    info = fn(d)
                except BaseException as e:
                    with lock:
                        inflight.pop(d)
                    claim.set_exception(e)
                    raise
                with lock:
                    infos[d] = info
                    inflight.pop(d)
                claim.set_result(info)
            elif claim is not None:
                info = claim.result()
            else:
                info = infos[d]
            out.append(info)
        return out

    def read(part) -> list[RepoData]:
        folder, own = part
        tree = Listing({}, {"blobs", "repositories"}, {})
        if not own:
            tree.merge(v2, _listed(store, f"{v2}/{folder}"))
        elif store.can_prefix:  # the folder's own _manifests, _layers, _uploads in one listing
            tree.merge(v2, _listed(store, f"{v2}/{folder}", "_"))
        else:
            for name in own:
                tree.merge(v2, _listed(store, f"{v2}/{folder}/{name}"))
        tree.finish()
        links = _read_links(store, v2, tree, serial)
        return list(_listed_repositories(store, v2, tree, links, blob_sizes, read_once, infos))

    workers = max(1, store.max_workers)
    for repos in _read_ahead(read, parts, workers, 4 * workers, f"reading {store.url} repositories", "folders",
                             store.progress):
        yield from repos


# -- a local storage scanned in C (_storagescan.c) ------------------------------------------------

#: What _storagescan's codes say a leaf is, for messages (blob data that is not a regular file).
_ODD_CODES = {"l": "symlink", "p": "FIFO", "s": "socket", "c": "device", "o": "other"}
_TEXT = 2  # _storagescan.scan's read mode giving a file's text, decoded and stripped


class _LocalScan:
    """A local storage read folder by folder: the blob shards and, at the same time, each repository,
    on a few threads (the C scanner releases the GIL), repositories streamed in distribution's walk
    order so that only a few are held at once."""

    def __init__(self, store: Store, v2: str, problems: list[str]):
        from .._reader import check_inside, open_noatime

        self.store, self.v2, self.problems = store, v2, problems
        check_inside(v2)
        self.fd = open_noatime(v2, os.O_RDONLY | os.O_DIRECTORY)
        self.lock = threading.Lock()

    def close(self) -> None:
        os.close(self.fd)

    def _symlink(self, rel: str, into: list[str] | None = None) -> None:
        path = f"{self.v2}/{rel}"
        with self.lock:
            (self.problems if into is None else into).append(
                outside_root(path) or f"{path} is a symbolic link (distribution writes none); not followed")

    def _called(self, fn, rel: str, into: list[str] | None, *args):
        """``fn(dirfd, rel, *args)`` (one of _storagescan's) below v2, counted as a listing; None when
        ``rel`` is missing or a symbolic link (a problem said, never followed)."""
        self.store.counts.add("LIST")
        try:
            return fn(self.fd, os.fsencode(rel), *args)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.EXDEV, errno.ENOTDIR):
                self._symlink(rel, into)
                return None
            if e.errno in (errno.EACCES, errno.EPERM):
                raise DataRootPermissionError(f"cannot read {self.v2}/{rel}; run as a user who can read the "
                                              "registry storage", path=f"{self.v2}/{rel}") from None
            raise

    def scan(self, rel: str, depth: int, leaf: bytes, read: int, into: list[str] | None = None) -> list:
        """_storagescan.scan below v2, counted (a listing per call, a GET per file read, a HEAD per
        file only stat'ed); a folder that is a symbolic link is a problem said (in ``into``, else the
        audit's problems), never followed."""
        from ._storagescan import scan

        counts = self.store.counts
        found = self._called(scan, rel, into, depth, leaf, int(read), MANIFEST_LIMIT)
        if found is None:
            return []
        files = sum(1 for _, code, _ in found if code == "f")
        counts.add("GET" if read else "HEAD", files)
        for name, code, _ in found:
            if code == "L":  # a folder on the way
                self._symlink(f"{rel}/{name}", into)
            elif code == "l":  # the leaf itself (or a folder between it and its folder): never followed
                self._symlink("/".join(p for p in (rel, name, os.fsdecode(leaf)) if p), into)
        return found

    def _entries(self, rel: str, into: list[str] | None = None) -> list[tuple[str, bool, bool]] | None:
        """(name, is a folder, is a symbolic link) of the folder ``rel`` below v2, sorted; None if missing."""
        self.store.counts.add("LIST")
        try:
            fd = open_beneath(self.fd, rel.split("/"))
        except FileNotFoundError:
            return None
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR):
                self._symlink(rel, into)
                return None
            raise
        try:
            with os.scandir(fd) as it:
                return sorted((e.name, e.is_dir(follow_symlinks=False), e.is_symlink()) for e in it)
        finally:
            os.close(fd)

    def blob_sizes(self, problems: list[str]) -> dict[str, int]:
        """digest -> size of every ``blobs/<alg>/<xx>/<hex>/data``, shards listed concurrently; what
        is wrong with them said in ``problems`` (the walk runs beside the repositories' reads)."""
        shards = []
        for alg, is_dir, link in self._entries("blobs", problems) or []:
            if link:
                self._symlink(f"blobs/{alg}", problems)
            elif is_dir:
                for xx, sub, sublink in self._entries(f"blobs/{alg}", problems) or []:
                    if sublink:
                        self._symlink(f"blobs/{alg}/{xx}", problems)
                    elif sub:
                        shards.append((alg, f"blobs/{alg}/{xx}"))
        sizes: dict[str, int] = {}
        for (alg, rel), found in zip(shards, self.store.map(lambda s: self.scan(s[1], 1, b"data", False, problems),
                                                            shards, f"listing {self.store.url}", "folders",
                                                            threads=True)):
            for name, code, size in sorted(found):
                digest = _intern(f"{alg}:{name}")
                if code == "f":
                    sizes[digest] = size
                elif code in _ODD_CODES:  # never followed or read: left out, and said
                    problems.append(_odd_data(digest, _ODD_CODES[code]))
                elif code != "L":
                    problems.append(_no_data_file(digest))
        return sizes

    def repositories(self) -> list[tuple[str, str, set[str]]]:
        """(name, folder below v2, its underscore folders) in distribution's walk order."""
        out = []

        def walk(rel: str, prefix: str) -> None:
            for entry, is_dir, link in self._entries(rel) or []:
                if entry.startswith("_") or not is_dir:
                    if link and not entry.startswith("_"):
                        self._symlink(f"{rel}/{entry}")
                    continue
                path = f"{rel}/{entry}"
                below = self._entries(path) or []
                marks = {n for n, d, _ in below if d and n in ("_manifests", "_layers", "_uploads")}
                for n, _, link in below:
                    if link and n in ("_manifests", "_layers", "_uploads"):
                        self._symlink(f"{path}/{n}")
                if marks:
                    out.append((prefix + entry, path, marks))
                walk(path, prefix + entry + "/")

        walk("repositories", "")
        return out

    def read_repository(self, repo: tuple[str, str, set[str]], known: dict) -> RepoData:
        name, path, marks = repo
        tags, history = [], {}
        revisions: list[str] = []
        if "_manifests" in marks:
            for tag, code, value in sorted(self.scan(f"{path}/_manifests/tags", 1, b"current/link", _TEXT)):
                if code == "L":
                    continue
                digest = None if code in ("m", "D") else (value if code == "f" else "")
                tags.append((tag, digest))
                history[tag] = []
            if tags:
                self._history(f"{path}/_manifests/tags", history)
            revisions = self._links(f"{path}/_manifests/revisions")
        layers = self._links(f"{path}/_layers") if "_layers" in marks else []
        uploads = sum(1 for _, d, _ in self._entries(f"{path}/_uploads") or [] if d) if "_uploads" in marks else 0
        # Each manifest read before the blobs' sizes are known (they are walked meanwhile): one whose
        # blob is missing is simply not found, one above the limit not read (the C reader checks its
        # size first); the reads are counted once the sizes are known (_audit). Only a revision
        # naming a plain blob path is tried (text from a link: never a path of its own).
        wanted = [d for d in dict.fromkeys(revisions) if d not in known]
        plain = [d for d in wanted if _plain_digest(d)]
        if plain:
            from ._storagescan import read

            bodies = read(self.fd, [os.fsencode(_blob_path(d)) for d in plain], MANIFEST_LIMIT)
            for d, (code, body) in zip(plain, bodies):
                known[d] = _manifest_info(body if code == "f" else None)
        for d in wanted:
            known.setdefault(d, None)
        infos = {d: known.get(d) for d in revisions}  # the audit keeps those whose blob exists
        return RepoData(name, "_manifests" in marks, tags, history, revisions, layers, uploads, infos)

    def _history(self, rel: str, history: dict[str, list[str]]) -> None:
        """Each tag's history (``<tag>/index/<alg>/<hex>/link`` below ``rel``, the tags folder), in one
        scan of the whole folder rather than one per tag: names, not contents (GC reads none), of links
        that are not empty. Symbolic links are said only below an index (a tag's folder or its
        current link that is one was said by the scan of the current links)."""
        from ._storagescan import scan

        counts = self.store.counts
        counts.add("LIST")
        try:
            found = scan(self.fd, os.fsencode(rel), 4, b"link", 0, MANIFEST_LIMIT, b"*/index/*/*")
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.EXDEV, errno.ENOTDIR):
                return  # the tags folder itself: said by the scan of the current links
            raise
        files = 0
        for name, code, size in sorted(found or ()):
            parts = name.split("/")
            if parts[0] not in history:  # a tag whose folder is a symbolic link: said, not walked
                continue
            if code == "f":
                files += 1
                if size > 0 and len(parts) == 4:
                    history[parts[0]].append(_intern(f"{parts[2]}:{parts[3]}"))
            elif code == "L":
                self._symlink(f"{rel}/{name}")
            elif code == "l":
                self._symlink(f"{rel}/{name}/link")
        counts.add("HEAD", files)

    def _links(self, rel: str) -> list[str]:
        """What each ``<alg>/<hex>/link`` under ``rel`` holds, in path order (files only: a symbolic
        link, a FIFO or an empty link names nothing, as when listed). Sorted and kept in C (the
        texts interned there); names that are not ASCII are sorted here, as Python orders them."""
        from ._storagescan import links

        found = self._called(links, rel, None, MANIFEST_LIMIT)
        if found is None:
            return []
        texts, files, odd = found
        if texts is None:  # scanned again, counted and said by scan()
            self.store.counts.add("LIST", -1)
            return [_intern(text) for _, code, text in sorted(self.scan(rel, 2, b"link", _TEXT))
                    if code == "f" and text]
        self.store.counts.add("GET", files)
        for name, code in odd:
            self._symlink(f"{rel}/{name}" if code == "L" else f"{rel}/{name}/link")
        return texts



def _plain_digest(digest: str) -> bool:
    """Whether ``blobs/<alg>/<xx>/<hex>/data`` made of ``digest`` is a path of plain names below v2."""
    alg, _, hexpart = digest.partition(":")
    return bool(alg and hexpart) and "/" not in digest and "\0" not in digest and alg not in (".", "..") \
        and hexpart not in (".", "..") and hexpart[:2] not in (".", "..")


def _scanned_repositories(scan: _LocalScan, known: dict, progress: bool | None):
    """RepoData of each repository, read on a pool a bounded window ahead of the caller."""
    repos = scan.repositories()
    # One thread more than the cores: a reader holds the GIL for its Python part (sorting, parsing a
    # manifest) while the others' system calls, in C without it, keep the cores busy.
    workers = max(1, min(scan.store.max_workers, LOCAL_WORKERS + 1))
    yield from _read_ahead(lambda repo: scan.read_repository(repo, known), repos, workers, 8 * workers,
                           "reading repositories", "repositories", progress)


def _scanner_available() -> bool:
    try:
        from . import _storagescan  # noqa: F401 - built with the package (setup.py); optional
    except ImportError:
        return False
    return True


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
    return _audit(store, v2)


def _audit(store: Store, v2: str) -> StorageAudit:
    problems: list[str] = []
    if not store.object_store and _scanner_available():
        scan = _LocalScan(store, v2, problems)
        collecting = gc.isenabled()
        # A million small objects and no cycles among them: the cycle collector would rescan the heap
        # again and again while they are made (a fifth of the audit's time at full size), for nothing.
        gc.disable()
        try:
            # The blobs are walked while the repositories are listed and the first of them read.
            blob_problems: list[str] = []
            with ThreadPoolExecutor(max_workers=1) as early:
                sizing = early.submit(scan.blob_sizes, blob_problems)
                known: dict = {}  # manifest digest -> its info, read once whichever repository names it
                repos = _scanned_repositories(scan, known, store.progress)
                first = next(repos, None)
                blob_sizes = sizing.result()
            plans, frames = _decide(chain([first] if first is not None else [], repos), blob_sizes, problems)
            problems[:0] = blob_problems  # said first, as when the blobs were walked first
            # a GET per manifest whose blob the walk found small enough to read (as the listed path counts)
            store.counts.add("GET", sum(1 for d in known if blob_sizes.get(d, MANIFEST_LIMIT + 1) <= MANIFEST_LIMIT))
        finally:
            scan.close()
            if collecting:
                gc.enable()
    elif store.object_store:  # streamed part by part (_streamed_repositories)
        blob_sizes = _streamed_blob_sizes(store, v2, problems)
        plans, frames = _decide(_streamed_repositories(store, v2, blob_sizes), blob_sizes, problems)
    else:
        tree = Listing.read(store, v2)
        links = _read_links(store, v2, tree)
        problems += [outside_root(link) or f"{link} is a symbolic link (distribution writes none); not followed"
                     for link in tree.links]
        blob_sizes = _listed_blob_sizes(tree, problems)
        plans, frames = _decide(_listed_repositories(store, v2, tree, links, blob_sizes), blob_sizes, problems)
        del tree, links
    return StorageAudit(
        root=store.url + v2[len(store.root):] if store.object_store else Path(v2),
        requests=store.counts.to_dict(), cost_usd=store.cost_usd(), **frames,
        gc=plans[False], gc_untagged=plans[True], problems=problems,
    )


def _no_data_file(digest: str) -> str:
    return (f"blob {digest} has no data file (an interrupted upload or a damaged store); garbage-collect "
            "does not see it, and neither does this audit")


def _odd_data(digest: str, kind: str) -> str:
    return (f"blob {digest}: its data is a {kind}, not a file; layerlab does not follow or read it, so the "
            "blob is left out of every figure (the storage is damaged or was tampered with)")


def _listed_blob_sizes(tree: Listing, problems: list[str]) -> dict[str, int]:
    """Blobs: distribution enumerates data files under blobs/<alg>/<xx>/<hex>/data; sizes from the listing."""
    blob_sizes: dict[str, int] = {}
    for alg, alg_path in tree.subdirs("blobs"):
        for _, shard_path in tree.subdirs(alg_path):
            for name, path in tree.subdirs(shard_path):
                size = tree.files.get(f"{path}/data")
                if size is not None:
                    blob_sizes[_intern(f"{alg}:{name}")] = size
                elif f"{path}/data" in tree.odd:  # never followed or read: left out, and said
                    problems.append(_odd_data(f"{alg}:{name}", tree.odd[f"{path}/data"]))
                else:
                    problems.append(_no_data_file(f"{alg}:{name}"))
    return blob_sizes


def _decide(repos, blob_sizes: dict[str, int], problems: list[str]) -> tuple[dict, dict]:
    """distribution 2.8's mark and sweep over ``repos`` (RepoData in its walk order), and the frames.

    Each repository is dropped once judged: what is kept is the mark sets, a kind and the linking
    repositories per blob, and the frames' columns."""
    tag_rows: list[tuple] = []  # (repository, tag, digest, current): tuples, made columns at the end
    man_rows: list[tuple] = []
    link_rows: list[tuple] = []
    repo_rows: list[tuple] = []
    kinds: dict[str, str] = {}
    revision_types: dict[str, str] = {}
    linked_by: dict[str, object] = {}  # digest -> a repository, or a set of them once several link it
    marks = {False: set(), True: set()}  # delete_untagged -> mark set
    plain_marks, untagged_marks = marks[False], marks[True]
    gc_untagged_error = None
    manifest_deletes = {False: [], True: []}
    link_deletes = {False: [], True: []}
    unreadable: set[str] = set()

    def link(digest: str, repo: str) -> None:
        held = linked_by.get(digest)
        if held is None:
            linked_by[digest] = repo
        elif isinstance(held, set):
            held.add(repo)
        elif held != repo:
            linked_by[digest] = {held, repo}

    for rd in repos:
        repo = rd.name
        # Tags and their history.
        current: dict[str, str] = {}
        for tag, digest in rd.tags:
            if digest is not None and not is_digest(digest):
                # distribution's tag lookup parses every tag link: --delete-untagged stops at this one
                # (plain garbage-collect never reads tags)
                message = (f"failed to retrieve tags for digest of {repo}: tag {tag}'s link holds "
                           f"{digest[:80]!r}: invalid checksum digest format")
                gc_untagged_error = gc_untagged_error or message
                problems.append(f"{message}; `garbage-collect --delete-untagged` stops here and deletes nothing")
                digest = None
            if digest:
                digest = _intern(digest)
                current[tag] = digest
                tag_rows.append((repo, tag, digest, True))
            for d in rd.history.get(tag, ()):
                if d != digest:
                    tag_rows.append((repo, tag, d, False))
        tags_of: dict[str, list[str]] = {}
        for tag, digest in current.items():
            tags_of.setdefault(digest, []).append(tag)

        # Manifest revisions: the link's content names the blob; a missing blob is skipped, as by GC.
        revisions = rd.revisions
        present = [d for d in revisions if d in blob_sizes]
        for d in revisions:
            if d not in blob_sizes:
                problems.append(f"{repo}: revision {d} links to a blob that does not exist")
        info = {}
        for d in present:
            got = rd.infos.get(d)
            if got is None and d not in unreadable:
                unreadable.add(d)
                problems.append(f"manifest {d} cannot be read as JSON; garbage-collect would stop here")
            info[d] = got if got is not None else (None, [], None)
            link(d, repo)
        referenced_by: dict[str, list[str]] = {}
        for d, (mt, refs, _) in info.items():
            if mt in INDEX_TYPES:
                for child in refs:
                    referenced_by.setdefault(child, []).append(d)

        doomed_manifests = set()
        for d in present:
            # Both modes' marks in one pass. A reference that is empty or null is marked too: it names
            # no blob and no link, so it changes nothing (and saves filtering every list).
            refs = info[d][1]
            for mark in (plain_marks, untagged_marks) if d in tags_of else (plain_marks,):
                mark.add(d)
                try:
                    mark.update(refs)
                except TypeError:  # an unhashable reference ([] or {} in a damaged manifest)
                    mark.update(r for r in refs if r)
            if d not in tags_of:
                manifest_deletes[True].append((repo, d))
                doomed_manifests.add(d)

        # Layer links, judged against the mark set as it stands after this repository (GC's order).
        for content in rd.layers:
            link(content, repo)
            exists = content in blob_sizes
            judged = rd.has_manifests and exists
            plain = judged and content not in marks[False]
            untagged = judged and content not in marks[True]
            if plain:
                link_deletes[False].append((repo, content))
            if untagged:
                link_deletes[True].append((repo, content))
            link_rows.append((repo, content, exists, plain, untagged))

        for d in revisions:
            mt, refs, config = info.get(d, (None, [], None))
            for r in refs:
                if r and r not in kinds:
                    kinds[r] = "config" if r == config else ("manifest" if mt in INDEX_TYPES else "layer")
            if mt:
                revision_types[d] = "index" if mt in INDEX_TYPES else "manifest"
            man_rows.append((repo, d, mt, blob_sizes.get(d), sorted(tags_of.get(d, [])),
                             sorted(referenced_by.get(d, [])), config,
                             len(refs) - (1 if config else 0) if mt else None, d in doomed_manifests))
        repo_rows.append((repo, len(current), len(revisions), sum(1 for d in revisions if d not in tags_of),
                          len(rd.layers), rd.uploads))

    plans = {}
    for untagged_mode in (False, True):
        doomed = [d for d in blob_sizes if d not in marks[untagged_mode]]
        plans[untagged_mode] = GcPlan(sorted(doomed), sum(blob_sizes[d] for d in doomed),
                                      manifest_deletes[untagged_mode], link_deletes[untagged_mode])
    man_cols = _columns(man_rows, ("repository", "digest", "media_type", "size", "tags", "referenced_by",
                                   "config_digest", "layer_count", "gc_untagged"))
    link_cols = _columns(link_rows, ("repository", "digest", "blob_exists", "gc", "gc_untagged"))
    del man_rows, link_rows
    if gc_untagged_error:  # GC fails in its mark phase: its sweep never runs
        plans[True] = GcPlan([], 0, error=gc_untagged_error)
        man_cols["gc_untagged"] = [False] * len(man_cols["gc_untagged"])
        link_cols["gc_untagged"] = [False] * len(link_cols["gc_untagged"])
    gc_set, gcu_set = set(plans[False].blobs), set(plans[True].blobs)
    blob_cols = {"digest": list(blob_sizes), "size": list(blob_sizes.values())}
    blob_cols["kind"] = [revision_types.get(d) or kinds.get(d) or "unreferenced" for d in blob_cols["digest"]]
    blob_cols["repositories"] = [sorted(held) if isinstance(held, set) else [held] if held else []
                                 for held in map(linked_by.get, blob_cols["digest"])]
    blob_cols["gc"] = [d in gc_set for d in blob_cols["digest"]]
    blob_cols["gc_untagged"] = [d in gcu_set for d in blob_cols["digest"]]

    def frame(cols, kind):
        return coerce(_typed(cols, kind), kind) if next(iter(cols.values())) else empty(kind)

    repo_cols = _columns(repo_rows, ("repository", "tag_count", "manifest_count", "untagged_count", "layer_link_count",
                                     "upload_count"))
    tag_cols = _columns(tag_rows, ("repository", "tag", "digest", "current"))
    return plans, {"repositories": frame(repo_cols, "storage_repositories"), "tags": frame(tag_cols, "storage_tags"),
                   "manifests": frame(man_cols, "storage_manifests"),
                   "layer_links": frame(link_cols, "storage_layer_links"),
                   "blobs": frame(blob_cols, "storage_blobs")}


def _typed(cols: dict[str, list], kind: str) -> pd.DataFrame:
    """Lists made the contract's columns directly (strings through Arrow, numbers through numpy), so
    that ``coerce`` has nothing left to cast: a frame of lists is inferred first (pandas' str) and cast
    again, twice the work on half a million rows."""
    import numpy as np
    import pyarrow as pa

    from ...frames.schema import BOOL, FRAMES, INT, STRING

    out = {}
    for column in FRAMES[kind]:
        values = cols[column.name]
        if column.logical == STRING:
            out[column.name] = pd.Series(pd.array(pa.array(values, type=pa.large_string()), dtype="string"),
                                         copy=False)
        elif column.logical in (INT, BOOL):
            out[column.name] = pd.Series(np.array(values, dtype=column.logical), copy=False)
        else:
            out[column.name] = pd.Series(values, dtype=column.pandas_dtype())
    return pd.DataFrame(out, copy=False)


def _columns(rows: list[tuple], names: tuple[str, ...]) -> dict[str, list]:
    """Rows as tuples, made columns (a tuple per row costs less than a dict, and appends one call)."""
    columns = [list(c) for c in zip(*rows)] if rows else [[] for _ in names]
    return dict(zip(names, columns))
