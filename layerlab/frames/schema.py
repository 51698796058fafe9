"""The DataFrame contract: every frame, every column, its dtype and its meaning, in one place.

Every source (a Docker data root, a snapshot, the sample, a registry) yields these frames with
exactly these columns and dtypes; ``validate`` checks that and is run on every source's output.
Sizes are int64 bytes, IDs full ``sha256:<hex>`` strings, times UTC.
"""

from __future__ import annotations

import re
import sys
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import SchemaError
from ..errors import TEXT, expects

# File names are bytes on Linux. ``path`` is always valid UTF-8 (Arrow strings require it) and one
# string per distinct name (NAMES below, in docs/frames.md): a name's bad bytes are ``\xNN`` escapes
# there, and its exact bytes are kept in ``path_raw`` (null for every other row), so nothing is lost.
STRING = "string"
# The files frame's path: Arrow strings with 32-bit offsets, 4 bytes a row less than pandas' "string"
# (whose Arrow storage is large_string, 64-bit offsets); a string column to every pandas operation.
PATH_STRING = "string[pyarrow]"
RAW = "raw"  # exact bytes, or null: a pandas Categorical of bytes (rare values, a byte a row of codes)
CATEGORY = "category"  # pandas Categorical: each distinct value stored once, 1-4 bytes a row of codes
LIST = "list"  # object dtype holding Python lists of str
INT = "int64"
UINT16 = "uint16"
UINT32 = "uint32"
# A file's owner: a pandas Categorical of the uid/gid numbers (a root holds a handful: a byte a row of
# codes, where uint32 took four); it compares with a number as the number does (``files.uid == 0``).
OWNER = "owner"
NULLABLE_INT = "Int64"
# A nullable int64 in Arrow (``pd.ArrowDtype(pa.int64())``): 8 bytes and a bit a row, where pandas'
# Int64 keeps a byte a row of mask. For the files frame's disk_usage.
ARROW_INT = "int64[pyarrow]"
BOOL = "bool"
# Microseconds, not pandas' default nanoseconds: datetime64[ns] ends in 1677 and 2262, while image
# tools write RFC 3339's whole span (reproducible builds: year 1 or 1970; some: 9999). TIMES below.
TIME = "datetime64[us, UTC]"
FLOAT = "float64"


@dataclass(frozen=True)
class Column:
    name: str
    logical: str
    doc: str
    categories: tuple[str, ...] | None = None  # the fixed categories of a CATEGORY column, if fixed

    @property
    def dtype(self) -> str:
        """The pandas dtype of the column, as ``str(series.dtype)`` prints it."""
        return {LIST: "object", RAW: CATEGORY, OWNER: CATEGORY}.get(self.logical, self.logical)

    def pandas_dtype(self):
        """The dtype to cast to: a CategoricalDtype with the fixed categories, or :attr:`dtype`."""
        if self.logical == CATEGORY and self.categories is not None:
            return pd.CategoricalDtype(list(self.categories))
        if self.logical == PATH_STRING:
            return pd.ArrowDtype(pa.string())
        if self.logical == ARROW_INT:
            return pd.ArrowDtype(pa.int64())
        if self.logical == OWNER:
            return pd.CategoricalDtype(pd.Index([], dtype="int64"))
        return self.dtype


FILE_KINDS = ("file", "dir", "symlink", "hardlink", "char", "block", "fifo", "socket", "whiteout", "opaque")
LAYER_KINDS = ("image", "init", "container")


def _frame_spec(*cols: tuple) -> tuple[Column, ...]:
    return tuple(Column(*c) for c in cols)


#: The frames of every source, in the order a snapshot lists them.
FRAME_NAMES = ("images", "layers", "image_layers", "history", "containers", "files", "skipped")

