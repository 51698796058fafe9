"""``docker://REF``: an image in a registry, file by file, as an Inventory; nothing is extracted to disk.

The manifest (or index: ``platform`` picks one, default this host's), config and layer blobs come
through :class:`RegistryClient` (auth, TLS, proxies, retries). Each layer blob is streamed: hashed
as it arrives (a blob that does not hash to its digest is refused, never analysed), decompressed
and read as a tar stream by ``tarstream``; layers are fetched concurrently by a bounded pool.
Verified blobs are kept in a size-bounded cache by digest (:class:`LayerCache`), so a second audit
of images sharing a base downloads only what is new; ``layerlab cache clear`` empties it.
"""

from __future__ import annotations

import os
import re
import stat
import threading
from pathlib import Path

from ...errors import (DigestMismatch, ImageNotFound, LayerDigestMismatch, LayerlabError, RegistryError,
                       UnsupportedManifest)
from ..imageset import ImageEntry, LayerBlob, build_inventory
from ..layerfiles.tarstream import LayerRead, read_layer
from .client import RegistryClient, compute_digest, default_cache_dir
from ...oci.manifest import LAYER_TYPES, SCHEMA1, host_platform
from .deadline import body_deadline, read_some
from ...oci.schema1 import Schema1
from ..foreign import check_choice, foreign_urls, read_foreign
from ...oci.reference import Reference
from ...untrusted import load_json

#: Default bound of the layer cache; ``LAYERLAB_LAYER_CACHE_BYTES`` overrides it (0: no cache).
DEFAULT_CACHE_BYTES = 4 << 30


def default_layer_cache_dir() -> Path:
    return default_cache_dir().parent / "layers"


def _cache_bytes_from_env() -> int:
    """``LAYERLAB_LAYER_CACHE_BYTES`` as a byte count (``20GB``, ``1073741824``), or the default."""
    from ...untrusted import parse_size

    text = os.environ.get("LAYERLAB_LAYER_CACHE_BYTES")
    if text is None:
        return DEFAULT_CACHE_BYTES
    try:
        return parse_size(text, "LAYERLAB_LAYER_CACHE_BYTES")
    except ValueError as e:
        raise LayerlabError(f"{e} (or unset it for the default, {DEFAULT_CACHE_BYTES} bytes)") from None


