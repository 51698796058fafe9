"""The blob stores the archive and layout readers share: what each reader asks of an image's storage
(which blobs it has, a small JSON blob's bytes, a layer read as a tar stream, where a blob is, for
messages), answered by a tar archive (``TarStore``: plain, random access; ``StreamedTarStore``: gzip or
zstd, one pass) or a layout directory (``DirStore``), and the steps filled in once over any of them:
a blob checked against its digest, a layer blob, a foreign layer read from its ``urls``.

A plain archive is random access: its member index is read first (headers only) and each layer is
read from its offset. A compressed archive can only be read front to back, so it is read in one
pass: small members (configs, manifests) are kept, larger ones are read as layers as they go by.
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import tarfile
import zlib

from .._files import open_file
from ..errors import ArchiveError, CorruptMetadata, LayerDigestMismatch
from ..untrusted import load_json
from .foreign import read_foreign
from .imageset import LayerBlob
from .layerfiles.tarstream import (GZIP_MAGIC, LayerRead, is_zstd, read_layer, read_layer_file,
                                  read_layer_unverified, unzstd_file)

#: Members up to this size are kept in memory when a compressed archive is streamed.
SMALL = 1 << 20
#: A JSON document (manifest, index, config) larger than this is refused, not read into memory.
JSON_LIMIT = 64 << 20


def read_json_blob(data: bytes, what: str, expected: str):
    try:
        return load_json(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ArchiveError(f"{what} is not valid JSON ({e}); expected {expected}", path=what) from None


class _Window:
    """``read`` over one member's bytes of an open archive file."""

    def __init__(self, path: str, offset: int, size: int):
        self._f = open(path, "rb")
        self._f.seek(offset)
        self._left = size

    def read(self, n: int) -> bytes:
        if self._left <= 0:
            return b""
        data = self._f.read(min(n, self._left))
        self._left -= len(data)
        if not data:
            raise ArchiveError(f"{self._f.name} ends inside a member (truncated); save the image again",
                               path=self._f.name)
        return data

    def close(self) -> None:
        self._f.close()


class MemberFile(io.RawIOBase):
    """One member's bytes of an archive file, seekable (tarfile seeks past contents it does not read)."""

    def __init__(self, path: str, offset: int, size: int):
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        self._offset, self._size, self._pos = offset, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = max(0, min(len(b), self._size - self._pos))
        data = os.pread(self._fd, n, self._offset + self._pos) if n else b""
        b[:len(data)] = data
        self._pos += len(data)
        return len(data)

    def seek(self, pos: int, whence: int = 0) -> int:
        self._pos = {0: pos, 1: self._pos + pos, 2: self._size + pos}[whence]
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


class TarStore:
    """Members of an uncompressed tar archive, read in place (links between members followed)."""

    def __init__(self, path: str, verify: bool = True, hash_files: bool = False):
        self.path = path
        self.verify = verify
        self.hash_files = hash_files
        try:
            members = _plain_members(path)
            if members is None:
                with tarfile.open(path, "r:", encoding="utf-8", errors="surrogateescape") as tf:
                    members = tf.getmembers()
        except tarfile.ReadError as e:
            raise ArchiveError(_bad_tar(path, e), path=path) from None
        except EOFError:
            raise ArchiveError(f"{path} ends in the middle of a member (truncated); save the image again",
                               path=path) from None
        self._members = {posixpath.normpath(m.name.lstrip("./") or "."): m for m in members}
        self._members.update({m.name: m for m in members})

    def names(self) -> set[str]:
        return {n for n, m in self._members.items() if m.isreg()}

    def _member(self, name: str, depth: int = 0) -> tarfile.TarInfo | None:
        m = self._members.get(name) or self._members.get(posixpath.normpath(name))
        if m is None or depth > 8:
            return None
        if m.issym():  # the classic form links a layer saved for another image: ../<id>/layer.tar
            return self._member(posixpath.normpath(posixpath.join(posixpath.dirname(m.name), m.linkname)), depth + 1)
        if m.islnk():
            return self._member(m.linkname, depth + 1)
        return m if m.isreg() else None

    def has(self, name: str) -> bool:
        return self._member(name) is not None

    def size(self, name: str) -> int | None:
        m = self._member(name)
        return m.size if m else None

    def read_bytes(self, name: str, limit: int = JSON_LIMIT) -> bytes:
        m = self._need(name)
        if m.size > limit:
            raise ArchiveError(f"{self.where(name)} has {m.size} bytes, too many for a manifest or config",
                               path=self.path)
        w = _Window(self.path, m.offset_data, m.size)
        try:
            return b"".join(iter(lambda: w.read(1 << 20), b""))
        finally:
            w.close()

    def read_layer(self, name: str, layer_id: str, **expect) -> LayerRead:
        m = self._need(name)
        with open(self.path, "rb") as f:
            f.seek(m.offset_data)
            if not self.verify:
                return read_layer_unverified(f, m.offset_data + m.size, layer_id, self.where(name),
                                             hash_files=self.hash_files)
            return read_layer_file(f, m.offset_data + m.size, layer_id, self.where(name),
                                   blob_digest=expect.get("blob_digest"), diff_id=expect.get("diff_id"),
                                   hash_files=self.hash_files)

    def open_member(self, name: str):
        """A seekable, read-only file object over the member's bytes."""
        m = self._need(name)
        return io.BufferedReader(MemberFile(self.path, m.offset_data, m.size), 1 << 16)

    def _need(self, name: str) -> tarfile.TarInfo:
        m = self._member(name)
        if m is None:
            raise ArchiveError(f"{self.where(name)} is missing: the archive lacks a blob its manifest names; "
                               "save or copy the image again", path=self.path)
        return m

    def where(self, name: str) -> str:
        return f"{self.path}:{name}"


