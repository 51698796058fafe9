"""Where a registry's storage lives: a local directory or an object store, read through fsspec.

The storage audit (``storage.py``) reads listings of the tree and the small files
it needs (links, manifests) through a :class:`Store`, so the same code audits distribution's
``filesystem`` driver (fsspec's local filesystem) and its ``s3`` driver (s3fs), and is reachable for
any other fsspec backend (``gs://``, ``az://``, …) whose key layout is distribution's.

On an object store every request costs money and time, so the tree is listed with flat, paginated
listings (1000 keys per LIST) run concurrently over a bounded pool, blob sizes come from the
listing, and every HTTP request is counted by method and kind (LIST, GET, HEAD) with botocore's
event hooks. Nothing is ever written: the store is only listed and read.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import urlsplit

from ...errors import DataRootPermissionError, NotADataRoot, StorageAuthError, StorageError
from .._reader import check_inside, confine, read_bytes, scandir
from .deadline import network_deadline

#: distribution refuses manifests above 4 MiB; a link or manifest file larger than this is not one.
MANIFEST_LIMIT = 4 << 20

#: S3 Standard request prices (USD per 1000 requests, us-east-1, 2024): LIST is billed like PUT.
S3_PRICES = {"LIST": 0.005, "GET": 0.0004, "HEAD": 0.0004, "other": 0.005}

#: Bounded pool for concurrent listings and reads.
MAX_WORKERS = 16
#: Threads for a local storage scanned in C: the work is system calls on the page cache, so more
#: threads than cores only add switching.
LOCAL_WORKERS = max(1, min(4, os.cpu_count() or 1))


@dataclass
class RequestCounts:
    """Requests an audit made, by kind: HTTP requests on S3 (retries included); on other stores
    each listing call (which may be several pages) and each file read counts once."""

    LIST: int = 0
    GET: int = 0
    HEAD: int = 0
    other: int = 0  # anything else (PUT, POST, DELETE): always 0 for a read-only audit
    retries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, kind: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, kind, getattr(self, kind) + n)

    @property
    def total(self) -> int:
        return self.LIST + self.GET + self.HEAD + self.other

    def to_dict(self) -> dict:
        return {"LIST": self.LIST, "GET": self.GET, "HEAD": self.HEAD, "other": self.other,
                "retries": self.retries, "total": self.total}


@dataclass
class Store:
    """An fsspec filesystem, the registry root in it, and what reading it has cost so far."""

    fs: object  # fsspec.AbstractFileSystem
    root: str  # path inside ``fs`` (``bucket/prefix`` for s3)
    url: str  # how to show it: a local path or s3://bucket/prefix
    object_store: bool
    counts: RequestCounts = field(default_factory=RequestCounts)
    max_workers: int = MAX_WORKERS
    progress: bool | None = None
    retries: int = 5  # attempts per request on an object store
    http_counted: bool = False  # requests counted at the HTTP level (s3); else each call counts once
    endpoint: str | None = None  # an S3-compatible endpoint; None for AWS
    deadline: float | None = None  # seconds an object store call may go without an answer (None: the default)
    max_pages: int = 10_000  # pages of one listing (1000 keys each) before it is refused as endless
    last_answer: float = 0.0  # monotonic time of the object store's latest answer
    listing_problem: str | None = None  # set when a listing is found endless (pages going round)

    def call(self, name: str, *args, **kwargs):
        """``fs.<name>(*args, **kwargs)`` on an object store, with an overall deadline: it fails (a
        StorageError naming the cause) when the store stays silent for ``deadline`` seconds, or a
        listing goes round or past ``max_pages`` pages. botocore's timeouts bound each read only,
        and its retries multiply them (a silent endpoint held a call for 199 s)."""
        method = getattr(self.fs, "_" + name, None)
        # Only where answers are seen (s3's event hooks), so a long listing that keeps answering is never cut.
        if not self.http_counted or not getattr(self.fs, "async_impl", False) or method is None:
            return getattr(self.fs, name)(*args, **kwargs)
        from fsspec.asyn import sync

        return sync(self.fs.loop, self._guarded, method, args, kwargs)

    async def _guarded(self, method, args, kwargs):
        import asyncio
        import time

        seconds = self.deadline or network_deadline()
        started = time.monotonic()
        task = asyncio.ensure_future(method(*args, **kwargs))
        while True:
            done, _ = await asyncio.wait({task}, timeout=0.25)
            if done:
                return task.result()
            quiet = time.monotonic() - max(started, self.last_answer)
            problem = self.listing_problem
            if problem is None and quiet > seconds:
                problem = (f"{self.url}: the object store {_endpoint(self)} did not answer within {seconds:g} s; "
                           "check the endpoint (AWS_ENDPOINT_URL / the config's regionendpoint) and that it is up "
                           "(LAYERLAB_NETWORK_DEADLINE sets the deadline)")
            if problem is not None:
                task.cancel()
                raise StorageError(problem, path=self.url)

    @property
    def can_prefix(self) -> bool:
        """Whether ``find`` can list only the keys under a path that start with a prefix (s3fs, gcsfs)."""
        import inspect

        return self.object_store and "prefix" in inspect.signature(self.fs.find).parameters

    def cost_usd(self) -> float | None:
        """Estimated request cost at S3 Standard prices (None unless the requests were counted on S3)."""
        if not self.http_counted:
            return None
        c = self.counts
        return sum(getattr(c, k) * p / 1000 for k, p in S3_PRICES.items())

    # -- reading, with local errors and object-store errors turned into layerlab's -------------
    def translate_errors(self, what: str, path: str) -> "_ErrorMap":
        """A context that turns what one operation raises into layerlab errors (see _ErrorMap)."""
        return _ErrorMap(self, what, path)

    def is_link(self, path: str) -> bool:
        """Whether ``path`` is a symbolic link (local storage; an object store has none)."""
        return not self.object_store and os.path.islink(path)

    def list_dir(self, path: str) -> list[tuple[str, str]] | None:
        """(name, type) of the entries of ``path`` (``link``: a symbolic link, local storage only, never
        followed); None when it does not exist."""
        with self.translate_errors("list", path):
            if not self.http_counted:
                self.counts.add("LIST")
            if not self.object_store:  # local: listed without touching the folder's access time
                try:
                    with scandir(path) as it:
                        return [(e.name, "directory" if e.is_dir(follow_symlinks=False) else
                                 "link" if e.is_symlink() else "file") for e in it]
                except (FileNotFoundError, NotADirectoryError):
                    return None
            try:
                entries = self.call("ls", path, detail=True)
            except FileNotFoundError:
                return None
            return [(e["name"].rstrip("/").rsplit("/", 1)[-1], e["type"]) for e in entries]

    def find(self, path: str, prefix: str = "") -> dict[str, tuple[str, int, str | None]]:
        """Every file and directory under ``path`` (whose name starts with ``prefix`` on an object
        store): ``{path: (type, size, etag)}``, one flat, paginated listing. ``etag`` is the object
        store's ETag without quotes (S3: the MD5 of a single-part object's bytes), None locally."""
        with self.translate_errors("list", path):
            if not self.http_counted:
                self.counts.add("LIST")
            if prefix:
                found = self.call("find", path, withdirs=True, detail=True, prefix=prefix)
            elif self.object_store:
                found = self.call("find", path, withdirs=True, detail=True)
            else:
                return _walk_local(path)
        return {name.rstrip("/"): (info["type"], int(info.get("size") or 0), _etag(info))
                for name, info in found.items()}

    def read(self, path: str) -> bytes | None:
        """A file's bytes; None when it does not exist (any more)."""
        with self.translate_errors("read", path):
            if not self.http_counted:
                self.counts.add("GET")
            try:
                if not self.object_store:  # local: regular files only, capped, no access time touched
                    return read_bytes(path, MANIFEST_LIMIT)
                return self.call("cat_file", path)
            except FileNotFoundError:
                return None

    def map(self, fn: Callable, items: Iterable, desc: str, unit: str, min_items: int = 200,
            threads: bool | None = None) -> list:
        """``fn`` over ``items`` on the bounded pool (order kept), with a progress bar when
        ``progress`` is True, or None and there are at least ``min_items``. ``threads``: on a pool
        (None: on an object store only; a local ``fn`` in C that releases the GIL gains from one)."""
        from ...display import progress_bar

        items = list(items)
        if not items:
            return []
        bar = dict(total=len(items), desc=desc, unit=unit, leave=False, progress=self.progress,
                   skip=self.progress is None and len(items) < min_items)
        if not (self.object_store if threads is None else threads):
            # Local reads in Python come from the page cache: threads would only add their overhead (GIL).
            return list(progress_bar(map(fn, items), delay=1, **bar))
        workers = self.max_workers if self.object_store else min(self.max_workers, LOCAL_WORKERS)
        with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
            return list(progress_bar(pool.map(fn, items), **bar))