class LayerCache:
    """Verified layer blobs by digest (``<dir>/<alg>/<hex>``), least recently used dropped first so the
    total stays under ``max_bytes``. A damaged entry is noticed when read (its digest is checked
    again) and fetched anew."""

    def __init__(self, directory: str | os.PathLike | None = None, max_bytes: int | None = None):
        self.directory = Path(directory or default_layer_cache_dir())
        if max_bytes is None:
            max_bytes = _cache_bytes_from_env()
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def path(self, digest: str) -> Path:
        alg, _, hexpart = digest.partition(":")
        if not hexpart or "/" in hexpart or "/" in alg:
            raise ValueError(f"not a digest: {digest!r}")
        return self.directory / alg / hexpart

    def open(self, digest: str):
        """The cached blob opened for reading, or None."""
        p = self.path(digest)
        try:
            f = open(p, "rb")
        except OSError:
            return None
        try:
            os.utime(p)  # most recently used
        except OSError:
            pass
        return f

    def discard(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    def writer(self, digest: str, size: int) -> "_Entry | None":
        """A file to stream ``digest``'s blob into (committed once verified), or None when it cannot be
        cached (larger than the cache, or the directory is not writable)."""
        if size > self.max_bytes:
            return None
        final = self.path(digest)
        tmp = final.with_name(f".{final.name}.{os.getpid()}.{threading.get_ident()}")
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            return _Entry(self, open(tmp, "wb"), tmp, final)
        except OSError:
            return None

    def _own(self, stale_temps: bool = False) -> list[tuple[Path, int, float]]:
        """The files the cache can prove are its own: under a digest algorithm's folder that is no
        symbolic link, a regular file named by a digest of that algorithm, or (``stale_temps``) a
        temp file it wrote (``.<hex>.<pid>.<thread>``) whose writer is gone (killed mid-download).
        Nothing else in the folder, nor anything one level below another subfolder, is ever counted
        or removed."""
        out: list[tuple[Path, int, float]] = []
        try:
            top = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return out
        try:
            for alg, hex_len in _DIGEST_HEX.items():
                try:  # O_NOFOLLOW: a symlinked sha256/ of the cache is not followed
                    fd = os.open(alg, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=top)
                except OSError:
                    continue
                try:
                    for name in os.listdir(fd):
                        m = _TEMP.fullmatch(name)
                        if m is None and not (len(name) == hex_len and _HEX.fullmatch(name)):
                            continue
                        if m is not None and not (stale_temps and len(m[1]) == hex_len and _writer_gone(int(m[2]))):
                            continue
                        try:
                            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                        except OSError:
                            continue
                        if stat.S_ISREG(st.st_mode):
                            out.append((self.directory / alg / name, st.st_size, st.st_mtime))
                finally:
                    os.close(fd)
        finally:
            os.close(top)
        return out

    def entries(self) -> list[tuple[Path, int, float]]:
        """The cached blobs and the temp files of downloads killed midway: (path, bytes, mtime)."""
        return self._own(stale_temps=True)

    def usage(self) -> tuple[int, int]:
        """(blobs, bytes) in the cache (stale temp files of killed downloads included)."""
        e = self.entries()
        return len(e), sum(s for _, s, _ in e)

    def prune(self) -> None:
        """Drop the least recently used blobs until the cache holds at most ``max_bytes``."""
        with self._lock:
            entries = sorted(self.entries(), key=lambda e: e[2])
            total = sum(s for _, s, _ in entries)
            for p, s, _ in entries:
                if total <= self.max_bytes:
                    break
                _unlink_own(p)
                total -= s

    def clear(self) -> tuple[int, int]:
        """Remove every cached blob (and stale temp file); returns (blobs, bytes) removed."""
        entries = self.entries()
        for p, _, _ in entries:
            _unlink_own(p)
        return len(entries), sum(s for _, s, _ in entries)


#: The digest algorithms the cache keeps blobs of, and the length of their hex digests.
_DIGEST_HEX = {"sha256": 64, "sha512": 128}
_HEX = re.compile(r"[0-9a-f]+")
#: A blob being downloaded: ``.<hex>.<pid>.<thread id>`` (see ``writer``).
_TEMP = re.compile(r"\.([0-9a-f]+)\.([0-9]+)\.[0-9]+")


def _writer_gone(pid: int) -> bool:
    """Whether the process that wrote a temp file has ended (its download can never complete)."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


def _unlink_own(path: Path) -> None:
    """Remove one of the cache's files, opening its folder with O_NOFOLLOW (no symlinked folder)."""
    try:
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.unlink(path.name, dir_fd=fd)
    except FileNotFoundError:
        pass
    finally:
        os.close(fd)


class _Entry:
    def __init__(self, cache: LayerCache, f, tmp: Path, final: Path):
        self.cache, self.f, self.tmp, self.final = cache, f, tmp, final

    def write(self, data: bytes) -> None:
        if self.f is not None:
            try:
                self.f.write(data)
            except OSError:  # a full disk only costs the cache
                self.abort()

    def commit(self) -> None:
        if self.f is None:
            return
        self.f.close()
        self.f = None
        os.replace(self.tmp, self.final)
        self.cache.prune()

    def abort(self) -> None:
        if self.f is not None:
            self.f.close()
            self.f = None
        self.tmp.unlink(missing_ok=True)


def _layer_reader(client: RegistryClient, ref: Reference, desc, diff_id: str, cache: LayerCache | None,
                  verify: bool = True, hash_files: bool = False):
    what = f"{ref.repository}@{desc.digest}"

    def read(layer_id: str) -> LayerRead:
        if cache is not None:
            f = cache.open(desc.digest)
            if f is not None:
                with f:
                    try:
                        return read_layer(f.read, layer_id, f"{what} (cached in {cache.directory})",
                                          blob_digest=desc.digest, hash_tar=verify, hash_files=hash_files)
                    except LayerDigestMismatch:
                        pass  # damaged in the cache: fetch it again
                cache.discard(desc.digest)
        return _fetch(client, ref, desc, layer_id, what, cache, verify, hash_files)

    return read


def _fetch(client: RegistryClient, ref: Reference, desc, layer_id: str, what: str, cache: LayerCache | None,
           verify: bool = True, hash_files: bool = False) -> LayerRead:
    # The answer must start within the client's deadline and the body keep coming (64 KiB per
    # deadline at least): a registry that stays silent or drips the blob fails, saying so.
    with body_deadline(client.deadline) as progress:
        try:
            return _fetch_within(client, ref, desc, layer_id, what, cache, verify, hash_files, progress)
        except Exception:
            if progress.fired.is_set():
                raise RegistryError(f"{what}: the blob did not come within the {format(client.deadline, 'g')} s "
                                    "deadline (less than 64 KiB in that time); the registry is too slow or "
                                    "misbehaving (raise it with LAYERLAB_NETWORK_DEADLINE)", ref=str(ref)) from None
            raise


def _fetch_within(client: RegistryClient, ref: Reference, desc, layer_id: str, what: str, cache: LayerCache | None,
                  verify: bool, hash_files: bool, progress) -> LayerRead:
    r = client.open("GET", ref.api_host, f"/v2/{ref.path}/blobs/{desc.digest}", scope=ref.scope(), what=what,
                    ref=str(ref))
    entry = cache.writer(desc.digest, desc.size) if cache is not None else None
    done = False
    received = 0

    def read(n: int) -> bytes:
        nonlocal received
        if desc.size >= 0 and received > desc.size:  # a body longer than the manifest says: read no further
            raise DigestMismatch(f"{what}: the registry sent more than the {desc.size} bytes the manifest says; "
                                 "the registry or something between it and you altered the content", ref=str(ref))
        try:
            data = read_some(r, n)  # what one receive brings, so progress is seen as it comes
            progress.arrived(len(data))
            received += len(data)
        except Exception as e:  # urllib3's ProtocolError/ReadTimeoutError and OSError alike
            raise RegistryError(f"{what}: the connection broke while reading the blob ({type(e).__name__}); "
                                "try again", ref=str(ref)) from None
        if entry is not None and data:
            entry.write(data)
        return data

    try:
        got = read_layer(read, layer_id, what, blob_digest=desc.digest, hash_tar=verify, hash_files=hash_files)
        done = True
    except LayerDigestMismatch as e:
        raise DigestMismatch(f"{e}; the registry or something between it and you altered the content",
                             ref=str(ref)) from None
    finally:
        if not done and entry is not None:
            entry.abort()
        if done:
            r.release_conn()
        else:
            r.close()
    if desc.size >= 0 and got.blob_size != desc.size:  # a schema1 manifest gives no sizes (-1)
        if entry is not None:
            entry.abort()
        raise DigestMismatch(f"{what}: the blob has {got.blob_size} bytes but the manifest says {desc.size}",
                             ref=str(ref))
    if entry is not None:
        entry.commit()
    return got


def _foreign_reader(client, ref, desc, diff_id, urls, foreign_layers, hash_files):
    def read(layer_id: str) -> LayerRead:
        return read_foreign(urls, desc.digest, desc.size, layer_id, f"{ref.repository}@{desc.digest}",
                            foreign_layers=foreign_layers, client=client, diff_id=diff_id, hash_files=hash_files)

    return read


def registry_image(client: RegistryClient, reference: str | Reference, platform: str | None = None,
                   cache: LayerCache | None = None, verify: bool = True, hash_files: bool = False,
                   foreign_layers: str = "fetch") -> ImageEntry:
    """The image ``reference`` names (one platform of an index), with layers read from the registry.
    ``verify=False``: the uncompressed tars are not hashed, so not checked against the config's diff
    IDs (the blobs are still checked against their digests). ``hash_files``: every regular file gets
    its SHA-256 as its layer streams."""
    ref = Reference.parse(reference) if isinstance(reference, str) else reference
    try:
        info = client.inspect(ref, platform=platform or host_platform())
    except ImageNotFound:
        if platform:
            raise
        info = client.inspect(ref)  # a single image for another platform: read it, as docker pulls it
        if len(info.images) != 1:
            raise
    image = info.images[0]
    if image.media_type in SCHEMA1:
        return _schema1_entry(client, ref, image, cache, hash_files)
    diff_ids = (image.config.get("rootfs") or {}).get("diff_ids") or []
    if len(diff_ids) != len(image.layers):
        raise RegistryError(f"{ref}: the manifest names {len(image.layers)} layers but the config has "
                            f"{len(diff_ids)} diff IDs; the image is damaged", ref=str(ref))
    blobs = []
    for desc, diff_id in zip(image.layers, diff_ids):
        if desc.media_type not in LAYER_TYPES:
            raise UnsupportedManifest(f"{ref}: layer {desc.digest} has the unknown media type {desc.media_type!r}; "
                                      "layerlab reads tar layers, gzip, zstd or uncompressed", ref=str(ref))
        read = _layer_reader(client, ref, desc, diff_id, cache, verify, hash_files)
        urls = foreign_urls({"urls": list(desc.urls)}, desc.media_type)
        if urls:  # a foreign layer: from its urls, as skopeo fetches it (the registry does not hold it)
            read = _foreign_reader(client, ref, desc, diff_id, urls, foreign_layers, hash_files)
        blobs.append(LayerBlob(diff_id, read,
                               f"{ref.repository}@{desc.digest}", digest=desc.digest, size=desc.size,
                               media_type=desc.media_type))
    return ImageEntry(image.config_digest, image.config, blobs, **_names(ref, image))


def _names(ref: Reference, image) -> dict:
    repo = Reference.parse(ref.repository).familiar.rsplit(":", 1)[0]
    tags = [ref.with_tag(ref.tag).familiar] if ref.tag else []
    return {"tags": tags, "digests": [f"{repo}@{image.digest}"]}


def _schema1_entry(client: RegistryClient, ref: Reference, image, cache: LayerCache | None,
                   hash_files: bool) -> ImageEntry:
    """A schema1 image as skopeo converts it: its manifest names no diff IDs, so its layers are read
    first (each once, checked against its blob digest) and the config is synthesized from the
    v1Compatibility history with the diff IDs they hash to; the image ID is that config's digest."""
    from concurrent.futures import ThreadPoolExecutor

    s1 = Schema1(client.get_manifest(ref.with_digest(image.digest)).data, str(ref))
    readers = [_layer_reader(client, ref, desc, "", cache, True, hash_files) for desc in image.layers]
    with ThreadPoolExecutor(max_workers=max(1, min(client.max_workers, len(readers)))) as pool:
        reads = list(pool.map(lambda read: read(""), readers))
    config_bytes = s1.config([r.diff_id for r in reads])
    config = load_json(config_bytes)

    def given(got: LayerRead):
        return lambda layer_id: got

    blobs = [LayerBlob(got.diff_id, given(got), f"{ref.repository}@{desc.digest}", digest=desc.digest,
                       size=got.blob_size, media_type=desc.media_type) for desc, got in zip(image.layers, reads)]
    return ImageEntry(compute_digest(config_bytes), config, blobs, **_names(ref, image))


def open_registry_image(reference: str, *, platform: str | None = None, client: RegistryClient | None = None,
                        cache: LayerCache | bool | None = None, workers: int | None = None,
                        progress: bool | None = None, verify: bool = True, hash_files: bool = False,
                        foreign_layers: str = "fetch"):
    """Open a registry image (``docker://`` without the prefix) as an Inventory of the contract's frames.

    ``platform`` (``os/arch[/variant]``) picks an image from an index; default this host's.
    ``client`` defaults to a :class:`RegistryClient` with the user's docker config. ``cache``: a
    :class:`LayerCache`, False for none, or None for the default (``~/.cache/layerlab/layers``,
    bounded by ``LAYERLAB_LAYER_CACHE_BYTES``, default 4 GiB). Every blob is checked against its
    digest and every uncompressed layer against the config's diff ID; ``verify=False`` leaves out the
    second check (the tars are not hashed: about a third less work for gzip layers). ``hash_files``:
    every regular file gets its SHA-256 (``files.sha256``), hashed as its layer streams.
    ``foreign_layers``: "fetch" (default) reads a foreign layer from its ``urls``, checked, with no
    credential sent; "skip" leaves it out, listed in the ``skipped`` frame (sources/foreign.py).
    """
    check_choice(foreign_layers)
    own = client is None
    client = client or RegistryClient()
    if cache is None:
        cache = LayerCache()
        if cache.max_bytes <= 0:
            cache = None
    elif cache is False:
        cache = None
    try:
        image = registry_image(client, reference, platform, cache, verify, hash_files, foreign_layers)
    except BaseException:
        if own:
            client.close()
        raise
    cfg = image.config
    meta = {"source": f"docker://{reference}", "image_store": "registry", "driver": None,
            "platform": "/".join(p for p in (cfg.get("os"), cfg.get("architecture"), cfg.get("variant")) if p)}
    return build_inventory([image], meta, workers=workers or min(client.max_workers, max(1, len(image.layers))),
                           progress=progress)