_TYPE_OF_KIND = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
                 "hardlink": tarfile.LNKTYPE,
                 "char": tarfile.CHRTYPE, "block": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE}


def _plain_members(path: str) -> list[tarfile.TarInfo] | None:
    """The members of a tar whose headers are all plain blocks (what `docker save` and skopeo write),
    each block read by ``fast_header`` as tarfile would read it; None when one needs tarfile (PAX or
    GNU records, a bad checksum, an archive cut short, no tar at all), which then reads them all and
    says what is wrong. Hand-rolled because tarfile takes some 40 µs a member, and a `docker save`
    archive has about four members a layer: most of the per-layer time of reading small layers."""
    from .layerfiles.tarheader import BLOCK, fast_header

    members: list[tarfile.TarInfo] = []
    with open(path, "rb") as f:
        fd = f.fileno()
        end = os.fstat(fd).st_size
        pos = 0
        while pos + BLOCK <= end:
            block = os.pread(fd, BLOCK, pos)
            if block.count(0) == BLOCK:  # end-of-archive
                return members or None
            header = fast_header(block)
            if header is None:
                return None
            info = tarfile.TarInfo(header.name)
            info.type, info.size = _TYPE_OF_KIND[header.kind], header.size
            info.linkname, info.mode = header.linkname, header.mode
            info.offset, info.offset_data = pos, pos + BLOCK
            pos += BLOCK + -(-header.data_size // BLOCK) * BLOCK
            if pos > end:
                return None
            members.append(info)
    return members if pos == end and members else None


class StreamedTarStore:
    """Members of a compressed tar archive, read in one pass: small ones kept, large ones read as layers."""

    def __init__(self, path: str, progress: bool | None = None, fileobj=None, hash_files: bool = False):
        self.path = path
        self._small: dict[str, bytes] = {}
        self._layers: dict[str, LayerRead | ArchiveError] = {}
        self._links: dict[str, str] = {}
        self._sizes: dict[str, int] = {}
        self.hash_files = hash_files
        try:
            opened = (tarfile.open(fileobj=fileobj, mode="r|", encoding="utf-8", errors="surrogateescape") if fileobj
                      else tarfile.open(path, "r|*", encoding="utf-8", errors="surrogateescape"))
            with opened as tf:
                for m in tf:
                    name = posixpath.normpath(m.name)
                    if m.issym():
                        self._links[name] = posixpath.normpath(posixpath.join(posixpath.dirname(name), m.linkname))
                        continue
                    if m.islnk():
                        self._links[name] = posixpath.normpath(m.linkname)
                        continue
                    if not m.isreg():
                        continue
                    self._sizes[name] = m.size
                    f = tf.extractfile(m)
                    if m.size <= SMALL:
                        self._small[name] = f.read()
                    else:
                        try:
                            self._layers[name] = read_layer(f.read, "", self.where(name), hash_files=hash_files)
                        except ArchiveError as e:  # kept: it matters only if the name is a layer
                            self._layers[name] = e
        except (tarfile.ReadError, EOFError, zlib.error, OSError) as e:
            raise ArchiveError(_bad_tar(path, e), path=path) from None

    def _resolve(self, name: str) -> str:
        name = posixpath.normpath(name)
        for _ in range(8):
            if name not in self._links:
                break
            name = self._links[name]
        return name

    def names(self) -> set[str]:
        return set(self._sizes)

    def has(self, name: str) -> bool:
        return self._resolve(name) in self._sizes

    def size(self, name: str) -> int | None:
        return self._sizes.get(self._resolve(name))

    def read_bytes(self, name: str, limit: int = JSON_LIMIT) -> bytes:
        key = self._resolve(name)
        if key in self._small:
            return self._small[key]
        if key in self._sizes:
            raise ArchiveError(f"{self.where(name)} has {self._sizes[key]} bytes, too many for a manifest or config",
                               path=self.path)
        raise self._missing(name)

    def read_layer(self, name: str, layer_id: str, *, blob_digest=None, diff_id=None, compression=None) -> LayerRead:
        key = self._resolve(name)
        if key in self._small:
            from .layerfiles.tarstream import read_layer_bytes

            return read_layer_bytes(self._small[key], layer_id, self.where(name), blob_digest=blob_digest,
                                    diff_id=diff_id, compression=compression, hash_files=self.hash_files)
        got = self._layers.get(key)
        if got is None:
            raise self._missing(name)
        if isinstance(got, ArchiveError):
            raise got
        if blob_digest and got.blob_digest != blob_digest:
            raise LayerDigestMismatch(f"{self.where(name)}: the blob hashes to {got.blob_digest}, not {blob_digest} "
                                      "as it is named; it is damaged or was altered, and is not analysed",
                                      path=self.path)
        got.rows.layer_id = layer_id
        return got

    def _missing(self, name: str) -> ArchiveError:
        return ArchiveError(f"{self.where(name)} is missing: the archive lacks a blob its manifest names; "
                            "save or copy the image again", path=self.path)

    def where(self, name: str) -> str:
        return f"{self.path}:{name}"


def _bad_tar(path: str, e: Exception) -> str:
    text = str(e)
    if "unexpected end" in text or isinstance(e, EOFError) or "Compressed file ended" in text:
        return f"{path} ends in the middle of a member (truncated); save or copy the image again"
    return (f"{path} is not a tar archive ({text or type(e).__name__}); expected `docker save` output or an "
            "OCI archive (a tar, optionally gzip or zstd compressed)")


def open_tar_store(path: str, progress: bool | None = None, verify: bool = True, hash_files: bool = False):
    """A member store for the archive at ``path``: random access when plain, one pass when compressed.
    ``verify=False``: uncompressed layers of a plain archive are read headers only (see open_archive);
    ``hash_files``: layers' regular files get their SHA-256 as they stream."""
    try:
        with open_file(path, ArchiveError, expected="an image archive",
                       hint="give a `docker save` or OCI archive file") as f:
            head = f.read(4)
    except IsADirectoryError:
        raise ArchiveError(f"{path} is a directory; an archive is a file (for an OCI layout directory use oci:{path})",
                           path=path) from None
    except FileNotFoundError:
        raise ArchiveError(f"{path} does not exist; give the path of a `docker save` archive", path=path) from None
    except OSError as e:  # a symlink loop (ELOOP), a name too long, permission denied, ...
        raise ArchiveError(f"{path} cannot be opened ({e.strerror or e}); give the path of a `docker save` "
                           "archive you can read", path=path) from None
    if is_zstd(head):  # a zstd frame, or pzstd's skippable frame before one
        return _zstd_store(path, progress, hash_files)
    if head.startswith(GZIP_MAGIC):
        return StreamedTarStore(path, progress, hash_files=hash_files)
    return TarStore(path, verify, hash_files)


def not_an_image(path: str) -> ArchiveError:
    """The error for a tar that holds neither `docker save` output nor an OCI layout."""
    return ArchiveError(f"{path} is a tar archive but not an image: it has neither manifest.json (`docker save` "
                        "output) nor index.json (an OCI layout); expected the output of `docker save` or "
                        "`skopeo copy ... oci-archive:`", path=path)


def _zstd_store(path: str, progress, hash_files: bool = False) -> "StreamedTarStore":
    # tarfile reads gzip, bz2 and xz itself; a zstd stream (one frame, or many as pzstd writes them,
    # skippable frames between) is handed to it already decompressing.
    with open(path, "rb") as raw:
        try:
            return StreamedTarStore(path, progress, fileobj=unzstd_file(raw, path), hash_files=hash_files)
        except ArchiveError as e:
            raise ArchiveError(_bad_tar(path, e) if "zstd stream" not in str(e) else str(e), path=path) from None
        except Exception as e:
            if type(e).__name__ == "ZstdError":
                raise ArchiveError(_bad_tar(path, e), path=path) from None
            raise


def named_digest(name: str) -> str | None:
    """The digest a member named ``blobs/<alg>/<hex>`` must hash to (the OCI form names blobs so)."""
    parts = posixpath.normpath(name).split("/")
    if len(parts) >= 3 and parts[-3] == "blobs" and parts[-2] == "sha256" and len(parts[-1]) == 64:
        return "sha256:" + parts[-1]
    return None


def layer_blob(store, name: str, diff_id: str, *, digest: str | None = None, size: int | None = None,
          media_type: str | None = None) -> LayerBlob:
    named = digest or named_digest(name)
    if not store.has(name):
        raise ArchiveError(f"{store.where(name)} is missing: the image's manifest names this layer blob but the "
                           "archive or layout does not hold it; save or copy the image again", path=store.path)

    def read(layer_id: str) -> LayerRead:
        # The compression is sniffed from the blob, not taken from the media type: a Docker schema2
        # manifest names uncompressed layers (skopeo from a daemon) "tar.gzip", as containerd allows.
        return store.read_layer(name, layer_id, blob_digest=named, diff_id=diff_id)

    opener = getattr(store, "open_member", None)
    return LayerBlob(diff_id, read, store.where(name), digest=named or diff_id,
                     size=size if size is not None else store.size(name), media_type=media_type,
                     open=(lambda: opener(name)) if opener else None)


def blob_name(digest: str, what: str, store) -> str:
    alg, _, hexpart = (digest or "").partition(":")
    if not alg or not hexpart or "/" in hexpart or alg not in ("sha256", "sha512"):
        raise ArchiveError(f"{what}: {digest!r} is not a digest layerlab can look up (sha256:<hex>)", path=store.path)
    return f"blobs/{alg}/{hexpart}"


def verified(store, desc: dict, what: str) -> bytes:
    digest = desc.get("digest")
    name = blob_name(digest, what, store)
    data = store.read_bytes(name)
    alg, _, hexpart = digest.partition(":")
    got = hashlib.new(alg, data).hexdigest()
    if got != hexpart:
        raise LayerDigestMismatch(f"{store.where(name)}: the blob hashes to {alg}:{got}, not {digest} as it is "
                                  "named; it is damaged or was altered, and is not analysed", path=store.path)
    return data


def foreign_blob(store, name: str, diff_id: str, desc: dict, urls: list[str], foreign_layers: str) -> LayerBlob:
    """A foreign layer a layout or archive does not hold, read from its ``urls`` (sources/foreign.py)."""
    digest, size = desc.get("digest"), desc.get("size")

    def read(layer_id: str) -> LayerRead:
        return read_foreign(urls, digest, size, layer_id, store.where(name), foreign_layers=foreign_layers,
                            diff_id=diff_id, hash_files=store.hash_files)

    return LayerBlob(diff_id, read, store.where(name), digest=digest, size=size, media_type=desc.get("mediaType"))


class DirStore:
    """Blobs of an OCI layout directory, read in place."""

    def __init__(self, path: str, verify: bool = True, hash_files: bool = False):
        self.path = path
        # Imported here: _reader brings pandas, whose import the layer reads overlap (open_source).
        from ._reader import confine

        confine(path)  # index.json, blobs/ and each blob are read only inside the layout
        self.verify = verify
        self.hash_files = hash_files

    def _file(self, name: str) -> str:
        return os.path.join(self.path, *name.split("/"))

    def _open(self, name: str):
        """The blob or file ``name``, opened only if it is a regular file inside the layout (a FIFO, a
        device or a symbolic link, on the way or at the end, is refused: never waited on or followed)."""
        try:
            from ._reader import open_regular

            return open_regular(self._file(name), limit=None)
        except CorruptMetadata as e:
            raise ArchiveError(str(e), path=self._file(name)) from None

    def has(self, name: str) -> bool:
        return os.path.isfile(self._file(name))

    def size(self, name: str) -> int | None:
        try:
            return os.stat(self._file(name)).st_size
        except OSError:
            return None

    def read_bytes(self, name: str, limit: int = JSON_LIMIT) -> bytes:
        try:
            with self._open(name) as f:
                data = f.read(limit + 1)
        except FileNotFoundError:
            raise ArchiveError(f"{self.where(name)} is missing: the layout lacks a blob its index or a manifest "
                               "names; copy the image into the layout again", path=self._file(name)) from None
        if len(data) > limit:
            raise ArchiveError(f"{self.where(name)} is too large for a manifest or config", path=self._file(name))
        return data

    def read_layer(self, name: str, layer_id: str, **expect) -> LayerRead:
        try:
            f = self._open(name)
        except FileNotFoundError:
            raise ArchiveError(f"{self.where(name)} is missing: the layout lacks a layer blob a manifest names; "
                               "copy the image into the layout again", path=self._file(name)) from None
        with f:
            size = os.fstat(f.fileno()).st_size
            if not self.verify:
                return read_layer_unverified(f, size, layer_id, self.where(name), hash_files=self.hash_files)
            return read_layer_file(f, size, layer_id, self.where(name), blob_digest=expect.get("blob_digest"),
                                   diff_id=expect.get("diff_id"), hash_files=self.hash_files)

    def open_member(self, name: str):
        return open(self._file(name), "rb")

    def where(self, name: str) -> str:
        return self._file(name)