FRAMES: dict[str, tuple[Column, ...]] = {
    "images": _frame_spec(
        ("image_id", STRING, "sha256 of the image config JSON (the image ID)"),
        ("tags", LIST, "repository:tag references, familiar form as docker prints them"),
        ("digests", LIST, "repository@sha256 manifest digests recorded for the image"),
        ("created", TIME, "the config's `created` time"),
        ("architecture", STRING, "config architecture"),
        ("os", STRING, "config os"),
        ("layer_count", INT, "number of layers (non-empty history entries) in the image"),
        ("size", INT, "apparent bytes of all its layers: `docker image inspect` Size"),
        ("shared_size", INT, "bytes of its layers also used by another image: `docker system df -v` SHARED"),
        ("unique_size", INT, "size - shared_size: `docker system df -v` UNIQUE"),
        ("container_count", INT, "containers created from this image"),
        ("parent", STRING, "build parent image ID (imagedb metadata), null if none"),
        ("intermediate", BOOL,
         "untagged with child images (a classic-builder step): hidden by `docker images` unless -a"),
    ),
    "layers": _frame_spec(
        ("layer_id", STRING, "chain ID for image layers; `init:<container_id>` / `container:<container_id>` otherwise"),
        ("kind", STRING, "image, init or container"),
        ("diff_id", STRING, "sha256 of the uncompressed layer tar; null for init/container layers"),
        ("parent", STRING, "layer_id of the layer below, null for a base layer"),
        ("cache_id", STRING, "the storage driver's ID (directory name) of this layer"),
        ("size", INT, "apparent bytes as Docker counts them: the layerdb `size` file (rw_size for containers)"),
        ("disk_usage", NULLABLE_INT,
         "allocated bytes (st_blocks * 512, each inode once, dirs included); null when not walked"),
        ("file_count", INT, "rows of this layer in the files frame"),
        ("whiteout_count", INT, "whiteout rows (paths this layer deletes)"),
        ("opaque_count", INT, "opaque directories (children of lower layers hidden)"),
        ("image_count", INT, "images whose chain contains this layer"),
        ("compressed", LIST, "registry blob digests of this layer's compressed form, from distribution metadata"),
    ),
    "image_layers": _frame_spec(
        ("image_id", STRING, "image ID"),
        ("position", INT, "0 = base layer"),
        ("layer_id", STRING, "chain ID of the layer at this position"),
        ("diff_id", STRING, "diff ID at this position"),
        ("size", INT, "apparent bytes of this layer (layerdb `size`)"),
        ("created_by", STRING, "the history entry's created_by that made this layer"),
        ("created", TIME, "the history entry's created time"),
    ),
    "history": _frame_spec(
        ("image_id", STRING, "image ID"),
        ("index", INT, "index in the config's history list"),
        ("created", TIME, "created time of the entry"),
        ("created_by", STRING, "the command that made the entry"),
        ("comment", STRING, "comment"),
        ("empty_layer", BOOL, "true for entries that made no layer (ENV, LABEL, ...)"),
        ("position", NULLABLE_INT, "layer position this entry made; null for empty layers"),
    ),
    "containers": _frame_spec(
        ("container_id", STRING, "full container ID (64 hex, no prefix)"),
        ("name", STRING, "container name without the leading slash"),
        ("image_id", STRING, "image ID the container was created from"),
        ("state", STRING, "created, running, paused, restarting, exited or dead"),
        ("created", TIME, "creation time"),
        ("layer_id", STRING, "`container:<container_id>`, its read-write layer in the layers frame"),
        ("rw_size", NULLABLE_INT, "bytes in the read-write layer as `docker ps -s` counts them"),
    ),
    "files": _frame_spec(
        ("layer_id", CATEGORY, "layer the entry belongs to (categorical: each ID stored once)"),
        ("path", PATH_STRING,
         "absolute path; for whiteout/opaque rows the path deleted / made opaque; non-UTF-8 bytes as \\xNN (see File "
         "names below)"),
        ("path_raw", RAW, "the path's exact bytes when `path` is not them (not valid UTF-8, or a backslash "
                             "doubled); null otherwise (categorical of bytes)"),
        ("kind", CATEGORY,
         "file, dir, symlink, hardlink, char, block, fifo, socket, whiteout or opaque (categorical, these categories)",
         FILE_KINDS),
        ("size", INT, "content bytes of a regular file (tar header size); 0 for every other kind"),
        ("mode", UINT16, "permission bits (st_mode & 0o7777)"),
        ("uid", OWNER, "owner uid (categorical of the numbers, 0 to 2^32 - 1)"),
        ("gid", OWNER, "owner gid (categorical of the numbers, 0 to 2^32 - 1)"),
        ("mtime", TIME, "modification time; null for whiteouts"),
        ("link_target", CATEGORY, "symlink target, or the path a hard link points to; null otherwise (categorical)"),
        ("disk_usage", ARROW_INT,
         "allocated bytes (st_blocks * 512); null from tar-split or for a repeated hard link"),
        ("sha256", CATEGORY, "content hash, null until hashed (categorical)"),
    ),
    # -- registries (layerlab.sources.registry): sizes here are compressed blob bytes -------------
    "manifests": _frame_spec(
        ("reference", STRING, "the reference as asked, fully qualified (docker.io/library/python:3.12)"),
        ("repository", STRING, "registry host and repository path"),
        ("tag", STRING, "tag of the reference; null when asked by digest only"),
        ("digest", STRING, "digest the reference resolves to: the index/manifest list, or the manifest"),
        ("media_type", STRING, "media type of that top-level manifest or index"),
        ("platform", STRING, "os/architecture[/variant] of this row's image"),
        ("manifest_digest", STRING, "digest of this platform's image manifest"),
        ("manifest_media_type", STRING, "media type of this platform's image manifest"),
        ("config_digest", STRING, "digest of the image config blob (the image ID)"),
        ("created", TIME, "the config's `created` time; null if absent"),
        ("layer_count", INT, "layers in the manifest"),
        ("size", INT, "compressed bytes: sum of the manifest's layer blob sizes (config excluded)"),
    ),
    "registry_layers": _frame_spec(
        ("reference", STRING, "the reference as asked, fully qualified"),
        ("repository", STRING, "registry host and repository path"),
        ("platform", STRING, "os/architecture[/variant]"),
        ("manifest_digest", STRING, "the platform's image manifest"),
        ("position", INT, "0 = base layer"),
        ("digest", STRING, "layer blob digest (of the compressed blob)"),
        ("media_type", STRING, "layer media type (gzip, zstd, foreign, ...)"),
        ("size", INT, "compressed bytes of the layer blob, as in the manifest"),
    ),
    "registry_history": _frame_spec(
        ("reference", STRING, "the reference as asked, fully qualified"),
        ("platform", STRING, "os/architecture[/variant]"),
        ("index", INT, "index in the config's history list"),
        ("created", TIME, "created time of the entry"),
        ("created_by", STRING, "the command that made the entry"),
        ("comment", STRING, "comment"),
        ("empty_layer", BOOL, "true for entries that made no layer"),
        ("position", NULLABLE_INT, "layer position this entry made; null for empty layers"),
    ),
    "registry_blobs": _frame_spec(
        ("digest", STRING, "layer blob digest"),
        ("media_type", STRING, "layer media type"),
        ("size", INT, "compressed bytes of the blob"),
        ("image_count", INT, "distinct image manifests that use the blob"),
        ("reference_count", INT, "references (tag/platform rows) that use the blob"),
        ("repository_count", INT, "repositories whose images use the blob"),
        ("repositories", LIST, "those repositories"),
        ("references", LIST, "those references"),
    ),
    # -- a registry's filesystem storage (distribution's layout), audited read-only -----------------
    "storage_repositories": _frame_spec(
        ("repository", STRING, "repository name under v2/repositories"),
        ("tag_count", INT, "tags with a current link"),
        ("manifest_count", INT, "manifest revisions"),
        ("untagged_count", INT, "revisions no tag currently points to"),
        ("layer_link_count", INT, "_layers links"),
        ("upload_count", INT, "unfinished uploads under _uploads"),
    ),
    "storage_tags": _frame_spec(
        ("repository", STRING, "repository name"),
        ("tag", STRING, "tag"),
        ("digest", STRING, "a manifest digest the tag points or pointed to"),
        ("current", BOOL, "true for the tag's current/link; false for older index entries"),
    ),
    "storage_manifests": _frame_spec(
        ("repository", STRING, "repository name"),
        ("digest", STRING, "manifest digest (a revision link)"),
        ("media_type", STRING, "manifest media type; null when the blob is missing"),
        ("size", NULLABLE_INT, "bytes of the manifest blob; null when missing"),
        ("tags", LIST, "tags whose current link points here"),
        ("referenced_by", LIST, "manifests (indexes) of the repository that list it"),
        ("config_digest", STRING, "config blob digest; null for indexes"),
        ("layer_count", NULLABLE_INT, "layers (or child manifests for an index)"),
        ("gc_untagged", BOOL, "garbage-collect --delete-untagged would delete this manifest"),
    ),
    "storage_layer_links": _frame_spec(
        ("repository", STRING, "repository name"),
        ("digest", STRING, "blob digest the _layers link names"),
        ("blob_exists", BOOL, "the blob's data file exists"),
        ("gc", BOOL, "garbage-collect would delete the link"),
        ("gc_untagged", BOOL, "garbage-collect --delete-untagged would delete the link"),
    ),
    "storage_blobs": _frame_spec(
        ("digest", STRING, "blob digest"),
        ("size", INT, "bytes of the blob's data file"),
        ("kind", STRING, "manifest, index, config, layer or unreferenced"),
        ("repositories", LIST, "repositories that link the blob (_layers or manifest revisions)"),
        ("gc", BOOL, "garbage-collect would delete it"),
        ("gc_untagged", BOOL, "garbage-collect --delete-untagged would delete it"),
    ),
    # -- packages (layerlab.analyses.packages): read from the package databases in the layers -------
    "packages": _frame_spec(
        ("image_id", STRING, "image ID"),
        ("ecosystem", STRING, "deb, rpm, apk, python, npm or go-module (syft's package type names)"),
        ("name", STRING, "package name as its database writes it"),
        ("version", STRING, "version as its database writes it (dpkg and rpm with the epoch, as `epoch:`)"),
        ("architecture", STRING, "architecture where the database has one (deb, rpm, apk); null otherwise"),
        ("location", STRING, "the database entry: dpkg status, rpmdb.sqlite, a dist-info directory, a package.json, "
                             "a Go binary"),
        ("layer_id", STRING, "the layer that installed it (from it on, every layer's view has it)"),
        ("position", INT, "that layer's position in the image (0 = base)"),
        ("changed_layer_id", STRING, "the layer that last changed it: its version or one of its files"),
        ("changed_position", INT, "that layer's position"),
        ("files", INT, "its files (not directories) in the merged view; a file two databases list counts for both"),
        ("bytes", INT, "bytes of those files in the merged view (exact, from the files frame)"),
        ("declared_size", NULLABLE_INT, "the size its database declares: dpkg Installed-Size (KiB x 1024), rpm SIZE, "
                                        "apk I:; null for python, npm and go-module"),
    ),
    "package_files": _frame_spec(
        ("image_id", STRING, "image ID"),
        ("path", STRING, "a path of the merged view that is not a directory"),
        ("kind", STRING, "what the filesystem shows (file, symlink, ...)"),
        ("size", INT, "bytes the providing layer stores for it (a hard link's inode counted once)"),
        ("layer_id", STRING, "the layer providing it"),
        ("position", INT, "that layer's position"),
        ("ecosystem", STRING, "the owning package's ecosystem; null when no package owns the file"),
        ("name", STRING, "the owning package (of two: the OS package's); null for files no package owns "
                         "(copied or built)"),
        ("version", STRING, "the owning package's version; null when unowned"),
    ),
    "package_changes": _frame_spec(
        ("image_id", STRING, "image ID"),
        ("position", INT, "position of the layer whose view differs from the one below"),
        ("layer_id", STRING, "that layer"),
        ("ecosystem", STRING, "package ecosystem"),
        ("name", STRING, "package name"),
        ("change", STRING, "added, removed, upgraded or downgraded (versions compared digit runs as numbers)"),
        ("version_before", STRING, "version in the layer below; null when added"),
        ("version_after", STRING, "version in this layer; null when removed"),
    ),
    "skipped": _frame_spec(
        ("what", STRING, "layer, container, image, or package database"),
        ("id", STRING, "the ID that was skipped"),
        ("path", STRING, "path that could not be read"),
        ("reason", STRING, "why it was skipped"),
    ),
}

