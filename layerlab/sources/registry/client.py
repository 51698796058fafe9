"""A read-only registry HTTP API v2 client: manifests, indexes, configs, tags and the catalog.

One urllib3 connection pool per client (per proxy); urllib3 ``Retry`` for 429/5xx (honouring
``Retry-After``, capped);
every manifest and config body is checked against its digest and size; bodies are size-capped;
content-addressed bodies are cached on disk. Secrets never appear in messages, logs or results.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable
from urllib.parse import unquote, urlencode, urljoin, urlsplit

import urllib3
from requests.utils import get_environ_proxies, parse_header_links
from urllib3.exceptions import HTTPError as TransportError
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.exceptions import SSLError as TLSError
from urllib3.util.retry import Retry
from urllib3.util.ssl_ import create_urllib3_context

from ...errors import (
    OPTIONAL_TEXT,
    TEXT,
    AuthError,
    DigestMismatch,
    Expect,
    ImageNotFound,
    ManifestNotFound,
    RateLimited,
    RegistryError,
    UnsupportedManifest,
    expects,
    whole_number,
)
from ...oci.manifest import (
    ACCEPT,
    IMAGE_TYPES,
    INDEX_TYPES,
    SCHEMA1,
    SCHEMA1_LAYER,
    Descriptor,
    media_type_of,
    platform_matches,
    platform_string,
)
from ...oci.config import config_problem
from ...oci import schema1
from ...oci.reference import DOCKER_HUB, Reference, check_port, is_loopback, parse_repository
from ...untrusted import load_json
from .auth import Challenge, Credentials, DockerConfig, TokenCache
from .deadline import POOL_CLASSES, DeadlinePassed, deadline, network_deadline

log = logging.getLogger("layerlab.registry")


#: distribution refuses manifests above 4 MiB; configs with long histories stay well below 16 MiB.
MANIFEST_LIMIT = 4 << 20
CONFIG_LIMIT = 16 << 20
LIST_LIMIT = 16 << 20
TOKEN_LIMIT = 1 << 20
ERROR_LIMIT = 64 << 10
MEMORY_LIMIT = 64 << 20

_HASHES = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}
#: Printable ASCII without spaces: what an RFC 6750 bearer token (and a JWT) is made of.
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]+")
USER_AGENT = "layerlab-registry"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "layerlab" / "registry"


def compute_digest(body: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{_HASHES[algorithm](body).hexdigest()}"


def verify_digest(body: bytes, digest: str, what: str) -> None:
    """Raise DigestMismatch unless ``body`` hashes to ``digest``."""
    algorithm = digest.split(":", 1)[0]
    if algorithm not in _HASHES:
        raise UnsupportedManifest(f"{what}: digest algorithm {algorithm!r} is not supported (sha256, sha512)")
    actual = compute_digest(body, algorithm)
    if actual != digest:
        raise DigestMismatch(f"{what}: the body hashes to {actual}, not {digest}; the registry or something "
                             "between it and you altered the content — do not use it, and report it to the "
                             "registry's operator")


class BlobCache:
    """Content-addressed bodies on disk (``<dir>/<alg>/<hex>``), checked again on every read."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)

    def _path(self, digest: str) -> Path:
        algorithm, _, hexpart = digest.partition(":")
        return self.directory / algorithm / hexpart

    def get(self, digest: str) -> bytes | None:
        try:
            body = self._path(digest).read_bytes()
        except OSError:
            return None
        try:
            verify_digest(body, digest, "cache")
        except (DigestMismatch, UnsupportedManifest):
            return None  # a damaged cache entry is refetched, never trusted
        return body

    def put(self, digest: str, body: bytes) -> None:
        path = self._path(digest)
        # Written beside its name and renamed into place, so a reader never sees half a body; the
        # temporary name is unique per process and thread (no tempfile: this is on the hot path).
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        try:
            try:
                fd = os.open(tmp, flags, 0o644)
            except FileNotFoundError:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(tmp, flags, 0o644)
            try:
                view = memoryview(body)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as e:  # a cache that cannot be written only costs speed
            log.debug("registry cache not written (%s)", e.__class__.__name__)


class _RetryAfterTooLong(Exception):
    """The registry's Retry-After would take the request's waiting above the client's cap."""

    def __init__(self, header: str, cap: float):
        super().__init__(header)
        self.header, self.cap = header, cap


class _CappedRetry(Retry):
    """urllib3 Retry with one cap on all Retry-After waiting of a request (a registry may ask for
    hours, or for a minute again and again): past the cap the request fails, naming the header."""

    max_retry_after = 60.0
    waited = 0.0

    def new(self, **kw):
        fresh = super().new(**kw)
        fresh.waited = self.waited  # urllib3 makes a new Retry per attempt: carry the total over
        return fresh

    def sleep_for_retry(self, response) -> bool:
        header = response.headers.get("Retry-After") if response is not None else None
        if not header:
            return False
        try:
            wait = self.parse_retry_after(header)
        except Exception:  # noqa: BLE001 - urllib3 raises InvalidHeader; an unreadable header is no wait
            return False
        if self.waited + wait > self.max_retry_after:
            raise _RetryAfterTooLong(header, self.max_retry_after)
        self.waited += wait
        time.sleep(wait)
        return True


