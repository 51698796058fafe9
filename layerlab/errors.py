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


class LimitExceeded(LayerlabError, ValueError):
    """An input goes past a bound layerlab keeps so a hostile file cannot exhaust the stack, memory or
    time: JSON or YAML nested too deep or too large, a number with too many digits, a list too long
    (layerlab/untrusted.py). The message names the input and the bound."""


class ArgumentError(LayerlabError, TypeError):
    """A public function was given an argument of the wrong type; the message names the function,
    the parameter, what it takes and what it got."""


class Expect:
    """What one parameter of a public function takes: instances of ``types``, None when ``none``,
    anything ``test`` accepts, and for a list/tuple/set, items that are instances of ``each``.
    ``what`` says it in words for the message."""

    __slots__ = ("what", "types", "none", "test", "each")

    def __init__(self, what: str, *types: type, none: bool = False, test=None, each: type | tuple | None = None):
        self.what, self.types, self.none, self.test, self.each = what, types, none, test, each

    def accepts(self, value) -> bool:
        if value is None:
            return self.none
        if self.test is not None and self.test(value):
            return True
        if not isinstance(value, self.types):
            return False
        if self.each is not None and isinstance(value, (list, tuple, set, frozenset)):
            return all(isinstance(v, self.each) for v in value)
        return True


def check_argument(function: str, name: str, value, expect: Expect) -> None:
    """Raise :class:`ArgumentError` unless ``expect`` accepts ``value`` (parameter ``name`` of ``function``)."""
    if expect.accepts(value):
        return
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    raise ArgumentError(f"{function}(): {name} must be {expect.what}, not {type(value).__name__} {shown}")


def expects(**specs: Expect):
    """Decorate a public function so each named parameter is checked (:func:`check_argument`) before
    the call: a wrong type is an ArgumentError naming it, not a traceback from deep inside."""
    def decorate(fn):
        import functools
        import inspect

        signature = inspect.signature(fn)
        unknown = set(specs) - set(signature.parameters)
        if unknown:
            raise AssertionError(f"{fn.__qualname__} has no parameter {sorted(unknown)}")

        @functools.wraps(fn)
        def checked(*args, **kwargs):
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError:  # a missing or unknown argument: Python's own message says it best
                return fn(*args, **kwargs)
            for name, value in bound.arguments.items():
                spec = specs.get(name)
                if spec is not None:
                    check_argument(fn.__qualname__, name, value, spec)
            return fn(*args, **kwargs)
        return checked
    return decorate


def _is_path(value) -> bool:
    return hasattr(value, "__fspath__")


def _strings(value) -> bool:
    """A sized collection of strings (a list, tuple, set, pandas Series or Index), not a string itself."""
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__len__") or not hasattr(value, "__iter__"):
        return False
    return all(isinstance(v, str) for v in value)


def whole_number(low: int = 0):
    """A test for :class:`Expect`: an int (not a bool, which Python counts as one) of ``low`` or more."""
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _is_flag(value) -> bool:
    return isinstance(value, bool) or type(value).__name__ == "bool_"  # numpy's bool too


# The parameters many public functions share (sources and Inventories: layerlab.frames.inventory).
TEXT = Expect("a string", str)
OPTIONAL_TEXT = Expect("a string or None", str, none=True)
PATH = Expect("a path (str or os.PathLike)", str, test=_is_path)
FLAG = Expect("True or False", test=_is_flag)
PROGRESS = Expect("True, False or None (show a bar when it takes a while)", test=_is_flag, none=True)
HASH = Expect("'auto', True or False", test=lambda v: _is_flag(v) or (isinstance(v, str) and v == "auto"))
IMAGE = Expect("an image tag, ID or ID prefix (a string)", str)
OPTIONAL_IMAGE = Expect("an image tag, ID or ID prefix (a string) or None", str, none=True)
IMAGES = Expect("an image tag, ID or ID prefix, a list (or Series) of them, or None", str, none=True,
                test=lambda v: _strings(v))
CONTAINER = Expect("a container name, ID or ID prefix (a string) or None", str, none=True)