def columns(kind: str) -> list[str]:
    """The column names of frame ``kind`` in contract order."""
    return [c.name for c in _spec(kind)]


def column(kind: str, name: str) -> Column:
    """The contract's column ``name`` of frame ``kind``."""
    found = [c for c in _spec(kind) if c.name == name]
    if not found:
        raise SchemaError(f"{kind} frame has no column {name!r}; its columns: {columns(kind)}")
    return found[0]


def empty(kind: str) -> pd.DataFrame:
    """An empty frame of ``kind`` with the contract's dtypes."""
    return pd.DataFrame({c.name: pd.Series([], dtype=c.pandas_dtype()) for c in _spec(kind)})


def coerce(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Reorder and cast ``df`` to the contract for ``kind`` (missing columns are an error)."""
    spec = _spec(kind)
    missing = [c.name for c in spec if c.name not in df.columns]
    if missing:
        raise SchemaError(f"{kind} frame lacks columns {missing}")
    out = {c.name: coerce_column(df[c.name], c, kind) for c in spec}
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))


def coerce_column(col: pd.Series, c: Column, kind: str) -> pd.Series:
    """``col`` cast to the contract's column ``c`` of frame ``kind``."""
    if c.dtype == TIME:
        col = time_column(col)
    elif c.logical == RAW:
        if not isinstance(col.dtype, pd.CategoricalDtype):  # bytes and None/NaN, as objects or Arrow binary
            values = col.array if isinstance(col.dtype,
                                             pd.ArrowDtype) else [v if isinstance(v, bytes) else None for v in col]
            col = pd.Series(categorical_from_arrow(pa.array(values, type=pa.binary())), index=col.index)
    elif c.logical == CATEGORY:
        col = _categorical(col, c, kind)
    elif c.logical == PATH_STRING:
        if str(col.dtype) != PATH_STRING:
            col = pd.Series(path_strings(col), index=col.index)
    elif c.logical == OWNER:
        col = pd.Series(owner_codes(col, f"{kind} frame's {c.name}"), index=col.index)
    elif c.logical == ARROW_INT:
        if str(col.dtype) != ARROW_INT:
            col = pd.Series(arrow_ints(col), index=col.index)
    elif c.logical in (UINT16, UINT32) and str(col.dtype) != c.dtype:
        col = pd.Series(narrow(col.to_numpy(), c.logical, f"{kind} frame's {c.name}"), index=col.index)
    elif str(col.dtype) != c.dtype:
        col = col.astype(c.dtype)
    return col


#: The span of the contract's times, in microseconds since 1970 (UTC): 0001-01-01T00:00:00Z to
#: 9999-12-31T23:59:59.999999Z, RFC 3339's years.
TIME_MIN_US = -62_135_596_800_000_000
TIME_MAX_US = 253_402_300_799_999_999
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NAT_US = np.iinfo(np.int64).min  # NaT's int64
# RFC 3339 (Go's time.RFC3339Nano as docker, containerd and podman write it), with any number of
# fraction digits; a missing offset is taken as UTC (as older layerlab did).
_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:[Zz]|([+-])(\d\d):(\d\d))?",
                      re.ASCII)