@dataclass(frozen=True)
class RateLimit:
    """Docker Hub's ``ratelimit-*`` headers: pulls allowed and left per window (seconds)."""

    limit: int
    remaining: int | None
    window: int | None

    @classmethod
    def from_headers(cls, headers) -> "RateLimit | None":
        limit = headers.get("ratelimit-limit")
        if not limit:
            return None

        def parse(value):
            m = re.match(r"\s*(\d+)(?:\s*;\s*w=(\d+))?", value or "")
            return (int(m.group(1)), int(m.group(2)) if m.group(2) else None) if m else (None, None)

        lim, window = parse(limit)
        remaining, _ = parse(headers.get("ratelimit-remaining"))
        return cls(lim, remaining, window) if lim is not None else None

    def __str__(self) -> str:
        per = f" per {self.window} s" if self.window else ""
        return f"Docker Hub rate limit: {self.remaining} of {self.limit} pulls left{per}"


@dataclass
class Manifest:
    """A manifest or index as fetched: its digest, media type, raw body and parsed JSON."""

    reference: Reference
    digest: str
    media_type: str
    body: bytes = field(repr=False)
    data: dict = field(repr=False)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def is_schema1(self) -> bool:
        return self.media_type in SCHEMA1

    def children(self) -> list[Descriptor]:
        return [Descriptor.from_json(d, str(self.reference)) for d in self.data.get("manifests") or []]

    def config(self) -> Descriptor:
        if "config" not in self.data:
            raise RegistryError(f"{self.reference}: manifest {self.digest} has no config descriptor")
        return Descriptor.from_json(self.data["config"], str(self.reference))

    def layers(self) -> list[Descriptor]:
        return [Descriptor.from_json(d, str(self.reference)) for d in self.data.get("layers") or []]


@dataclass
class PlatformImage:
    """One platform's image: its manifest, config and layers (compressed sizes, base first)."""

    platform: str
    digest: str
    media_type: str
    config_digest: str
    config: dict = field(repr=False)
    layers: list[Descriptor]

    @property
    def size(self) -> int:
        """Compressed bytes: the sum of the layer blob sizes (what a pull downloads, config aside);
        a schema1 manifest does not give them (-1 each): those count 0."""
        return sum(layer.size for layer in self.layers if layer.size > 0)

    @property
    def history(self) -> list[dict]:
        return list(self.config.get("history") or [])

    @property
    def created(self) -> str | None:
        return self.config.get("created")

    def to_dict(self) -> dict:
        return {"platform": self.platform, "digest": self.digest, "media_type": self.media_type,
                "config_digest": self.config_digest, "size": self.size,
                "layers": [{"digest": l.digest, "size": l.size, "media_type": l.media_type} for l in self.layers]}


@dataclass
class Inspection:
    """What ``inspect`` found for a reference: the top manifest or index and every platform image."""

    reference: Reference
    digest: str
    media_type: str
    images: list[PlatformImage]
    rate_limit: RateLimit | None = None

    def to_dict(self) -> dict:
        return {"reference": str(self.reference), "digest": self.digest, "media_type": self.media_type,
                "manifests": [image.to_dict() for image in self.images]}


def _schema_version(body: bytes):
    try:
        data = load_json(body)
    except ValueError:
        return None
    return data.get("schemaVersion") if isinstance(data, dict) else None


def _schema1_image(manifest: "Manifest", index_platform: str | None = None) -> PlatformImage:
    """A schema1 manifest as a platform image: layers base first, throwaway ones left out, sizes
    unknown (-1), the config synthesized without diff IDs and no config digest (both need the layers
    read: ``registry.image`` does that)."""
    s1 = schema1.Schema1(manifest.data, str(manifest.reference))
    config = load_json(s1.config([]))
    plat = index_platform or platform_string({"os": config.get("os") or "linux",
                                              "architecture": config.get("architecture") or s1.architecture,
                                              "variant": config.get("variant")}) or "unknown"
    layers = [Descriptor(SCHEMA1_LAYER, d, -1) for d in s1.layer_digests]
    return PlatformImage(plat, manifest.digest, manifest.media_type, "", config, layers)


def _basic_auth(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def _with_query(url: str, params: dict | None) -> str:
    if not params:
        return url
    return f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(params, doseq=True)}"


def _next_link(r: urllib3.BaseHTTPResponse) -> str | None:
    """The ``rel="next"`` target of a ``Link`` header (distribution's pagination), if any."""
    for link in parse_header_links(r.headers.get("Link", "")):
        if link.get("rel") == "next":
            return link.get("url")
    return None


def _pool_manager(proxy: str | None, args: dict) -> urllib3.PoolManager:
    manager = _plain_pool_manager(proxy, args)
    if not proxy or not proxy.startswith("socks"):
        manager.pool_classes_by_scheme = POOL_CLASSES  # connections the request deadline can cut
    return manager


def _plain_pool_manager(proxy: str | None, args: dict) -> urllib3.PoolManager:
    if not proxy:
        return urllib3.PoolManager(**args)
    parsed = urllib3.util.parse_url(proxy)
    if proxy.startswith("socks"):  # SOCKSProxyManager reads user and password from the URL itself
        try:
            from urllib3.contrib.socks import SOCKSProxyManager
        except ImportError:
            raise RegistryError(f"the environment asks for the SOCKS proxy {parsed.host}; install PySocks "
                                "(pip install pysocks) to use it") from None
        return SOCKSProxyManager(proxy, **args)
    headers = None
    if parsed.auth:  # http://user:password@proxy/: urllib3 leaves the Proxy-Authorization header to us
        user, _, password = parsed.auth.partition(":")
        headers = urllib3.make_headers(proxy_basic_auth=f"{unquote(user)}:{unquote(password)}")
        proxy = parsed._replace(auth=None).url
    return urllib3.ProxyManager(proxy, proxy_headers=headers, **args)