def _etag(info: dict) -> str | None:
    tag = info.get("ETag") or info.get("etag")
    return tag.strip('"').lower() if isinstance(tag, str) else None


def _walk_local(top: str) -> dict[str, tuple[str, int, None]]:
    """``find`` for a local directory: ``{path: (type, size, None)}`` for everything below ``top``.

    Symbolic links (which distribution never writes) are listed as ``link``, never followed.
    Hand-written with os.scandir because fsspec's LocalFileSystem.find builds an info dict per entry
    (several stats and path normalisation), which made the filesystem audit 2-3x slower. Symlinks
    are not followed (as distribution's filesystem driver does not create them); an unreadable
    directory raises PermissionError instead of being skipped.
    """
    out: dict[str, tuple[str, int, None]] = {}
    check_inside(top)
    stack = [top]
    while stack:
        directory = stack.pop()
        try:
            # Subfolders are never symbolic links; O_NOATIME: the audit moves no access time.
            with scandir(directory, check=False) as it:
                for entry in it:
                    path = f"{directory}/{entry.name}"
                    if entry.is_dir(follow_symlinks=False):
                        out[path] = ("directory", 0, None)
                        stack.append(path)
                    elif entry.is_file(follow_symlinks=False):
                        out[path] = ("file", entry.stat(follow_symlinks=False).st_size, None)
                    elif entry.is_symlink():  # never followed; the audit lists it as a problem
                        out[path] = ("link", 0, None)
                    else:  # never followed or read; the audit says what it left out
                        out[path] = (_odd_kind(entry), 0, None)
        except FileNotFoundError:
            continue
    return out