def _warn_time(value, why: str) -> None:
    # The warning names the first caller outside the time helpers (the source that read the value).
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_globals.get("__name__") in (__name__, "layerlab.oci.config"):
        frame, level = frame.f_back, level + 1
    warnings.warn(f"layerlab: the time {str(value)[:80]!r} {why}; it is kept as NaT (unknown)", stacklevel=level)


def _text_us(text: str) -> int | None:
    """Microseconds since 1970 of an RFC 3339 string, fraction truncated (toward the past), or None."""
    m = _RFC3339.fullmatch(text.strip())
    try:
        if m:
            y, mo, d, h, mi, s, frac, sign, oh, om = m.groups()
            t = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), int((frac or "")[:6].ljust(6, "0")),
                         tzinfo=timezone.utc)
            us = (t - _EPOCH) // timedelta(microseconds=1)
            if sign:
                us -= (-1 if sign == "-" else 1) * (int(oh) * 60 + int(om)) * 60_000_000
        else:  # other ISO 8601 forms (a date alone, a basic-format offset)
            t = datetime.fromisoformat(text.strip())
            us = (t if t.tzinfo else t.replace(tzinfo=timezone.utc)) - _EPOCH
            us = us // timedelta(microseconds=1)
    except (ValueError, OverflowError):
        _warn_time(text, "is not an RFC 3339 time")
        return None
    if not TIME_MIN_US <= us <= TIME_MAX_US:
        _warn_time(text, "is outside the years 1 to 9999 (UTC)")
        return None
    return us


