"""The storage audit on an object store (s3, or another fsspec store), streamed repository by repository.

A listing of the whole bucket held at once costs about 2.3 GB at 950,000 keys (a path string, a size
and an ETag per key, and the directories made from them). Here only what the mark and sweep needs
outlives a listing: the blobs' digest -> size, from 16 concurrent flat listings of ``blobs/<alg>/``
(by the digest's first hex digit) read page by page, and then each repository's keys, listed and
judged one part of ``repositories/`` at a time:

- ``repositories/`` and each of its folders are listed with a delimiter (one LIST each, concurrently);
- a part is a folder two levels down (``repositories/<team>/<name>/``, a repository and any nested
  below it) listed flat, or a top folder's own ``_manifests``/``_layers``/``_uploads`` (a one-level
  repository name); parts are read on the store's pool a bounded window ahead of the mark and
  sweep, and handed to it in distribution's walk order (the order its layer-link deletions depend on);
- within a part, the links and manifests are read as before (``storage._read_links``,
  ``storage._listed_repositories``): a link named by its ETag needs no GET.

Nothing is written anywhere: a killed run leaves nothing behind.
"""

from __future__ import annotations

from collections import deque
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Iterator

from .storage import Listing, RepoData, _intern, _listed_repositories, _read_links
from .stores import Store

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


def listed_blob_sizes(store: Store, v2: str, problems: list[str]) -> dict[str, int]:
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
        return sorted((alg, xx, name, size) for (xx, name), size in found.items())

    blobs = []
    for part in store.map(shard, jobs, f"listing {store.url} blobs", "listings", min_items=1):
        blobs.extend(part)
    blobs.sort()
    sizes: dict[str, int] = {}
    for alg, _, name, size in blobs:
        if size is not None:
            sizes[_intern(f"{alg}:{name}")] = size
        else:
            problems.append(f"blob {alg}:{name} has no data file (an interrupted upload or a damaged "
                            "store); garbage-collect does not see it, and neither does this audit")
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


def streamed_repositories(store: Store, v2: str, blob_sizes: dict[str, int]) -> Iterator[RepoData]:
    """RepoData of every repository in distribution's walk order, each part listed and read on the
    store's pool a bounded window ahead of the caller, and dropped once handed over."""
    from ...display import progress_bar

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
    window = 4 * workers  # read ahead of the mark and sweep, never the whole storage at once
    with ThreadPoolExecutor(max_workers=workers) as pool, \
            progress_bar(total=len(parts), desc=f"reading {store.url} repositories", unit="folders", leave=False,
                         progress=store.progress, skip=store.progress is None and len(parts) < 200, delay=1) as bar:
        pending: deque = deque()
        try:
            for part in parts:
                pending.append(pool.submit(read, part))
                if len(pending) >= window:
                    yield from pending.popleft().result()
                    bar.update()
            while pending:
                yield from pending.popleft().result()
                bar.update()
        finally:
            for future in pending:  # stopped early (an error, Ctrl-C): nothing more is started
                future.cancel()