def _odd_kind(entry) -> str:
    if entry.is_symlink():
        return "symlink"
    mode = entry.stat(follow_symlinks=False).st_mode
    return ("FIFO" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode)
            else "device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "other")


class _ErrorMap:
    """Turns OSError and botocore errors from one operation into layerlab errors that say what to do."""

    def __init__(self, store: Store, what: str, path: str):
        self.store, self.what, self.path = store, what, path

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if not isinstance(exc, Exception) or isinstance(exc, FileNotFoundError) and not self.store.object_store:
            return False  # no error, Ctrl-C, or a local file that went away (the caller decides)
        if not self.store.object_store:
            if isinstance(exc, PermissionError):
                raise DataRootPermissionError(f"cannot {self.what} {self.path}; run as a user who can read "
                                              "the registry storage", path=self.path) from None
            return False
        if isinstance(exc, StorageError):
            return False
        raise _object_store_error(exc, self.store, self.what, self.path) from None


def _object_store_error(exc: BaseException, store: Store, what: str, path: str) -> StorageError:
    text = str(exc) or type(exc).__name__
    code = ""
    cause = exc
    while cause is not None and not code:
        response = getattr(cause, "response", None)
        if isinstance(response, dict):
            code = (response.get("Error") or {}).get("Code", "")
        cause = cause.__cause__ or cause.__context__
    names = {type(e).__name__ for e in _chain(exc)}
    bucket = store.root.split("/", 1)[0]
    if code == "NoSuchBucket" or "NoSuchBucket" in text or "bucket does not exist" in text.lower():
        return StorageError(f"bucket {bucket!r} does not exist at {_endpoint(store)}; check the bucket name "
                            "(and the endpoint/region)", path=store.url)
    if isinstance(exc, PermissionError) or code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch") \
            or names & {"NoCredentialsError", "PartialCredentialsError"}:
        return StorageAuthError(f"{store.url}: the object store refused the credentials "
                                f"({code or text.splitlines()[0]}); "
                                "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE (or the config's "
                                "accesskey/secretkey) to credentials that may list and read the bucket",
                                path=store.url)
    if code in ("SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "ServiceUnavailable",
                "503") or "SlowDown" in text or "reduce your request rate" in text:
        return StorageError(f"{store.url}: the object store kept throttling ({code or 'SlowDown'}) after "
                            f"{store.retries} attempts with back-off; try again later or with fewer workers "
                            "(max_workers=)", path=store.url)
    if names & {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError",
                "ClientConnectorError", "ServerTimeoutError", "TimeoutError", "FSTimeoutError"} \
            or isinstance(exc, TimeoutError):
        return StorageError(f"{store.url}: the endpoint {_endpoint(store)} did not answer ({text.splitlines()[0]}); "
                            "check AWS_ENDPOINT_URL / the config's regionendpoint and that the store is up",
                            path=store.url)
    return StorageError(f"{store.url}: cannot {what} {path}: {text.splitlines()[0] if text else type(exc).__name__}",
                        path=store.url)