def time_us(value) -> int | None:
    """``value`` (an RFC 3339 string, a Timestamp, datetime or numpy datetime64) as microseconds
    since 1970 UTC, truncated toward the past; None for no time (absent, NaT, not a time, or outside
    the years 1 to 9999, the last two with a warning). Naive times are taken as UTC."""
    if isinstance(value, str):
        return _text_us(value) if value.strip() else None
    if value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, (datetime, np.datetime64)):  # pd.Timestamp is a datetime
        if isinstance(value, (pd.Timestamp, np.datetime64)):
            # numpy's cast floors (toward the past), and keeps a Timestamp's nanoseconds' unit exact
            v = value.to_datetime64() if isinstance(value, pd.Timestamp) else value
            if np.isnat(v):
                return None
            us = int(v.astype("datetime64[us]").astype(np.int64))
        else:
            try:
                us = ((value if value.tzinfo else value.replace(tzinfo=timezone.utc))
                      - _EPOCH) // timedelta(microseconds=1)
            except OverflowError:  # an offset that takes year 1 before it
                us = TIME_MIN_US - 1
        if TIME_MIN_US <= us <= TIME_MAX_US:
            return us
        _warn_time(value, "is outside the years 1 to 9999 (UTC)")
        return None
    _warn_time(value, "is not an RFC 3339 time")  # a bare number: no image tool writes one (it read as 1970)
    return None


def parse_time(value) -> pd.Timestamp:
    """The one parser of times every source uses: an RFC 3339 string (a config's, history entry's or
    container's ``created``) as a UTC Timestamp in microseconds, NaT if absent or invalid (with a
    warning, never an error). Nanoseconds are truncated toward the past (``...59.999999999Z`` is
    ``...59.999999``: never rounded into the next second, or past year 9999)."""
    return timestamp_us(time_us(value))


def timestamp_us(us: int | None) -> pd.Timestamp:
    """A UTC Timestamp (in microseconds) of ``us`` microseconds since 1970; NaT for None, and for a
    time outside the years 1 to 9999 (with a warning)."""
    if us is None:
        return pd.NaT
    if not TIME_MIN_US <= us <= TIME_MAX_US:
        _warn_time(f"{us} µs after 1970", "is outside the years 1 to 9999 (UTC)")
        return pd.NaT
    return pd.Timestamp(_EPOCH + timedelta(microseconds=us))  # from a datetime: microseconds (pandas 2.2 too)


def times_from_us(us: np.ndarray, index=None) -> pd.Series:
    """A contract time column from int64 microseconds since 1970 (int64's minimum is NaT; values
    outside the years 1 to 9999 become NaT too)."""
    us = np.asarray(us, dtype=np.int64)
    out = (us < TIME_MIN_US) | (us > TIME_MAX_US)
    if out.any():
        us = np.where(out, _NAT_US, us)
    return pd.Series(us.view("datetime64[us]"), index=index).dt.tz_localize("UTC")


def time_column(values) -> pd.Series:
    """``values`` (a Series or array of datetimes of any unit or zone, Timestamps, RFC 3339 strings,
    None) as a contract time column (``TIME``). Finer units are truncated toward the past, as
    ``time_us`` does; old snapshots' nanosecond columns load through here."""
    index = values.index if isinstance(values, pd.Series) else None
    dtype = getattr(values, "dtype", None)
    if str(dtype) == TIME:
        return values if isinstance(values, pd.Series) else pd.Series(values)
    if isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "M"):
        s = pd.Series(values, copy=False)
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            s = s.dt.tz_convert("UTC").dt.tz_localize(None)
        # numpy's cast floors finer units; a coarser unit (seconds) is exact in microseconds
        return times_from_us(s.to_numpy().astype("datetime64[us]").view(np.int64), index)
    us = np.fromiter((_NAT_US if (u := time_us(v)) is None else u for v in values), dtype=np.int64, count=len(values))
    return times_from_us(us, index)


def path_strings(values) -> pd.api.extensions.ExtensionArray:
    """``values`` (a pandas string or object column, an Arrow array, a list of str) in the files
    frame's path dtype (``PATH_STRING``: Arrow ``string``, 32-bit offsets)."""
    if isinstance(values, pd.Series):
        values = values.array
    if isinstance(values, pd.arrays.ArrowExtensionArray) or isinstance(getattr(values, "_pa_array", None),
                                                                          pa.ChunkedArray):
        values = values._pa_array  # Arrow-backed (pandas' "string" too): cast without Python strings
    elif not isinstance(values, (pa.Array, pa.ChunkedArray)):
        # the system allocator: Arrow's default pool keeps the builder's growth buffers (a big scan's peak)
        values = pa.array(values, type=pa.string(), from_pandas=True, memory_pool=pa.system_memory_pool())
    if not pa.types.is_string(values.type):
        values = values.cast(pa.string())
    return pd.arrays.ArrowExtensionArray(values)