def _discard(r: urllib3.BaseHTTPResponse) -> None:
    """Give a response's connection back to the pool when its body is read or small; else close it."""
    if r.length_remaining == 0 or r.isclosed():
        r.release_conn()
    elif r.length_remaining is not None and r.length_remaining <= ERROR_LIMIT:
        r.drain_conn()
    else:
        r.close()


#: What the client's public methods take, checked before a request is made.
_REF = Expect("an image reference: a string such as 'registry:5000/app:1', or a Reference", str, Reference)
_PAGE_SIZE = Expect("a whole number of entries a page, or None", test=whole_number(1), none=True)


#: Hosts where plain HTTP is allowed besides loopback, comma-separated (``--insecure HOST`` sets it).
INSECURE_ENV = "LAYERLAB_INSECURE_REGISTRIES"


def insecure_from_environment() -> set[str]:
    """The hosts ``$LAYERLAB_INSECURE_REGISTRIES`` allows plain HTTP to."""
    return {h.strip() for h in os.environ.get(INSECURE_ENV, "").split(",") if h.strip()}


class RegistryClient:
    """Talks to registries on behalf of one user; thread-safe; use as a context manager.

    Parameters
    ----------
    docker_config : path of docker's config.json, a :class:`DockerConfig`, or False for none
        (default: ``$DOCKER_CONFIG`` or ``~/.docker/config.json``).
    credentials : ``{host: (user, password)}`` given directly; they take precedence over config.json.
    insecure : hosts where plain HTTP is allowed (loopback hosts always are, as with docker), added to
        those ``$LAYERLAB_INSECURE_REGISTRIES`` names (comma-separated; the CLI's ``--insecure`` sets it,
        so every registry access of a command, report kernels included, follows one rule).
    verify : True, or the path of a CA bundle to trust (e.g. a test CA).
    cache_dir : where content-addressed bodies are cached; False for no cache.
    max_workers : concurrent requests when building frames (also the connection pool size).
    timeout : seconds to connect, and to wait for each read.
    deadline : seconds one request may take in all (auth included); a server that answers a
        byte at a time fails it with a clear error. A streamed blob must start within it and bring
        64 KiB per deadline at least. Default: ``LAYERLAB_NETWORK_DEADLINE``, else 45 s.
    retries, backoff : bounded retries on 429/5xx and connection errors.
    max_retry_after : seconds of Retry-After waiting one request may do in all; a registry asking
        for more fails the request with an error naming the header.
    max_pages : pages of ``Link`` pagination followed for one list of tags or repositories.
    """

    def __init__(self, *, docker_config=None, credentials: dict | None = None, insecure: Iterable[str] = (),
                 verify: bool | str | os.PathLike = True, cache_dir: str | os.PathLike | bool | None = None,
                 max_workers: int = 8, timeout: float = 30.0, retries: int = 4, backoff: float = 0.5,
                 max_retry_after: float = 60.0, deadline: float | None = None, max_pages: int = 1000):
        if docker_config is False:
            self.docker_config = None
        elif isinstance(docker_config, DockerConfig):
            self.docker_config = docker_config
        else:
            self.docker_config = DockerConfig(docker_config)
        self._given = {h: Credentials(*c) if isinstance(c, tuple) else c for h, c in (credentials or {}).items()}
        self.insecure = set(insecure) | insecure_from_environment()
        self.verify = str(verify) if isinstance(verify, os.PathLike) else verify
        self.cache = None if cache_dir is False else BlobCache(cache_dir or default_cache_dir())
        self.max_workers = max_workers
        self.timeout = timeout
        self.deadline = network_deadline() if deadline is None else deadline
        self.max_pages = max_pages
        self.max_retry_after = float(max_retry_after)
        self.rate_limit: RateLimit | None = None
        self.request_count = 0
        self._lock = threading.Lock()
        self._schemes: dict[str, str] = {}
        self._challenges: dict[str, Challenge] = {}
        self._creds: dict[str, Credentials | None] = {}
        self._tokens = TokenCache()
        self._inflight: dict[str, threading.Lock] = {}
        self._memory: dict[str, bytes] = {}
        self._memory_bytes = 0
        self._known: set[str] = set()

        # A class per client: urllib3 copies a Retry through its constructor, which drops instance attributes.
        retry_class = type("_ClientRetry", (_CappedRetry,), {"max_retry_after": float(max_retry_after)})
        retry = retry_class(total=retries, connect=retries, read=retries, status=retries, other=0,
                             backoff_factor=backoff, status_forcelist=(429, 500, 502, 503, 504),
                             allowed_methods=frozenset({"GET", "HEAD"}), raise_on_status=False,
                             respect_retry_after_header=True)
        # urllib3 directly, not requests: requests' per-request work (hooks, cookies, settings merged
        # from the environment) was half of the client's CPU on a local registry, and a run of a few
        # hundred tags is bound by CPU (client and registry share the cores).
        self._pool_args = dict(num_pools=16, maxsize=max(max_workers, 4), retries=retry,
                               timeout=urllib3.Timeout(connect=timeout, read=timeout))
        self._pools: dict[tuple[str | None, str], urllib3.PoolManager] = {}
        self._proxy_cache: dict[str, str | None] = {}
        self._tls: ssl.SSLContext | None = None

    def _memory_get(self, digest: str) -> bytes | None:
        with self._lock:
            return self._memory.get(digest)

    def _keep(self, digest: str, body: bytes, *, fetched: bool) -> None:
        """Keep a verified body in memory (bounded) for the life of the client, and a fetched one on disk.

        A body is written to the disk cache once per client: tags of one image share a manifest, and
        writing it again for each tag was a quarter of the client's time on a cold cache.
        """
        with self._lock:
            known = digest in self._known
            self._known.add(digest)
            if digest not in self._memory and self._memory_bytes + len(body) <= MEMORY_LIMIT:
                self._memory[digest] = body
                self._memory_bytes += len(body)
        if fetched and not known and self.cache:
            self.cache.put(digest, body)

    def __enter__(self) -> "RegistryClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.clear()

    def __repr__(self) -> str:
        return f"RegistryClient({self.request_count} requests)"

    # -- transport ------------------------------------------------------------------------------
    def plain_http_allowed(self, host: str) -> bool:
        return is_loopback(host) or host in self.insecure

    def base_url(self, host: str) -> str:
        """``https://host``, or ``http://host`` for a loopback/insecure host that does not speak TLS."""
        with self._lock:
            scheme = self._schemes.get(host)
        if scheme is not None:
            return f"{scheme}://{host}"
        check_port(host)  # a host given as is (catalog, storage): port 999999 is no port
        # One probe per host: concurrent first requests wait for it instead of each probing (and each
        # loading the CA bundle, ~30 ms of CPU apiece).
        with self._flight(f"scheme:{host}"):
            with self._lock:
                scheme = self._schemes.get(host)
            if scheme is None:
                scheme = self._probe_scheme(host)
                with self._lock:
                    self._schemes[host] = scheme
        return f"{scheme}://{host}"

    def _probe_scheme(self, host: str) -> str:
        if not self.plain_http_allowed(host):
            return "https"
        # Only whether the host speaks TLS is asked, so the probe is a bare handshake: no CA store is
        # loaded (~90 ms of CPU) and nothing is sent; the requests that follow verify the certificate.
        parts = urlsplit(f"https://{host}")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        try:
            with socket.create_connection((parts.hostname, parts.port or 443), timeout=self.timeout) as sock:
                with context.wrap_socket(sock, server_hostname=parts.hostname):
                    return "https"
        except OSError:  # ssl.SSLError included: a plain HTTP server answers the handshake with HTTP
            return "http"

    def credentials(self, host: str) -> Credentials | None:
        with self._lock:
            if host in self._creds:
                return self._creds[host]
        creds = self._given.get(host)
        if creds is None and self.docker_config is not None:
            domain = DOCKER_HUB if host == "registry-1.docker.io" else host
            creds = self.docker_config.credentials(domain)
        with self._lock:
            self._creds[host] = creds
        return creds

    def _authorization(self, host: str, scope: str | None, fresh: bool = False) -> str | None:
        with self._lock:
            challenge = self._challenges.get(host)
        if challenge is None:
            return None
        creds = self.credentials(host)
        if creds is not None and self.base_url(host).startswith("http:") and not is_loopback(host):
            # docker sends credentials to an --insecure registry in the clear; layerlab does not.
            raise AuthError(f"{host} asks for credentials but speaks plain HTTP; refusing to send them "
                            "unencrypted to a host that is not loopback (serve it over TLS)", ref=host)
        if challenge.scheme == "basic":
            if creds is None or creds.password is None:
                raise AuthError(f"{host} asks for a user name and password; run `docker login {host}` or pass "
                                "credentials", ref=host)
            return _basic_auth(creds.username or "", creds.password)
        if challenge.scheme != "bearer":
            raise AuthError(f"{host} asks for {challenge.scheme!r} authentication, which layerlab does not "
                            "speak (only Basic and Bearer)", ref=host)
        scopes = sorted({s for s in ([scope] if scope else []) + challenge.scopes})
        # Per host: a token got with one host's credentials is never handed to another host that
        # names the same realm.
        key = (host, challenge.realm, challenge.service, tuple(scopes), creds.username if creds else None)
        token = None if fresh else self._tokens.get(key)
        if token is None:
            token, expires_in = self._fetch_token(host, challenge, scopes, creds)
            self._tokens.put(key, token, expires_in)
        return f"Bearer {token}"

    def _fetch_token(self, host: str, challenge: Challenge, scopes: list[str],
                     creds: Credentials | None) -> tuple[str, float]:
        realm = challenge.realm
        if not realm or urlsplit(realm).scheme not in ("http", "https"):
            raise AuthError(f"{host} sent a bearer challenge without a usable realm", ref=host)
        realm_host = urlsplit(realm).netloc
        if creds and urlsplit(realm).scheme == "http" and not is_loopback(realm_host):
            raise AuthError(f"{host}'s token server {realm_host} is plain HTTP; refusing to send credentials "
                            "there unencrypted (only loopback token servers may be plain HTTP)", ref=host)
        params = {"scope": scopes} if scopes else {}
        if challenge.service:
            params["service"] = challenge.service
        what = f"{host}'s token server"
        if creds and creds.identity_token:
            data = {"grant_type": "refresh_token", "refresh_token": creds.identity_token,
                    "client_id": "layerlab", "service": challenge.service or "", "scope": " ".join(scopes)}
            r = self._open("POST", realm, {}, what, host, fields=data)
        else:
            headers = ({"Authorization": _basic_auth(creds.username or "", creds.password)}
                       if creds and creds.password is not None else {})
            r = self._open("GET", _with_query(realm, params), headers, what, host)
        self._count()
        try:
            if r.status in (401, 403):
                who = f"user {creds.username!r}" if creds and creds.username else "anonymous access"
                raise AuthError(f"{host}'s token server refused {who} for {' '.join(scopes) or 'access'}; "
                                f"check the credentials (`docker login {host}`) and your access to the "
                                "repository", ref=host)
            if r.status != 200:
                raise RegistryError(f"{host}'s token server {realm_host} answered {r.status}; try again "
                                    "later", ref=host)
            body = self._read(r, TOKEN_LIMIT, f"token server {realm_host}")
        finally:
            _discard(r)
        try:
            data = load_json(body)
            token = data.get("token") or data.get("access_token")
        except (ValueError, AttributeError):
            token, data = None, {}
        if not token:
            raise AuthError(f"{host}'s token server {realm_host} answered without a token", ref=host)
        # A token goes into a header: one with CR LF or other non-token bytes would make urllib3
        # raise with the whole header (the secret) in its message. Never quote it.
        if not isinstance(token, str) or not _TOKEN_CHARS.fullmatch(token):
            raise AuthError(f"{host}'s token server {realm_host} answered with a token that is not a "
                            "string of printable characters; the token server is misbehaving", ref=host)
        try:
            expires_in = float(data.get("expires_in") or 60)
        except (TypeError, ValueError):
            expires_in = 60.0  # as docker does for a missing or unusable expires_in
        return token, expires_in

    def _count(self) -> None:
        with self._lock:
            self.request_count += 1

    def request(self, method: str, host: str, path: str, *, scope: str | None, params=None,
                headers: dict | None = None, limit: int, what: str, ref: str | None = None,
                url: str | None = None) -> tuple[urllib3.BaseHTTPResponse, bytes]:
        """Send one API request with auth, retries, redirects kept from leaking credentials, a size cap.

        Returns the response (its connection back in the pool) and its body. 4xx/5xx become
        LayerlabError subclasses.
        """
        late = RegistryError(f"{what}: no complete answer within {format(self.deadline or 0, 'g')} s (the deadline for "
                             "one "
                             "request); the registry is too slow or misbehaving", ref=ref)
        with deadline(self.deadline) as fired:
            try:
                r = self.open(method, host, path, scope=scope, params=params, headers=headers, what=what, ref=ref,
                              url=url)
                try:
                    body = self._read(r, limit, what) if method != "HEAD" else b""
                finally:
                    _discard(r)
            except Exception:
                if fired.is_set():
                    raise late from None
                raise
        if fired.is_set():  # a cut connection can look like a short answer: never trust it
            raise late
        return r, body

    def open(self, method: str, host: str, path: str, *, scope: str | None, params=None,
             headers: dict | None = None, what: str, ref: str | None = None,
             url: str | None = None) -> urllib3.BaseHTTPResponse:
        """As :meth:`request`, but the response's body is left unread, for the caller to stream (a layer
        blob); the caller releases it (``release_conn``/``close``). 4xx/5xx are raised here."""
        url = url or self.base_url(host) + path
        origin = urlsplit(url).netloc
        fresh = False
        for attempt in range(2):
            auth = self._authorization(host, scope, fresh=fresh)
            r, final = self._send(method, url, params, headers, auth, origin, what, ref)
            if r.status != 401:
                break
            _discard(r)
            if urlsplit(final).netloc != origin:
                # A challenge counts only from the host itself: one met after a redirect is another
                # host asking for this host's credentials (and would poison the cached challenge).
                raise AuthError(f"{what}: {origin} redirected to {urlsplit(final).netloc}, which asks for "
                                f"credentials; layerlab sends {host}'s credentials only to {host} and the token "
                                "server it names itself", ref=ref)
            challenge = Challenge.parse(r.headers.get("WWW-Authenticate", ""))
            if challenge is None:
                raise AuthError(f"{what}: {host} answered 401 without saying how to authenticate", ref=ref)
            with self._lock:
                self._challenges[host] = challenge
            if attempt == 0:
                fresh = auth is not None  # a refused token may be stale: get a new one once
                continue
            creds = self.credentials(host)
            who = f"user {creds.username!r}" if creds and creds.username else "anonymous access"
            raise AuthError(f"{what}: {host} refused {who}; run `docker login {host}` or check the "
                            "credentials and your access to the repository", ref=ref)
        self._note_rate_limit(r)
        if r.status >= 400:
            try:
                self._raise_for_status(r, what, ref)
            finally:
                _discard(r)
        return r

    def open_url(self, url: str, *, what: str) -> urllib3.BaseHTTPResponse:
        """GET ``url`` (a foreign layer's), its body left unread, WITHOUT any credential: the url is
        not a registry's, and no host's credentials go to a host they were not for. Redirects are
        followed (never from HTTPS to plain HTTP); 4xx/5xx are raised."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise RegistryError(f"{what}: {url} is not an http(s) url")
        r, _ = self._send("GET", url, None, None, None, urlsplit(url).netloc, what, None)
        if r.status >= 400:
            _discard(r)
            raise RegistryError(f"{what}: answered {r.status} {r.reason}")
        return r

    def _send(self, method, url, params, headers, auth, origin, what, ref) -> tuple[urllib3.BaseHTTPResponse, str]:
        """The response (redirects followed, credentials kept to ``origin``) and the URL that gave it."""
        hdrs = dict(headers or {})
        url = _with_query(url, params)
        for _ in range(6):
            if auth and urlsplit(url).netloc == origin:
                hdrs["Authorization"] = auth
            else:
                hdrs.pop("Authorization", None)  # never to another host, e.g. a blob store redirect
            r = self._open(method, url, hdrs, what, ref)
            self._count()
            location = r.get_redirect_location()
            if not location:
                return r, url
            _discard(r)
            target = urljoin(url, location)
            if urlsplit(url).scheme == "https" and urlsplit(target).scheme != "https":
                raise RegistryError(f"{what}: refusing a redirect from HTTPS to plain HTTP", ref=ref)
            url = target
        raise RegistryError(f"{what}: too many redirects", ref=ref)

    def _open(self, method: str, url: str, headers: dict, what: str, ref: str | None,
              fields: dict | None = None) -> urllib3.BaseHTTPResponse:
        """One HTTP exchange (with urllib3's retries), its body not yet read; transport errors explained."""
        netloc = urlsplit(url).netloc
        pool = self._pool(url)
        extra = {"fields": fields, "encode_multipart": False} if fields else {}  # a form body (POST)
        try:
            return pool.request(method, url, headers={"User-Agent": USER_AGENT, **headers},
                                redirect=False, preload_content=False, **extra)
        except _RetryAfterTooLong as e:
            raise RateLimited(f"{what}: {netloc} asks to wait (Retry-After: {e.header}) longer than the {e.cap:g} s "
                              "layerlab waits in all for one request; try again later (or raise max_retry_after)",
                              ref=ref) from None
        except DeadlinePassed:
            raise
        except MaxRetryError as e:
            error = e.reason
        except (TransportError, OSError) as e:
            error = e
        if isinstance(error, TLSError) and "CERTIFICATE_VERIFY_FAILED" in str(error):
            raise RegistryError(f"{what}: {netloc} speaks TLS with a certificate this machine does not trust; "
                                "pass verify=<CA file> (CLI: --ca-file)", ref=ref) from None
        if isinstance(error, TLSError):
            raise RegistryError(f"{what}: the TLS handshake with {netloc} failed; if it serves plain HTTP, add it "
                                "to the insecure hosts (CLI: --insecure)", ref=ref) from None
        if isinstance(error, ResponseError):
            raise RegistryError(f"{what}: {netloc} kept failing after retries; try again later", ref=ref) from None
        raise RegistryError(f"{what}: cannot reach {netloc} ({error.__class__.__name__}); check the host name, "
                            "port and network", ref=ref) from None

    def _pool(self, url: str) -> urllib3.PoolManager:
        """The connection pools for ``url``: direct, or through the environment's proxy for its host."""
        proxy, scheme = self._proxy_for(url), urlsplit(url).scheme
        with self._lock:
            pool = self._pools.get((proxy, scheme))
        if pool is None:
            args = {**self._pool_args, "ssl_context": self._tls_context()} if scheme == "https" else self._pool_args
            fresh = _pool_manager(proxy, args)
            with self._lock:
                pool = self._pools.setdefault((proxy, scheme), fresh)
        return pool

    def _proxy_for(self, url: str) -> str | None:
        """The environment's proxy for ``url``'s host, if any, looked up once per host."""
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            if key in self._proxy_cache:
                return self._proxy_cache[key]
        # requests' reading of the proxy variables (no_proxy with CIDR ranges included).
        proxies = get_environ_proxies(key)
        proxy = proxies.get(parts.scheme) or proxies.get("all")
        with self._lock:
            self._proxy_cache[key] = proxy
        return proxy

    def _tls_context(self) -> ssl.SSLContext:
        """One verifying TLS context for the client's life: urllib3 would otherwise load the CA store
        (~90 ms of CPU) for every new connection."""
        with self._flight("tls-context"):
            if self._tls is None:
                context = create_urllib3_context()  # urllib3's defaults: certificate and host name checked
                if self.verify is False:
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                elif isinstance(self.verify, str):
                    try:
                        context.load_verify_locations(self.verify)
                    except ssl.SSLError:  # before OSError, of which it is a kind
                        raise RegistryError(f"{self.verify} holds no PEM certificate layerlab can read; pass "
                                            "the path of a PEM bundle (CLI: --ca-file)") from None
                    except OSError as e:
                        raise RegistryError(f"cannot read the CA file {self.verify} ({e.strerror or e}); pass "
                                            "the path of a PEM bundle (CLI: --ca-file)") from None
                else:
                    context.load_default_certs()  # the system's CA store, as docker uses
                self._tls = context
            return self._tls

    @staticmethod
    def _read(r: urllib3.BaseHTTPResponse, limit: int, what: str) -> bytes:
        length = r.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > limit:
            raise RegistryError(f"{what}: the response announces {int(length)} bytes, above the {limit} byte "
                                "limit for this kind of body; the server is misbehaving")
        buf = bytearray()
        chunks = r.stream(1 << 16)
        while len(buf) <= limit:
            try:
                chunk = next(chunks, None)
            except (TransportError, OSError) as e:
                raise RegistryError(f"{what}: the connection broke while reading ({e.__class__.__name__}); "
                                    "try again") from None
            if chunk is None:
                return bytes(buf)
            buf += chunk
        raise RegistryError(f"{what}: the response exceeds the {limit} byte limit for this kind of body; the "
                            "server is misbehaving")

    def _note_rate_limit(self, r: urllib3.BaseHTTPResponse) -> None:
        limit = RateLimit.from_headers(r.headers)
        if limit:
            self.rate_limit = limit
            log.info("%s", limit)

    def _raise_for_status(self, r: urllib3.BaseHTTPResponse, what: str, ref: str | None):
        try:
            errors = load_json(r.read(ERROR_LIMIT) or b"{}").get("errors") or []
        except (ValueError, AttributeError, OSError, TransportError):
            errors = []
        codes = {str(e.get("code")) for e in errors if isinstance(e, dict)}
        detail = "; ".join(str(e.get("message"))[:200] for e in errors if isinstance(e, dict) and e.get("message"))
        detail = f" ({detail})" if detail else ""
        status = r.status
        if status == 404 or codes & {"MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN"}:
            raise ManifestNotFound(f"{what}: not found{detail}; check the name, tag or digest "
                                   "(`layerlab registry tags REPO` lists the tags)", ref=ref)
        if status in (401, 403):
            raise AuthError(f"{what}: access denied ({status}){detail}; check your access to the repository",
                            ref=ref)
        if status == 429:
            hint = f"; {self.rate_limit}" if self.rate_limit else ""
            after = r.headers.get("Retry-After")
            wait = f" (the registry asks to wait {after} s)" if after else ""
            raise RateLimited(f"{what}: still rate limited (429) after retries{wait}{hint}; wait, or log in to "
                              "get a higher limit", ref=ref)
        raise RegistryError(f"{what}: the registry answered {status} {r.reason}{detail}", ref=ref)

    # -- API ------------------------------------------------------------------------------------
    @expects(host=TEXT)
    def ping(self, host: str) -> None:
        """Check that ``host`` answers ``GET /v2/`` (after authenticating if it asks)."""
        self.request("GET", host, "/v2/", scope=None, limit=ERROR_LIMIT, what=f"{host}/v2/")

    @expects(ref=_REF)
    def get_manifest(self, ref: Reference | str) -> Manifest:
        """The manifest or index ``ref`` names, checked against its digest."""
        ref = Reference.parse(ref) if isinstance(ref, str) else ref
        if ref.digest:
            with self._flight(ref.digest):
                return self._get_manifest(ref)
        return self._get_manifest(ref)

    def _get_manifest(self, ref: Reference) -> Manifest:
        what = str(ref)
        digest = ref.digest
        body = self._memory_get(digest) if digest else None
        if body is None and self.cache and digest:
            body = self.cache.get(digest)
        content_type, fetched = None, body is None
        if body is None and digest is None and self.cache and ref.domain == DOCKER_HUB:
            # Docker Hub counts GETs, not HEADs, against the pull limit: ask for the digest first.
            r, _ = self.request("HEAD", ref.api_host, f"/v2/{ref.path}/manifests/{ref.identifier}",
                                scope=ref.scope(), headers={"Accept": ACCEPT}, limit=0, what=what, ref=what)
            announced = r.headers.get("Docker-Content-Digest")
            if announced:
                body = self._memory_get(announced) or self.cache.get(announced)
                digest = announced if body is not None else None
                fetched = body is None
        if body is None:
            r, body = self.request("GET", ref.api_host, f"/v2/{ref.path}/manifests/{ref.identifier}",
                                   scope=ref.scope(), headers={"Accept": ACCEPT}, limit=MANIFEST_LIMIT,
                                   what=what, ref=what)
            content_type = r.headers.get("Content-Type")
            announced = r.headers.get("Docker-Content-Digest")
            if b'"signatures"' in body and _schema_version(body) == 1:
                # A signed schema1 manifest: its digest is its payload's (the registry signs it anew
                # on each GET); the payload is kept and read, so the signatures add nothing unchecked.
                body = schema1.payload(body, what)
            if ref.digest:
                verify_digest(body, ref.digest, what)
                digest = ref.digest
            else:
                digest = announced or compute_digest(body)
                verify_digest(body, digest, f"{what} (Docker-Content-Digest)")
        self._keep(digest, body, fetched=fetched)
        try:
            data = load_json(body)
            if not isinstance(data, dict):
                raise ValueError
        except ValueError:
            raise RegistryError(f"{what}: the manifest is not a JSON object") from None
        media_type = media_type_of(data, content_type)
        if media_type not in INDEX_TYPES + IMAGE_TYPES + SCHEMA1:
            raise UnsupportedManifest(f"{what}: unknown manifest media type {media_type!r}; layerlab reads "
                                      "Docker schema2 and schema1, manifest lists and OCI manifests and indexes",
                                      ref=what)
        return Manifest(ref, digest, media_type, body, data)

    def _flight(self, key: str) -> threading.Lock:
        """One lock per key, so concurrent work that needs the same thing does it once: a digest (a
        shared config or child manifest), a host's scheme probe, the TLS context."""
        with self._lock:
            return self._inflight.setdefault(key, threading.Lock())

    def get_blob(self, ref: Reference, desc: Descriptor, limit: int = CONFIG_LIMIT) -> bytes:
        """A small blob (a config) of ``ref``'s repository, checked against the descriptor's digest and size."""
        with self._flight(desc.digest):
            return self._get_blob(ref, desc, limit)

    def _get_blob(self, ref: Reference, desc: Descriptor, limit: int) -> bytes:
        what = f"{ref.repository}@{desc.digest}"
        body = self._memory_get(desc.digest) or (self.cache.get(desc.digest) if self.cache else None)
        if body is None:
            _, body = self.request("GET", ref.api_host, f"/v2/{ref.path}/blobs/{desc.digest}", scope=ref.scope(),
                                   limit=limit, what=what, ref=str(ref))
            verify_digest(body, desc.digest, what)
        self._keep(desc.digest, body, fetched=True)
        if len(body) != desc.size:
            raise DigestMismatch(f"{what}: the blob has {len(body)} bytes but its descriptor says {desc.size}",
                                 ref=str(ref))
        return body

    def get_config(self, ref: Reference, desc: Descriptor) -> dict:
        body = self.get_blob(ref, desc)
        try:
            config = load_json(body)
        except ValueError:
            return {}  # an artifact's config need not be JSON
        return config if isinstance(config, dict) else {}

    @expects(ref=_REF, platform=OPTIONAL_TEXT)
    def inspect(self, ref: Reference | str, platform: str | None = None) -> Inspection:
        """The manifest or index of ``ref`` with every platform's manifest, config and layers."""
        ref = Reference.parse(ref) if isinstance(ref, str) else ref
        top = self.get_manifest(ref)
        images: list[PlatformImage] = []
        self._collect(top, images, platform, depth=0)
        if platform and not images:
            available = self._platforms(top)
            raise ImageNotFound(f"{ref} has no image for platform {platform!r}; it has: "
                                f"{', '.join(available) or 'none'}", ref=str(ref))
        return Inspection(ref, top.digest, top.media_type, images, self.rate_limit)

    def _platforms(self, top: Manifest) -> list[str]:
        if top.is_index:
            return [c.platform or "unknown" for c in top.children()]
        if top.is_schema1:
            return [_schema1_image(top).platform]
        return [platform_string(self.get_config(top.reference, top.config())) or "unknown"]

    def _collect(self, manifest: Manifest, images: list, platform: str | None, depth: int,
                 index_platform: str | None = None) -> None:
        ref = manifest.reference
        if manifest.is_index:
            if depth > 4:
                raise RegistryError(f"{ref}: indexes nested more than 4 deep")
            for child in manifest.children():
                if child.platform == "unknown/unknown":  # buildkit's attestations, annotated or not
                    continue
                if platform and child.platform and not platform_matches(platform, child.platform):
                    continue
                sub = self.get_manifest(ref.with_digest(child.digest))
                if len(sub.body) != child.size:
                    raise DigestMismatch(f"{ref}: child manifest {child.digest} has {len(sub.body)} bytes but "
                                         f"the index says {child.size}", ref=str(ref))
                self._collect(sub, images, platform, depth + 1, child.platform)
            return
        if manifest.is_schema1:
            image = _schema1_image(manifest, index_platform)
            if not platform or platform_matches(platform, image.platform):
                images.append(image)
            return
        config_desc = manifest.config()
        config = self.get_config(ref, config_desc)
        problem = config_problem(config)
        if problem:
            raise RegistryError(f"{ref}: config {config_desc.digest}: {problem}; the image is malformed", ref=str(ref))
        plat = index_platform or platform_string(config) or "unknown"
        if platform and not platform_matches(platform, plat):
            return
        images.append(PlatformImage(plat, manifest.digest, manifest.media_type, config_desc.digest, config,
                                    manifest.layers()))

    def _paginate(self, host: str, path: str, key: str, *, scope: str, page_size: int | None,
                  what: str) -> list[str]:
        items: list[str] = []
        params = {"n": str(page_size)} if page_size else None
        url = self.base_url(host) + path
        seen = set()
        while url:
            if len(seen) >= self.max_pages:
                raise RegistryError(f"{what}: the registry's Link pagination goes on past {self.max_pages} pages; "
                                    "refusing to follow more (pass a larger page_size, or max_pages)")
            if url in seen:
                raise RegistryError(f"{what}: the registry's Link pagination loops back to {url}")
            seen.add(url)
            r, body = self.request("GET", host, "", url=url, params=params, scope=scope, limit=LIST_LIMIT,
                                   what=what, ref=what)
            try:
                page = load_json(body).get(key) or []
            except (ValueError, AttributeError):
                raise RegistryError(f"{what}: the registry's answer is not the expected JSON") from None
            # "tags": "latest" would otherwise become six one-letter tags
            if not isinstance(page, list) or not all(isinstance(x, str) for x in page):
                raise RegistryError(f"{what}: the registry's `{key}` is not a list of strings "
                                    f"({json.dumps(page)[:80]}); the registry is misbehaving")
            items.extend(page)
            nxt = _next_link(r)
            if not nxt:
                break
            target = urljoin(url, nxt)
            if urlsplit(target).netloc != urlsplit(url).netloc:
                raise RegistryError(f"{what}: the next page is on another host ({urlsplit(target).netloc}); "
                                    "refusing to follow it")
            url, params = target, None
        return items

    @expects(repository=_REF, page_size=_PAGE_SIZE)
    def tags(self, repository: Reference | str, page_size: int | None = None) -> list[str]:
        """Every tag of ``repository``, following ``Link`` pagination."""
        repo = parse_repository(repository) if isinstance(repository, str) else repository
        return self._paginate(repo.api_host, f"/v2/{repo.path}/tags/list", "tags", scope=repo.scope(),
                              page_size=page_size, what=f"{repo.repository} tags")

    @expects(host=TEXT, page_size=_PAGE_SIZE)
    def catalog(self, host: str, page_size: int | None = None) -> list[str]:
        """Every repository on registry ``host`` (distribution's ``_catalog``), following pagination."""
        api_host = "registry-1.docker.io" if host == DOCKER_HUB else host
        return self._paginate(api_host, "/v2/_catalog", "repositories", scope="registry:catalog:*",
                              page_size=page_size, what=f"{host} catalog")