def _chain(exc: BaseException | None):
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


def _endpoint(store: Store) -> str:
    return getattr(store, "endpoint", None) or "AWS S3"


# -- opening a store ----------------------------------------------------------------------------

def open_store(root: str | os.PathLike | Store, *, storage_options: dict | None = None,
               timeout: float = 30.0, retries: int = 5, max_workers: int = MAX_WORKERS,
               progress: bool | None = None) -> Store:
    """A :class:`Store` for ``root``: a local path, ``s3://bucket/prefix`` or another fsspec URL.

    ``s3://`` takes credentials, region and endpoint from the standard AWS environment and config
    files (``AWS_ACCESS_KEY_ID``, ``AWS_PROFILE``, ``AWS_REGION``, ``AWS_ENDPOINT_URL``, …), or from
    ``storage_options`` (s3fs's arguments: ``key``, ``secret``, ``endpoint_url``, ``client_kwargs``).
    ``timeout`` bounds each connect and read (seconds); ``retries`` caps the attempts per request,
    with botocore's exponential back-off between them (throttling, 5xx, timeouts).
    """
    if isinstance(root, Store):
        return root
    text = os.fspath(root)
    scheme = urlsplit(text).scheme if "://" in text else ""
    if not scheme or scheme == "file":
        import fsspec

        path = str(Path(text[len("file://"):] if scheme else text).resolve())
        confine(path)  # nothing below it (v2/blobs, a blob's folder) is read through a symlink out of it
        return Store(fsspec.filesystem("file"), path, path, False, max_workers=max_workers, progress=progress)
    if scheme in ("s3", "s3a"):
        return _s3_store(text, storage_options or {}, timeout=timeout, retries=retries,
                         max_workers=max_workers, progress=progress)
    import fsspec

    fs, path = fsspec.core.url_to_fs(text, **(storage_options or {}))
    store = Store(fs, path.rstrip("/"), text.rstrip("/"), True, max_workers=max_workers, progress=progress)
    store.retries = retries
    return store