def owner_codes(values, what: str) -> pd.Categorical:
    """uid or gid ``values`` (integers of any width, or a Categorical of them) as the contract's
    ``OWNER`` column: a Categorical whose categories are the distinct numbers, sorted, as int64; a
    number outside uint32 or a null is a SchemaError naming ``what``."""
    if isinstance(values, pd.Series):
        values = values.array
    if pd.isna(values).any():
        raise SchemaError(f"{what} holds nulls; a file always has an owner: the input is damaged")
    if isinstance(values, pd.Categorical):
        cats = values.categories
        if cats.dtype == np.int64 and cats.is_monotonic_increasing:
            return values
        if cats.dtype.kind not in "iu":
            cats = pd.Index(np.asarray(cats, dtype=object).astype(np.int64))  # SchemaError below if they do not fit
        narrow(cats.to_numpy(), UINT32, what)
        if cats.is_monotonic_increasing:
            return pd.Categorical.from_codes(values.codes, categories=cats.astype(np.int64))
        return owner_codes(np.asarray(cats.astype(np.int64))[values.codes], what)
    numbers = np.asarray(values)
    if numbers.dtype.kind not in "iu":
        numbers = numbers.astype(np.int64)
    numbers = narrow(numbers, UINT32, what)
    # A hash factorize (no sort of the rows); the few categories are sorted after.
    codes, uniques = pd.factorize(numbers, sort=True)
    return pd.Categorical.from_codes(codes, categories=pd.Index(uniques.astype(np.int64)))


def arrow_ints(values) -> pd.api.extensions.ExtensionArray:
    """``values`` (pandas Int64, int64 or float64 with NaN for nulls, an Arrow array, objects with
    None) as the contract's ``ARROW_INT``: Arrow int64, nulls kept."""
    if isinstance(values, pd.Series):
        values = values.array
    if isinstance(values, pd.arrays.ArrowExtensionArray):
        values = values._pa_array
    elif not isinstance(values, (pa.Array, pa.ChunkedArray)):
        if isinstance(values, np.ndarray) and values.dtype == object:
            values = [None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v for v in values]
        values = pa.array(values, from_pandas=True)
    if pa.types.is_null(values.type) or not pa.types.is_int64(values.type):
        values = values.cast(pa.int64())  # float64 of whole numbers (a NaN for null), narrower ints
    return pd.arrays.ArrowExtensionArray(values)


def narrow(values: np.ndarray, dtype: str, what: str) -> np.ndarray:
    """Integer ``values`` as the narrower unsigned ``dtype`` (uint16 modes, uint32 IDs), or SchemaError
    naming ``what`` if one does not fit (a tar header can claim any number; Linux cannot hold it)."""
    info = np.iinfo(dtype)
    if len(values):
        low, high = values.min(), values.max()
        if low < info.min or high > info.max:
            raise SchemaError(f"{what} holds {low if low < info.min else high}, outside {dtype}'s range "
                              f"(0 to {info.max}): no file on Linux has it; the input is damaged or not made by an "
                              "image tool")
    return values.astype(dtype)


def _categorical(col: pd.Series, c: Column, kind: str) -> pd.Series:
    """``col`` as the categorical column ``c`` (its fixed categories, if it has them)."""
    if c.categories is None:
        if isinstance(col.dtype, pd.CategoricalDtype):
            return col
        # Through Arrow: a dictionary encode of Arrow strings at C speed (astype is several times slower).
        return pd.Series(categorical_from_arrow(pa.array(col.array if isinstance(col.dtype, pd.StringDtype) else col,
                                                         from_pandas=True)), index=col.index)
    if isinstance(col.dtype, pd.CategoricalDtype) and list(col.cat.categories) == list(c.categories):
        return col
    _check_known(col, c, kind)
    return col.astype(c.pandas_dtype())


