"""What every reader of a store shares: read-only file access, what could not be read, the source's
meta, and one way to assemble the Inventory (metadata now, layer contents on first use).

Each source (a graphdriver data root, a containerd store, ...) is a small adapter over this module
and ``layerlab.oci``: it answers which images, which layers in which order and each layer's entries,
and the steps here turn the answers into the contract's frames.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import socket
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from .._files import open_file, read_sized
from .._version import __version__
from ..display import progress_bar
from ..errors import CorruptMetadata, DataRootPermissionError
from ..frames import schema
from ..frames.inventory import Inventory
from ..untrusted import load_json

SCAN_HINT = ("scan it as root into a snapshot (`sudo layerlab scan ROOT -o host.layerlab`) and analyse the snapshot as "
             "any user")

_NOATIME = getattr(os, "O_NOATIME", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def open_noatime(path, flags: int = os.O_RDONLY) -> int:
    """``os.open`` for reading without touching the access time where the kernel allows it (the
    owner, or root); other users fall back to a plain open. Reading must not change the store."""
    flags |= _CLOEXEC
    if _NOATIME:
        try:
            return os.open(path, flags | _NOATIME)
        except PermissionError:
            pass
    return os.open(path, flags)


#: The most a metadata file may hold (image configs with long histories stay far below it).
METADATA_LIMIT = 64 << 20


def open_regular(path, limit: int | None = METADATA_LIMIT):
    """A binary file object for a metadata file, or CorruptMetadata if it is not a regular file.

    Opened with ``O_NONBLOCK`` and ``O_NOFOLLOW`` and checked with ``fstat`` before anything is
    read: a FIFO, a device (a symlink to /dev/zero) or a symlink out of the store is refused, never
    waited on or followed. ``limit`` (bytes, None for none) refuses files larger than that.
    """
    check_inside(path)
    try:
        return open_file(path, CorruptMetadata, expected="a metadata file", hint="the store is damaged", limit=limit,
                         follow=False, noatime=True)
    except IsADirectoryError:
        raise CorruptMetadata(f"{path} is a directory where a metadata file should be; the store is damaged",
                              path=str(path)) from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise CorruptMetadata(f"{path} is a symbolic link where a metadata file should be; layerlab does not "
                                  "follow it (the store is damaged or was tampered with)", path=str(path)) from None
        if e.errno in (errno.EACCES, errno.EPERM):
            raise DataRootPermissionError(f"permission denied reading {path}; {SCAN_HINT}", path=str(path)) from None
        raise


def listdir(path) -> list[str]:
    """``os.listdir`` without touching the folder's access time (``O_NOATIME`` where allowed); a
    folder a symbolic link takes out of its root is refused (LeftTheRoot)."""
    check_inside(path)
    fd = open_noatime(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return os.listdir(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def scandir(path, check: bool = True):
    """``os.scandir`` without touching the folder's access time; entries' ``name`` is a str and
    ``stat()`` works, but ``path`` is only the name (join it to ``path`` yourself). A folder a
    symbolic link takes out of its root is refused (LeftTheRoot); ``check=False`` for a folder
    below one already checked, reached through no symbolic link (a walk's subfolders)."""
    if check:
        check_inside(path)
    fd = open_noatime(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with os.scandir(fd) as it:
            yield it
    finally:
        os.close(fd)


def read_bytes(path, limit: int | None = METADATA_LIMIT) -> bytes:
    """A regular file's bytes (at most ``limit``), read without touching its access time.

    See ``open_regular`` for what is refused, and ``open_noatime`` for the access time.
    """
    with open_regular(path, limit) as f:
        data = read_sized(f, limit)
    if limit is not None and len(data) > limit:  # grew while being read
        raise CorruptMetadata(f"{path} is above the {limit} byte limit for a metadata file", path=str(path))
    return data


def read_text(path, raw: bytes | None = None) -> str:
    """A metadata file's text (``raw``: its bytes, already read)."""
    raw = read_bytes(path) if raw is None else raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptMetadata(f"{path} is not UTF-8 text ({raw[:40]!r}...); the store is damaged",
                              path=str(path)) from None


def read_optional(path) -> str | None:
    """A metadata file's stripped text, or None when the file does not exist."""
    try:
        return read_text(path).strip()
    except FileNotFoundError:
        return None


def read_json(path, raw: bytes | None = None):
    """The JSON in ``path`` (or in ``raw``, its bytes already read), or CorruptMetadata naming it."""
    try:
        return load_json(raw if raw is not None else read_bytes(path))
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptMetadata(
            f"{path} is not valid JSON ({e}); the file is damaged or was being written: "
            "check the daemon, or copy the root while the daemon is stopped and scan the copy",
            path=str(path),
        ) from None


class Folder:
    """A folder of a store whose small files are read one after another (a layerdb entry, imagedb's
    configs): checked to stay inside its root and opened once, its files and subfolders opened
    relative to it with ``O_NOFOLLOW`` (so none can lead out of it) instead of each file's whole path
    being resolved and checked again (a third of reading the metadata of a store of many small
    layers). Whatever is unusual (a symbolic link, not a regular file, too large, no permission) is
    read again through ``read_bytes``, which refuses or names it as it always has. A context manager."""

    __slots__ = ("path", "fd")

    def __init__(self, path: str, parent: Folder | None = None):
        self.path, self.fd = path, None
        try:
            if parent is None:
                check_inside(path)
                self.fd = open_noatime(path, os.O_RDONLY | os.O_DIRECTORY)
            elif parent.fd is not None:
                self.fd = _open_at(parent.fd, os.path.basename(path), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:  # missing, a link, not a folder, refused: read_bytes says so for each file
            self.fd = None

    def sub(self, name: str) -> Folder:
        """The subfolder ``name`` (one path component) of this folder."""
        return Folder(os.path.join(self.path, name), self)

    def names(self) -> list[str]:
        return os.listdir(self.fd) if self.fd is not None else listdir(self.path)

    def read(self, name: str, limit: int | None = METADATA_LIMIT) -> bytes:
        """``read_bytes`` of the file ``name`` (one path component) in this folder."""
        if self.fd is not None:
            data = _read_at(self.fd, name, limit, self.path)
            if data is not None:
                return data
        return read_bytes(os.path.join(self.path, name), limit)

    def text(self, name: str) -> str:
        raw = self.read(name)
        try:  # the file's path is joined only to name it in an error (read_text's)
            return raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            return read_text(os.path.join(self.path, name), raw).strip()

    def optional(self, name: str) -> str | None:
        """The stripped text of file ``name``, or None when it does not exist (``read_optional``)."""
        try:
            return self.text(name)
        except FileNotFoundError:
            return None

    def int(self, name: str) -> int:
        raw = self.read(name)
        text = raw.strip()
        if text.isdigit() and len(text) <= 16 and int(text) <= MAX_SIZE:  # bytes: ASCII digits only
            return int(text)
        return read_int(os.path.join(self.path, name), raw)  # says what is wrong, naming the file

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> Folder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _open_at(dir_fd: int, name: str, flags: int) -> int:
    flags |= _CLOEXEC
    if _NOATIME:
        try:
            return os.open(name, flags | _NOATIME, dir_fd=dir_fd)
        except PermissionError:
            pass
    return os.open(name, flags, dir_fd=dir_fd)


def open_beneath(dir_fd: int, parts, last_flags: int = os.O_DIRECTORY) -> int:
    """The entry ``parts`` (path components, str or bytes) below the open folder ``dir_fd``, opened one
    component at a time with O_NOFOLLOW (on a whole path it guards only the last component): no
    symbolic link on the way is followed. Folders on the way are opened with O_DIRECTORY, the last
    component with ``last_flags`` (O_NONBLOCK for a file); no access time is touched. ``dir_fd``
    stays open; the caller closes the fd returned."""
    fd = dir_fd
    try:
        for i, part in enumerate(parts):
            flags = os.O_RDONLY | os.O_NOFOLLOW | (last_flags if i == len(parts) - 1 else os.O_DIRECTORY)
            new = _open_at(fd, part, flags)
            if fd != dir_fd:
                os.close(fd)
            fd = new
    except BaseException:
        if fd != dir_fd:
            os.close(fd)
        raise
    return fd


def _read_at(dir_fd: int, name: str, limit: int | None, folder: str) -> bytes | None:
    """The bytes of regular file ``name`` in the open folder ``dir_fd``, opened without following a
    link, without blocking and without touching its access time; None for anything else (read_bytes
    refuses it, saying why); FileNotFoundError when there is no such file."""
    try:
        fd = _open_at(dir_fd, name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), os.path.join(folder, name)) from None
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (limit is not None and st.st_size > limit):
            return None
        want = st.st_size + 1  # one more than its size: a file that grew is read by read_bytes
        parts, got = [], 0
        while got < want:
            asked = want - got
            part = os.read(fd, asked)
            parts.append(part)
            got += len(part)
            if len(part) < asked:  # a regular file reads short only at its end: no read more to see it
                break
        return None if got >= want else b"".join(parts)
    finally:
        os.close(fd)


#: The largest size read from metadata (1 PiB): see read_int.
MAX_SIZE = 1 << 50


def read_int(path, raw: bytes | None = None) -> int:
    text = read_text(path, raw).strip()
    try:
        if not (text.isdigit() and text.isascii()):  # int() would take " ４２", "4_2" and "+42"
            raise ValueError
        value = int(text)
        # A size past 1 PiB is no real layer's; bounded so an image's total (at most 127 layers, as
        # Docker allows) and a store's stay inside int64 instead of overflowing negative.
        if not 0 <= value <= MAX_SIZE:
            raise ValueError
        return value
    except ValueError:
        raise CorruptMetadata(
            f"{path} should hold a decimal byte count of at most 1 PiB, found {text[:40]!r}; the layer store is "
            "damaged "
            "(`docker image inspect` of its images will fail too)",
            path=str(path),
        ) from None


_HEX_ID = re.compile(r"[0-9a-f]{64}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")


def check_id(value, suffix: str = "") -> str | None:
    """``value`` if it is a 64-hex ID (optionally followed by ``suffix``, such as ``-init``), else
    None: IDs read from metadata become paths, and one like ``../../etc`` must never be followed.

    For IDs the daemon itself only accepts in this form (a container's mount-id and init-id); a
    layer's cache ID takes more forms (``check_name``)."""
    if isinstance(value,
                  str) and (_HEX_ID.fullmatch(value)
                            or (suffix and value.endswith(suffix) and _HEX_ID.fullmatch(value[: -len(suffix)]))):
        return value
    return None


#: A file name can hold at most NAME_MAX (255) bytes: a longer ID cannot name a driver's directory.
NAME_MAX = 255


def check_name(value) -> str | None:
    """``value`` if it can only name one entry inside a folder, else None.

    A storage driver's directory for a layer is ``<driver home>/<cache ID>``, and the daemon writes
    cache IDs in more than one form (64 hex from the layer store, 25 base-36 characters from
    BuildKit; docs/formats.md), trusting them as it reads them back. Any form is accepted as long
    as joining it cannot leave the folder: no ``/``, no NUL, not ``.`` or ``..``, not empty, at
    most NAME_MAX bytes, and no control characters (the daemon writes none).
    """
    if not isinstance(value, str) or value in ("", ".", "..") or _NOT_IN_A_NAME.search(value):
        return None
    try:
        size = len(os.fsencode(value))
    except UnicodeEncodeError:  # a lone surrogate not from surrogateescape: no file has this name
        return None
    return value if size <= NAME_MAX else None


_NOT_IN_A_NAME = re.compile(r"[/\x00-\x1f\x7f]")


class LeftTheRoot(CorruptMetadata, OSError):
    """A path below a store's root that a symbolic link takes out of it: never followed. An OSError
    too, so a reader that skips a layer it cannot read skips this one, saying why."""


def symlinked_folder(base: str, path: str, known: set[str] | None = None) -> str | None:
    """The first of the folders below ``base`` down to ``path`` (``path`` included, ``base`` not) that
    is a symbolic link, or None. A layer's folder is named by an ID from metadata: one that is a
    symlink would take the walk out of the data root, so it is refused, never followed. ``known``:
    folders found not to be links by earlier calls (added to), not looked at again."""
    current = base
    prefix = base.rstrip(os.sep) + os.sep
    parts = path[len(prefix):].split(os.sep) if path.startswith(prefix) else os.path.relpath(path, base).split(os.sep)
    for part in parts:
        current = os.path.join(current, part)
        if known is not None and current in known:
            continue
        try:
            if stat.S_ISLNK(os.lstat(current).st_mode):
                return current
        except FileNotFoundError:
            return None
        if known is not None:
            known.add(current)
    return None


def real_dir(base: str, *parts: str) -> str:
    """``base/parts...`` after checking that each part is a real directory, not a symbolic link (a
    link could lead out of the store): LeftTheRoot otherwise, FileNotFoundError when it is missing."""
    path = os.path.join(base, *parts)
    link = symlinked_folder(base, path)
    if link is not None:
        raise LeftTheRoot(f"{link} is a symbolic link where the store keeps a folder; not followed "
                          "(the store is damaged or was tampered with)", path=link)
    if not stat.S_ISDIR(os.lstat(path).st_mode):
        raise LeftTheRoot(f"{path} is not a directory where the store keeps a folder; not read "
                          "(the store is damaged or was tampered with)", path=path)
    return path


#: The roots readers were given (as named -> real path): a path named below one must resolve inside it.
_ROOTS: dict[str, str] = {}


def confine(root) -> str:
    """Register ``root`` (a data root, a store, a layout, a snapshot: what the user named, or a folder
    in it the host may place elsewhere, such as a driver's home): from now on every path below it
    that this module opens or lists must resolve inside it, so a symbolic link anywhere on the way
    (a layer folder, ``image/overlay2``, ``blobs/``) never takes a read out of it. Returns the
    absolute root."""
    named = os.path.abspath(os.fsdecode(os.fspath(root)))
    _ROOTS[named] = os.path.realpath(named)
    return named


_O_PATH = getattr(os, "O_PATH", 0)


def real_path(path: str) -> str:
    """``os.path.realpath(path)``, asked of the kernel where it can answer: ``path`` opened with
    ``O_PATH`` (which opens nothing of the file itself: no device, FIFO or contents) and its
    /proc/self/fd link read, three system calls where realpath's Python loop lstat's each folder on
    the way (a tenth of reading a store of many small layers). realpath where that cannot be done
    (no /proc, a missing path, which realpath still names)."""
    if _O_PATH:
        try:
            fd = os.open(path, _O_PATH | _CLOEXEC)
        except FileNotFoundError:  # an optional file (a base layer's parent): realpath keeps the missing name
            head, name = os.path.split(path)
            if name and head != path and not os.path.lexists(path):  # not even a dangling link there
                return os.path.join(real_path(head), name)
            return os.path.realpath(path)
        except OSError:
            return os.path.realpath(path)
        try:
            real = os.readlink(f"/proc/self/fd/{fd}")
            if real.startswith("/") and not real.endswith(" (deleted)"):
                return real
        except OSError:
            pass
        finally:
            os.close(fd)
    return os.path.realpath(path)


def outside_root(path) -> str | None:
    """Why ``path`` leaves the root it is named under (None when it stays inside, or is under no
    registered root): its real path, every symbolic link on the way resolved, is not below the
    root's real path."""
    named = os.path.abspath(os.fsdecode(os.fspath(path)))
    root = max((r for r in list(_ROOTS) if named == r or named.startswith(r.rstrip(os.sep) + os.sep)),
               key=len, default=None)
    if root is None:
        return None
    real, real_root = real_path(named), _ROOTS[root]
    if real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep):
        return None
    link = symlinked_folder(root, named) or named
    return (f"{link} is a symbolic link that leads out of {root} (to {real}); layerlab does not follow "
            "it (the store is damaged or was tampered with)")


def check_inside(path) -> None:
    """LeftTheRoot if ``path`` leaves the root it is named under (see :func:`outside_root`)."""
    reason = outside_root(path)
    if reason is not None:
        raise LeftTheRoot(reason, path=os.fsdecode(os.fspath(path)))


def is_digest(value) -> bool:
    """True for ``sha256:<64 hex>`` or ``sha512:<128 hex>`` (what content addresses and DiffIDs are)."""
    return isinstance(value, str) and _DIGEST.fullmatch(value) is not None


def docker_size(files: pd.DataFrame) -> int:
    """Docker's directory.Size over a diff: regular file bytes plus symlink target lengths."""
    links = files.loc[files["kind"] == "symlink", "link_target"]
    return int(files["size"].sum()) + sum(len(os.fsencode(t)) for t in links)


def docker_sizes(files: pd.DataFrame) -> dict[str, int]:
    """:func:`docker_size` of each layer of a files frame of several layers (those with rows)."""
    sizes = {lid: int(v) for lid, v in files.groupby("layer_id", observed=True, sort=False)["size"].sum().items()}
    links = files["kind"] == "symlink"
    for lid, target in zip(files.loc[links, "layer_id"], files.loc[links, "link_target"]):
        sizes[lid] += len(os.fsencode(target))
    return sizes


#: The fields of a container's config.v2.json layerlab reads, and the JSON type Docker writes each as.
_CONTAINER_FIELDS = {"Name": str, "Image": str, "Created": str, "State": dict}
_STATE_FIELDS = {"Running": bool, "Paused": bool, "Restarting": bool, "RemovalInProgress": bool, "Dead": bool,
                 "StartedAt": str}


def container_problem(cfg) -> str | None:
    """What is wrong with the shape of a container's ``config.v2.json`` (None when nothing): it must
    be an object whose fields layerlab reads have the types Docker writes (null allowed)."""
    if not isinstance(cfg, dict):
        return f"config.v2.json is a JSON {type(cfg).__name__}, not an object"
    for fields, obj, where in ((_CONTAINER_FIELDS, cfg, ""), (_STATE_FIELDS, cfg.get("State") or {}, "State.")):
        for name, kind in fields.items():
            value = obj.get(name)
            if value is not None and not isinstance(value, kind):
                return (f"config.v2.json's {where}{name} is a JSON {type(value).__name__}, "
                        f"not {'an object' if kind is dict else 'a ' + {str: 'string', bool: 'boolean'}[kind]}")
    return None


def container_state(state: dict) -> str:
    """Docker's ``State.StateString()`` from a container config's ``State``."""
    if state.get("Running"):
        if state.get("Paused"):
            return "paused"
        if state.get("Restarting"):
            return "restarting"
        return "running"
    if state.get("RemovalInProgress"):
        return "removing"
    if state.get("Dead"):
        return "dead"
    started = state.get("StartedAt") or ""
    if not started or started.startswith("0001-01-01"):
        return "created"
    return "exited"


def read_each_layer(rows: list, read_one: Callable, errors: tuple, progress, threads: bool = True) -> list[tuple]:
    """``read_one(row)`` for every layer row, on every core at once: the C walker releases the GIL
    while it walks, and one layer's frame is built while others are walked. Biggest first (rows
    have ``size``), so no core is left with a big layer at the end. Returns ``(result, None)`` or
    ``(None, error)`` for an error of ``errors``, in the rows' order; any other error is raised.
    ``threads=False``: one after another in this thread, for layers walked already (docker.early):
    then what is left of each is Python's, and threads would only pass the GIL back and forth (0.06 s
    of CPU more on 407 small layers)."""
    bar = progress_bar(total=len(rows), desc="reading layers", unit="layer", progress=progress, skip=not rows,
                       leave=False)

    def read(row):
        try:
            return read_one(row), None
        except errors as e:
            return None, e
        finally:
            bar.update()

    if not threads or len(rows) < 2:
        done = {id(r): read(r) for r in sorted(rows, key=lambda r: -r.size)}
        results = [done[id(r)] for r in rows]
    else:
        with ThreadPoolExecutor(max_workers=max(1, min(len(rows), os.cpu_count() or 1, 8))) as pool:
            futures = {id(r): pool.submit(read, r) for r in sorted(rows, key=lambda r: -r.size)}
            results = [futures[id(r)].result() for r in rows]
    bar.close()
    return results


class Skipped(list):
    """What could not be read, one dict per item; becomes the ``skipped`` frame."""

    def add(self, what: str, id_: str, path, reason: str, names: list[str] | None = None) -> None:
        """Record (and warn about) one item not read; ``names`` are a skipped image's tags and digests."""
        named = f" ({', '.join(names)})" if names else ""
        warnings.warn(f"layerlab: skipped {what} {id_}{named}: {reason} ({path})", stacklevel=3)
        self.append({"what": what, "id": id_, "path": None if path is None else str(path), "reason": reason,
                     "names": list(names or [])})

    def images(self) -> dict[str, dict]:
        """The skipped images: image ID -> {"names", "reason"} (Inventory meta ``skipped_images``)."""
        return {r["id"]: {"names": r.get("names", []), "reason": r["reason"]} for r in self if r["what"] == "image"}

    def frame(self) -> pd.DataFrame:
        return schema.coerce(pd.DataFrame(list(self), columns=schema.columns("skipped")), "skipped")


def source_meta(source: str, image_store: str, driver: str, **extra) -> dict:
    """The ``meta`` of an Inventory read now: where from, which store and driver, host and time."""
    return {
        "source": source,
        "image_store": image_store,
        "driver": driver,
        "host": socket.gethostname(),
        "scanned_at": datetime.now(timezone.utc).isoformat(),
        "layerlab_version": __version__,
        **extra,
    }


def metadata_frames(images, layers, image_layers, history, containers) -> dict[str, pd.DataFrame]:
    """The contract's frames from row dicts; the layers' per-file counts start at 0 until files are read."""
    return {
        "images": schema.from_rows("images", images),
        "layers": schema.from_rows("layers", layers, file_count=0, whiteout_count=0, opaque_count=0),
        "image_layers": schema.from_rows("image_layers", image_layers),
        "history": schema.from_rows("history", history),
        "containers": schema.from_rows("containers", containers),
    }


def fill_layer_counts(layers: pd.DataFrame, files: pd.DataFrame, disk_usage: dict) -> None:
    """Fill the layers frame's file_count, whiteout_count and opaque_count from ``files``, and its
    disk_usage from ``disk_usage`` (layer_id -> bytes; absent or None: unknown)."""
    # counted on the categoricals' codes with numpy (a groupby and unstack took a fifth of a scan's framing)
    ids = files["layer_id"].array
    codes = ids.codes.astype(np.int64)
    kinds = files["kind"].array
    lid = layers["layer_id"]
    for col, kind in (("file_count", None), ("whiteout_count", "whiteout"), ("opaque_count", "opaque")):
        which = codes if kind is None else codes[kinds.codes == kinds.categories.get_loc(kind)]
        counts = pd.Series(np.bincount(which, minlength=len(ids.categories)), index=ids.categories)
        layers[col] = lid.map(counts).fillna(0).astype("int64")
    layers["disk_usage"] = pd.array([disk_usage.get(x) for x in lid], dtype="Int64")


def assemble(meta: dict, frames: dict[str, pd.DataFrame], read_files: Callable[[], pd.DataFrame], skipped: Skipped, *,
             filled_by_files=("layers",), **lazy: Callable[[], pd.DataFrame]) -> Inventory:
    """An Inventory of ``frames`` (read now) whose ``files`` come from ``read_files`` on first use.

    Frames named in ``filled_by_files`` get figures while the files are read (counts, sizes), so
    reading them reads the files first; ``skipped`` is complete once the files are read. ``lazy``
    gives other frames a reader of their own (a data root's containers need only container layers).
    """
    state: dict = {}

    def files() -> pd.DataFrame:
        if "files" not in state:
            state["files"] = read_files()
        return state["files"]

    def after_files(name: str):
        return lambda: (files(), frames[name])[1]

    # Images are skipped while the metadata is read, so their names are known now: an image not found
    # by name can say it was skipped (Inventory.image_id) without reading any layer.
    meta = {**meta, "skipped_images": skipped.images()}
    parts: dict = {name: after_files(name) if name in filled_by_files else frame for name, frame in frames.items()}
    parts.update(lazy)
    parts["files"] = files
    parts["skipped"] = lambda: (files(), skipped.frame())[1]
    return Inventory(meta, parts)