def _s3_store(url: str, options: dict, *, timeout: float, retries: int, max_workers: int,
              progress: bool | None) -> Store:
    import s3fs

    parts = urlsplit(url)
    bucket, prefix = parts.netloc, parts.path.strip("/")
    if not bucket:
        raise NotADataRoot(f"{url}: no bucket; give s3://BUCKET/ROOTDIRECTORY", path=url)
    options = dict(options)
    endpoint = (options.get("endpoint_url") or (options.get("client_kwargs") or {}).get("endpoint_url")
                or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))
    config = dict(options.pop("config_kwargs", {}) or {})
    config.setdefault("connect_timeout", timeout)
    config.setdefault("read_timeout", timeout)
    # botocore's standard retry mode: exponential back-off with jitter (capped at 20 s) on
    # throttling (SlowDown, 503) and transient errors, at most ``retries`` attempts.
    config.setdefault("retries", {"max_attempts": retries, "mode": "standard"})
    config.setdefault("max_pool_connections", max(10, max_workers))  # one connection per worker
    if endpoint:
        # S3-compatible stores (MinIO, Ceph RGW, moto) want path-style addressing, as distribution uses.
        config.setdefault("s3", {"addressing_style": "path"})
    # max_concurrency=1: s3fs (2024+) would otherwise HEAD each object before reading it, to split
    # large ones into concurrent ranged reads; older s3fs has neither.
    import inspect

    if "max_concurrency" in inspect.signature(s3fs.S3FileSystem.__init__).parameters:
        options.setdefault("max_concurrency", 1)
    fs = s3fs.S3FileSystem(config_kwargs=config, skip_instance_cache=True, use_listings_cache=False, **options)
    fs.retries = 1  # botocore retries with back-off; s3fs's own loop on top would multiply attempts
    store = Store(fs, f"{bucket}/{prefix}".rstrip("/"), f"s3://{bucket}/{prefix}".rstrip("/"), True,
                  max_workers=max_workers, progress=progress)
    store.retries = retries
    store.endpoint = endpoint
    store.http_counted = True
    counts = store.counts

    def count(request, **kwargs):
        method = request.method.upper()
        if method == "GET":
            query = urlsplit(request.url).query
            counts.add("LIST" if ("list-type=" in query or "delimiter=" in query or not _has_key(request.url, bucket))
                       else "GET")
        elif method == "HEAD":
            counts.add("HEAD")
        else:
            counts.add("other")

    def retried(attempts=None, **kwargs):
        if attempts and attempts > 1:
            counts.add("retries")

    pages: dict[str, tuple[int, str, bool]] = {}  # a listing's prefix -> (pages so far, last key, truncated)

    def answered(parsed=None, **kwargs):
        store.last_answer = time.monotonic()

    def listed(parsed=None, **kwargs):
        # ListObjectsV2 returns keys in order, 1000 a page: a page continuing a truncated one that does
        # not start after its last key, or more pages than max_pages, is a listing that would never end.
        if not isinstance(parsed, dict):
            return
        prefix = str(parsed.get("Prefix") or "")
        keys = [str(c.get("Key", "")) for c in parsed.get("Contents") or []]
        keys += [str(c.get("Prefix", "")) for c in parsed.get("CommonPrefixes") or []]
        n, last, truncated = pages.get(prefix, (0, "", False))
        if not truncated:  # the first page of a new listing
            n, last = 0, ""
        if n and keys and min(keys) <= last:
            store.listing_problem = (f"{store.url}: the object store's listing of {prefix or 'the bucket'!r} "
                                     f"went round (page {n + 1} repeats keys up to {last[:80]!r}); it is broken "
                                     "or hostile")
        elif n + 1 > store.max_pages:
            store.listing_problem = (f"{store.url}: the listing of {prefix or 'the bucket'!r} went past "
                                     f"{store.max_pages} pages and still said it was truncated; refused as endless")
        pages[prefix] = (n + 1, max(keys + [last]), bool(parsed.get("IsTruncated")))

    with _ErrorMap(store, "connect to", store.url):
        client = fs.connect()
    client.meta.events.register("before-send.s3", count)
    client.meta.events.register("needs-retry.s3", retried)
    client.meta.events.register("after-call.s3", answered)
    client.meta.events.register("after-call.s3.ListObjectsV2", listed)
    return store


def _has_key(url: str, bucket: str) -> bool:
    """Whether a path-style or virtual-hosted S3 URL names an object (not just the bucket)."""
    parts = urlsplit(url)
    path = parts.path.strip("/")
    if parts.hostname and parts.hostname.startswith(bucket + "."):
        return bool(path)
    return "/" in path


# -- distribution's config.yml --------------------------------------------------------------------