def categorical_from_arrow(arr) -> pd.Categorical:
    """A pandas Categorical of an Arrow string or binary array, plain or dictionary-encoded (nulls
    are code -1; the categories are Python values, as a list of str gives them)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.unify_dictionaries() if pa.types.is_dictionary(arr.type) else arr
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if pa.types.is_null(arr.type):
        return pd.Categorical.from_codes(np.full(len(arr), -1, dtype=np.int8), categories=[])
    if not pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_encode()
    codes = arr.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    # Categories sorted (as astype("category") sorts them), so equal sets of values give equal dtypes.
    order = pc.array_sort_indices(arr.dictionary).to_numpy()
    values = arr.dictionary.take(pa.array(order)).to_pylist()
    if len(set(values)) != len(values) or None in values:  # a dictionary written by another tool
        plain = arr.dictionary.to_pylist()
        return pd.Categorical([plain[i] if i >= 0 else None for i in codes], categories=sorted(set(values) - {None}))
    rank = np.empty(len(order) + 1, dtype=np.int64)
    rank[order] = np.arange(len(order))
    rank[-1] = -1  # code -1 (null) stays -1
    return pd.Categorical.from_codes(rank[codes], categories=values)


def _check_known(col: pd.Series, c: Column, kind: str) -> None:
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.unique()
        present = col.cat.categories[codes[codes >= 0]]
    else:
        present = col.dropna().unique()
    bad = sorted(set(present) - set(c.categories) - {None})
    if bad:
        raise SchemaError(f"{kind} frame has unknown {c.name} values {bad}; known: {c.categories}")


def from_rows(kind: str, rows: list[dict], **defaults) -> pd.DataFrame:
    """A frame of ``kind`` from row dicts; a value a row lacks takes ``defaults[column]``, or null."""
    df = pd.DataFrame(rows, columns=columns(kind))
    for name, value in defaults.items():
        df[name] = df[name].astype(object).where(df[name].notna(), value)
    return coerce(df, kind)


def validate(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Check ``df`` against the contract for ``kind``; return it unchanged or raise SchemaError."""
    spec = _spec(kind)
    names = [c.name for c in spec]
    if list(df.columns) != names:
        raise SchemaError(f"{kind} frame has columns {list(df.columns)}, expected {names}")
    wrong = [f"{c.name}: {df[c.name].dtype} (expected {c.dtype})" for c in spec if str(df[c.name].dtype) != c.dtype]
    if wrong:
        raise SchemaError(f"{kind} frame has wrong dtypes: " + "; ".join(wrong))
    fixed = [c for c in spec if c.categories is not None and list(df[c.name].cat.categories) != list(c.categories)]
    if fixed:
        raise SchemaError(f"{kind} frame's {fixed[0].name} has categories {list(df[fixed[0].name].cat.categories)}, "
                          f"expected {list(fixed[0].categories)}")
    ints = [c.name for c in spec if c.logical == OWNER and df[c.name].cat.categories.dtype.kind not in "iu"]
    if ints:
        raise SchemaError(f"{kind} frame's {ints[0]} has categories of {df[ints[0]].cat.categories.dtype}, expected "
                          "integers (uid/gid numbers)")
    if kind == "layers" and len(df):
        bad = sorted(set(df["kind"].dropna().unique()) - set(LAYER_KINDS))
        if bad:
            raise SchemaError(f"layers frame has unknown kinds {bad}; known: {LAYER_KINDS}")
    return df


@expects(kind=TEXT)
def describe(kind: str) -> pd.DataFrame:
    """The contract for ``kind`` as a table (column, dtype, meaning), for docs and notebooks."""
    return pd.DataFrame([(c.name, c.dtype, c.doc) for c in _spec(kind)], columns=["column", "dtype", "meaning"])


def _spec(kind: str) -> tuple[Column, ...]:
    try:
        return FRAMES[kind]
    except KeyError:
        raise SchemaError(f"unknown frame {kind!r}; known frames: {sorted(FRAMES)}") from None


NAMES = r"""
A Linux file name is any bytes but `/` and NUL; Arrow strings must be valid UTF-8. `path` (and
`link_target`) therefore escape a name, one way for every reader (a layer directory walk, tar-split,
a tar header, a streamed layer tar), chosen so that two distinct names never get the same `path`
(the `(layer_id, path)` key) and every name docker and dive show plainly stays as it is:

- a byte that is not part of valid UTF-8 is written `\xNN` (two lower-case hex digits, `80` to `ff`);
- a backslash that would read as the start of such an escape is doubled: one before another
  backslash, before `x` and two hex digits from `80` to `ff`, or before a byte written `\xNN`;
- everything else is kept as it is: newlines, tabs, carriage returns, `é`, a Windows-style `a\b`,
  systemd's `dev-disk-by\x2dlabel.device` (an escape of a byte below `80` cannot be a bad byte).

So the byte `0xff` is `\xff` and the four characters backslash-x-f-f are `\\xff`. `path_raw` holds
the exact bytes wherever they differ from `path`'s UTF-8 (null otherwise), and readers of layer
contents (hashing, comparisons) open that name. Names are taken as the kernel or the tar gives
them; `layerlab.sources.layerfiles.rows.unescape_name` turns a `path` back into the bytes.
"""

