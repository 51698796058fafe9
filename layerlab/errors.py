"""layerlab's errors: one base class, subclasses that also inherit the matching built-in.

Each message names the path or reference and says what to try next.
"""

from __future__ import annotations


class LayerlabError(Exception):
    """Base class of every error layerlab raises on purpose."""

    def __init__(self, message: str, *, path: str | None = None, ref: str | None = None):
        super().__init__(message)
        self.path = path
        self.ref = ref


class NotADataRoot(LayerlabError, ValueError):
    """The path is not a Docker (or containerd) data root layerlab can read."""


class UnsupportedStore(LayerlabError, NotImplementedError):
    """A store layerlab recognises but cannot read yet."""


class DataRootPermissionError(LayerlabError, PermissionError):
    """Parts of the data root are not readable by this user."""


class CorruptMetadata(LayerlabError, ValueError):
    """A metadata file (JSON, size, link) exists but cannot be parsed."""


class ImageNotFound(LayerlabError, LookupError):
    """No image matches the given name, tag, ID or ID prefix."""


class SnapshotError(LayerlabError, ValueError):
    """A .layerlab snapshot is missing, incomplete or of an unknown version."""


class OutputError(LayerlabError, OSError):
    """An output path cannot be written, or holds something layerlab will not replace."""


class SchemaError(LayerlabError, ValueError):
    """A frame does not match the contract in layerlab.frames.schema."""


class RegistryError(LayerlabError, OSError):
    """A registry could not be reached or answered with an error (the message names the URL)."""


class AuthError(RegistryError, PermissionError):
    """A registry refused the credentials, or asked for credentials layerlab does not have."""


class DigestMismatch(RegistryError, ValueError):
    """A manifest or blob body does not hash to the digest it was asked for or announced."""


class RateLimited(RegistryError):
    """A registry kept answering 429 Too Many Requests after the bounded retries."""


class UnsupportedManifest(RegistryError, NotImplementedError):
    """A manifest kind layerlab does not read (schema1, an unknown media type)."""


class ManifestNotFound(RegistryError, ImageNotFound):
    """The registry has no manifest (or repository) for the reference."""


class StorageError(LayerlabError, OSError):
    """An object store holding a registry's storage could not be read: no such bucket, an endpoint
    that does not answer, throttling that outlasted the retries (the message names the URL)."""


class StorageAuthError(StorageError, PermissionError):
    """An object store refused the credentials (or there were none)."""


class BoltError(CorruptMetadata):
    """A bbolt database (containerd's meta.db, a snapshotter's metadata.db) is missing, truncated,
    not a bbolt file, or unreadable."""


class ArchiveError(LayerlabError, ValueError):
    """An image archive or OCI layout is not an image, is truncated, lacks a blob, or holds a media
    type or compression layerlab does not read (the message names the file and what was expected)."""


class LayerDigestMismatch(ArchiveError):
    """A layer blob does not hash to the digest it is named by, or to its config's diff ID; it is
    refused, never analysed."""


class ReportError(LayerlabError, RuntimeError):
    """A report could not be made: an unknown parameter, a missing notebook, or a failed cell."""


class NotebookFailed(ReportError):
    """A notebook cell raised while a report ran it; the executed notebook is kept at ``path``.

    ``cell`` is the failing cell's index in the notebook, ``source`` its code, ``ename``/``evalue``
    the exception it raised."""

    def __init__(self, message: str, *, path: str | None = None, cell: int | None = None,
                 source: str = "", ename: str = "", evalue: str = ""):
        super().__init__(message, path=path)
        self.cell, self.source, self.ename, self.evalue = cell, source, ename, evalue