def store_from_config(config: str | os.PathLike, **kwargs) -> Store:
    """The storage a registry's ``config.yml`` uses: its ``storage.filesystem.rootdirectory``, or
    ``storage.s3`` (``bucket``, ``region``, ``regionendpoint``, ``rootdirectory``, ``secure``,
    ``accesskey``, ``secretkey``), with distribution's ``REGISTRY_STORAGE_…`` environment overrides.
    """
    import yaml

    from ...untrusted import load_yaml, read_small_file

    path = Path(config)
    try:
        data = load_yaml(read_small_file(path, "a registry config").decode("utf-8"), str(path))
    except UnicodeDecodeError:
        raise NotADataRoot(f"{path} is not UTF-8 text; give the registry's config.yml", path=str(path)) from None
    except ValueError as e:  # a device, a FIFO, too large, a billion laughs, a 5000-digit number
        raise NotADataRoot(f"{e}; give the registry's config.yml", path=str(path)) from None
    except IsADirectoryError:
        raise NotADataRoot(f"{path} is a folder; give the registry's config.yml", path=str(path)) from None
    except FileNotFoundError:
        raise NotADataRoot(f"{path}: no such registry config; give the registry's config.yml "
                           "(e.g. /etc/docker/registry/config.yml)", path=str(path)) from None
    except PermissionError:
        raise DataRootPermissionError(f"cannot read {path}; run as a user who can read the registry config",
                                      path=str(path)) from None
    except OSError as e:  # a symlink loop, a name too long, ...
        raise NotADataRoot(f"cannot read {path} ({e.strerror or e}); give the registry's config.yml",
                           path=str(path)) from None
    except yaml.YAMLError as e:
        raise NotADataRoot(f"{path} is not YAML ({str(e).splitlines()[0]}); give the registry's config.yml",
                           path=str(path)) from None
    storage = (data or {}).get("storage") if isinstance(data, dict) else None
    if not isinstance(storage, dict):
        raise NotADataRoot(f"{path} has no storage section; give the registry's config.yml", path=str(path))
    storage = {k.lower(): v for k, v in storage.items()}
    for key, value in os.environ.items():  # REGISTRY_STORAGE_S3_BUCKET=… overrides storage.s3.bucket
        if key.startswith("REGISTRY_STORAGE_") and key.count("_") == 3:
            driver, param = key.split("_")[2:4]
            if isinstance(storage.get(driver.lower()), dict):
                storage[driver.lower()][param.lower()] = value
    if isinstance(storage.get("filesystem"), dict):
        root = storage["filesystem"].get("rootdirectory") or "/var/lib/registry"
        return open_store(root, **kwargs)
    if "filesystem" in storage:
        return open_store("/var/lib/registry", **kwargs)
    if isinstance(storage.get("s3"), dict):
        s3 = {k.lower(): v for k, v in storage["s3"].items()}
        bucket = s3.get("bucket")
        if not bucket:
            raise NotADataRoot(f"{path}: storage.s3 has no bucket", path=str(path))
        options: dict = {}
        client: dict = {}
        if s3.get("region"):
            client["region_name"] = str(s3["region"])
        endpoint = s3.get("regionendpoint")
        if endpoint:
            endpoint = str(endpoint)
            if "://" not in endpoint:
                secure = str(s3.get("secure", True)).lower() not in ("false", "0", "no")
                endpoint = ("https://" if secure else "http://") + endpoint
            options["endpoint_url"] = endpoint
        if s3.get("accesskey") and s3.get("secretkey"):
            options["key"], options["secret"] = str(s3["accesskey"]), str(s3["secretkey"])
        if client:
            options["client_kwargs"] = client
        prefix = str(s3.get("rootdirectory") or "").strip("/")
        return open_store(f"s3://{bucket}/{prefix}".rstrip("/"), storage_options=options, **kwargs)
    drivers = sorted(k for k in storage if k not in ("delete", "maintenance", "cache", "redirect", "tag"))
    raise NotADataRoot(f"{path}: storage driver {', '.join(drivers) or '(none)'} is not one layerlab reads; "
                       "filesystem and s3 are (other fsspec URLs can be given directly)", path=str(path))