FILES_MEMORY = r"""
Each column's bytes a row, as `memory_usage(deep=True)` counts them (categories are stored once, so
they add a fraction of a byte a row):

| column | dtype | bytes a row |
|---|---|---|
| `path` | Arrow `string`, 32-bit offsets | 4 + its characters |
| `layer_id`, `kind`, `path_raw`, `sha256`, `link_target` | categorical | 1 (2 past 127 values, 4 past 32,767) |
| `uid`, `gid` | categorical of the numbers | 1 each (a root holds a handful of owners) |
| `mode` | uint16 | 2 |
| `size`, `mtime` | int64, datetime64[us, UTC] | 8 each |
| `disk_usage` | Arrow int64 (nullable) | 8 and a bit (pandas' `Int64` keeps a byte of mask: 9) |

So a row is about 38 bytes (39 past 127 layers) plus its path. `uid`/`gid` were uint32 (4 bytes
each) and `disk_usage` pandas' `Int64` before issue 30: 7 bytes a row less now, meaning unchanged
(`files.uid == 0`, `files.uid.astype("int64")`, `files.disk_usage.sum()` work as before;
`disk_usage`'s comparisons give `bool[pyarrow]` masks, which index as numpy masks do).
Measured with `benchmarks/bench_scan.py` (`memory_usage(deep=True)`): a root of a few big layers
(parts of /usr, a site-packages, node_modules; 191,476 rows, paths of 73.8 characters on average)
112.1 bytes a row (119.1 before); a root of 408 small layers, each a package of a site-packages at
/usr/local/lib/python3.11 (51,518 rows, paths of 84.4 characters) 123.0 (130.0): under 120 bytes a
row while paths average less than about 80 characters, above it past that.

**Why the path stays one string a row.** The path's characters are most of a row, and a real root
repeats its directories on every row below them: on the many-layer root above, 6,042 directories
(74 characters on average) are written out again on 51,518 rows. Past about 80 characters of path
on average no column above can bring a row under 120 bytes; only sharing the prefixes can. No
string type of pandas or Arrow shares them between rows: `string`/`large_string` hold each value
whole and contiguous, Arrow's `string_view` costs 16 bytes a row (a directory row could point into
its child's bytes, the siblings cannot share), a dictionary only collapses equal whole values. Sharing
means two stored columns, `dir` (a categorical: each directory once, 1-2 bytes a row of codes) and
`name` (the last component, 16 characters on average there), about 31 bytes a row for the path
instead of 88, about 66 bytes a row in all. But `files["path"]` must stay a column that compares,
filters, sorts, merges and groups as strings for every consumer (about 150 uses in 27 modules:
fleet queries, the tree and explorer widgets, dive figures, diffs, reports, the CLI, users'
notebooks). pandas has no derived column: `path` would have to be a custom ExtensionArray that
rebuilds the whole string column for each of those operations (its `.str` methods included), or
every consumer would move to `dir`/`name`. What it takes: (1) the `dir`/`name` columns in the
contract and every scanner (directory walk, tar-split, tar headers, streamed tars); (2) one
helper that joins them (`pyarrow.compute.binary_join_element_wise`) for the consumers that need
whole paths, and the per-directory consumers (tree, explorer, dive's directory sizes) reading
`dir` directly, which also saves them their own splitting; (3) snapshots storing `dir`/`name` (and
reading older `path` columns by splitting them), fleet `find` matching on `dir` then `name`. That is
a contract change of its own (every source and consumer, with the tests comparing with docker and
dive), not one to fold into a dtype change; until then a root whose paths average more than about
80 characters stays above 120 bytes a row.
"""

TIMES = r"""
Every time column is `datetime64[us, UTC]`: microseconds, which span RFC 3339's years 1 to 9999
(pandas' default nanoseconds end in 1677 and 2262). Image tools write that whole span: kaniko, ko,
bazel, nix and `buildah commit --timestamp` write `created` as `0001-01-01T00:00:00Z` or
`1970-01-01T00:00:00Z` for reproducible builds, some tools `9999-...`; such times are kept as they are.

- Finer digits are truncated toward the past: `9999-12-31T23:59:59.999999999Z` is
  `9999-12-31 23:59:59.999999`, never rounded into the next second (or past year 9999); a file's
  mtime of `...1.0000005` seconds before 1970 is `...1.000001` before it. Compare times to the
  microsecond (`pd.Timestamp(text).floor("us")` for a time after 1970).
- Every source parses times with one function, `layerlab.frames.schema.parse_time` (RFC 3339,
  any number of fraction digits, any offset, converted to UTC; a time without an offset is taken as
  UTC). A string that is not a time, or a time outside the years 1 to 9999 UTC (a tar mtime can
  be), is NaT, with a warning; it never stops the read.
- containerd's binary times: Go's zero `time.Time` (a field never set) is NaT.
- Snapshots store microseconds; snapshots written with nanoseconds (before this unit) load into
  microseconds, truncated the same way.
"""


def markdown() -> str:
    """The whole contract as Markdown (docs/frames.md is this text; a test keeps them equal)."""
    lines = [
        "# The frames",
        "",
        "Every source yields these frames with exactly these columns and dtypes (generated from",
        "`layerlab/frames/schema.py` by `python -m layerlab.frames.schema > docs/frames.md`).",
        "Sizes are int64 bytes, IDs full `sha256:<hex>` strings, times UTC.",
        "",
        "`files` is the big frame (hundreds of thousands of rows a host), so it is kept compact: about 38",
        "bytes a row plus the path's own characters (\"Bytes a row of files\" below says how, and why the",
        "path is one string a row). A categorical compares with a value as a column of the values does;",
        "group by it with `observed=True`, and compare such columns of two sources as values",
        "(`astype(object)`, or `astype(\"int64\")` for `uid`/`gid`), since their categories differ; to set",
        "values, assign a whole column. Snapshots keep the string categoricals dictionary-encoded, `uid`/`gid`",
        "as uint32 numbers and `path` as Arrow `string`; snapshots written before (plain strings,",
        "`large_string` paths, int64, bytes in an object or binary column) load into the same dtypes. A",
        "fleet's `path` is chunked by host, so no chunk comes near the 2 GiB of characters 32-bit offsets hold.",
    ]
    for kind, cols in FRAMES.items():
        lines += ["", f"## {kind}", "", "| column | dtype | meaning |", "|---|---|---|"]
        lines += [f"| `{c.name}` | {c.dtype} | {c.doc.replace('|', '/')} |" for c in cols]
    lines += ["", "## Bytes a row of files", "", *FILES_MEMORY.strip().splitlines()]
    lines += ["", "## File names", "", *NAMES.strip().splitlines()]
    lines += ["", "## Times", "", *TIMES.strip().splitlines()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
