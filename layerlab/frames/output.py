"""Where a snapshot may be written, and replacing an old one without a moment with neither.

Two promises: a path that holds anything but a layerlab snapshot (or an empty folder) is never
removed, and a signal at any point of a replacement leaves one complete snapshot at the path.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import signal
import stat
import threading
from pathlib import Path

from .._files import open_file
from ..errors import OutputError
from ..untrusted import load_json

#: The names a snapshot folder holds (``meta.json`` and one Parquet file per frame).
META = "meta.json"


def check_target(path: Path, frame_names) -> None:
    """Raise OutputError unless ``path`` is free, an empty folder, or a layerlab snapshot.

    Only a folder whose files are all a snapshot's own (``meta.json`` with a ``format_version``,
    ``<frame>.parquet``) may be replaced: anything else may be someone's work.
    """
    if not path.exists() and not path.is_symlink():
        return
    if path.is_symlink() or not path.is_dir():
        raise OutputError(f"{path} exists and is not a folder; choose another -o path", path=str(path))
    try:
        names = set(os.listdir(path))
    except OSError as e:
        raise OutputError(f"{path} cannot be listed ({e.strerror}); choose another -o path", path=str(path)) from None
    if not names:
        return
    own = {META} | {f"{n}.parquet" for n in frame_names}
    foreign = sorted(names - own)
    problem = None if foreign else _not_own_snapshot(path, names)
    if foreign or problem:
        what = (f"it holds {', '.join(foreign[:3])}{' ...' if len(foreign) > 3 else ''}" if foreign
                else problem)
        raise OutputError(
            f"{path} exists and is not a layerlab snapshot ({what}); layerlab only replaces its own snapshots: "
            "choose another -o path or move that folder away",
            path=str(path),
        )


def _not_own_snapshot(path: Path, names: set[str]) -> str | None:
    """Why the folder ``path`` (holding only a snapshot's file names) is not a snapshot layerlab wrote,
    by content, not names: every file a regular file (not a folder, a link or a FIFO), each Parquet
    file starting and ending with Parquet's magic, meta.json a JSON object with an integer
    ``format_version``. None when it is one."""
    if META not in names:
        return "it has no layerlab meta.json"
    for name in sorted(names):
        try:
            f = open_file(path / name, OutputError, follow=False)
        except OutputError:
            return f"its {name} is not a regular file"
        except OSError as e:
            return f"its {name} cannot be opened as a file ({e.strerror})"
        with f:
            st = os.fstat(f.fileno())
            if name == META:
                try:
                    meta = load_json(f.read(_META_LIMIT)) if st.st_size <= _META_LIMIT else None
                except ValueError:
                    meta = None
                version = meta.get("format_version") if isinstance(meta, dict) else None
                if not isinstance(version, int) or isinstance(version, bool):
                    return "its meta.json is not a layerlab meta.json (no integer format_version)"
                continue
            head = f.read(4)
            f.seek(max(0, st.st_size - 4))
            if st.st_size < 12 or head != _PARQUET_MAGIC or f.read(4) != _PARQUET_MAGIC:
                return f"its {name} is not a Parquet file"
    return None


_PARQUET_MAGIC = b"PAR1"
_META_LIMIT = 16 << 20


def check_name(path: Path) -> None:
    """Refuse paths that name no folder of their own (``/``, ``.``, ``..``)."""
    if path.name in ("", ".", "..") or str(path) in ("/", "."):
        raise OutputError(f"-o {path} names no snapshot folder; give one such as host.layerlab", path=str(path))


def check_length(path: Path, spare: int = 0) -> None:
    """Refuse a path the kernel cannot name: a part longer than NAME_MAX (255 bytes, less ``spare``
    for the suffix of a temporary name made beside it) or a whole longer than PATH_MAX."""
    parts = [os.fsencode(p) for p in Path(path).parts]
    long = next((p for p in parts if len(p) + spare > 255), None)
    if long is not None:
        raise OutputError(f"-o {str(path)[:80]}...: the name {os.fsdecode(long)[:40]!r}... has {len(long)} bytes; a "
                          f"file name holds at most {255 - spare} here (255 less a temporary suffix); "
                          "choose a shorter -o", path=str(path))
    if len(os.fsencode(os.path.abspath(path))) + 1 + 255 > 4095:  # room for a file name inside it
        raise OutputError(f"-o {str(path)[:80]}...: the path has {len(os.fsencode(os.path.abspath(path)))} bytes, too "
                          "long for files inside it (Linux allows 4095 bytes a path); choose a shorter -o",
                          path=str(path))


def _renameat2():
    # Python has no binding for renameat2(RENAME_EXCHANGE), the one atomic swap of two paths Linux
    # offers; glibc >= 2.28 exports it, so call it through ctypes. CDLL(None): the process's own
    # symbols, libc's among them (find_library("c") ran `ldconfig -p` in a subprocess every save).
    libc = ctypes.CDLL(None, use_errno=True)
    return getattr(libc, "renameat2", None)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap ``a`` and ``b`` atomically; False where the kernel or filesystem cannot."""
    fn = _renameat2()
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


@contextlib.contextmanager
def _signals_held():
    """Defer SIGINT/SIGTERM/SIGHUP until the block ends, then deliver them as they would have been.

    Python-level handlers, not a signal mask: a mask holds the signal for this thread only, and the
    kernel may hand it to another thread (tqdm's monitor, a worker pool), whose Python handler runs
    here in the main thread all the same. Off the main thread handlers cannot be set: no deferral.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        previous = signal.getsignal(sig)
        if previous is None:  # a handler set outside Python: leave it alone
            continue
        old[sig] = previous
        signal.signal(sig, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)
        for sig in pending:
            os.kill(os.getpid(), sig)


def swap_into_place(new: Path, path: Path) -> None:
    """Move the complete snapshot ``new`` to ``path``, replacing a snapshot there.

    The old snapshot is swapped aside (atomically where the kernel can, otherwise by two renames
    with signals held), and only then removed: at every moment ``path`` holds one whole snapshot.
    """
    if not path.exists():
        new.rename(path)
        return
    if path.is_dir() and not any(path.iterdir()):
        path.rmdir()  # an empty folder: nothing to keep
        new.rename(path)
        return
    if _exchange(new, path):
        shutil.rmtree(new, ignore_errors=True)  # ``new`` now names the old snapshot
        return
    old = new.with_name(new.name + ".old")
    with _signals_held():
        path.rename(old)
        try:
            new.rename(path)
        except BaseException:
            old.rename(path)
            raise
    shutil.rmtree(old, ignore_errors=True)


def prepare_dir(path: Path, what: str = "report", *, names=(), force: bool = False, owned=None,
                option: str = "-o") -> Path:
    """Create the folder ``path`` for output pages, or raise OutputError saying why it cannot be.

    Pages go into it beside whatever is there, so the filesystem root is refused (a stray
    ``-o /`` would scatter files there), as is an empty path (the current folder, unnamed), files
    and places that cannot be written. ``names`` are the files about to be written: one that is a
    symbolic link is refused (never written through, even with ``force``); one that exists and is
    not the output's own (``owned(path)`` false: a user's own ``index.html``) is refused unless
    ``force``.
    """
    if not str(path).strip():
        raise OutputError(f"{option} is empty; give a folder for the {what}, such as reports/", path=str(path))
    path = Path(path)
    check_length(path)
    if path.resolve() == Path("/"):
        raise OutputError(f"-o {path} is the filesystem root; give a folder for the {what}, such as reports/",
                          path=str(path))
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path} exists and is not a folder; give a folder for the {what} with -o", path=str(path))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create {path} for the {what}: {e.strerror or e} ({e.filename or path}); "
                          "give a folder you can write to with -o", path=str(path)) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"{path} is not writable; give a folder you can write to with -o", path=str(path))
    links, theirs = [], []
    for name in names:
        try:
            st = os.lstat(path / name)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
            links.append(name)
        elif not force and (owned is None or not owned(path / name)):
            theirs.append(name)
    if links:
        raise OutputError(f"{path} has {', '.join(links)} as a symbolic link or other non-file; layerlab never "
                          f"writes through one: remove it or give another folder for the {what}", path=str(path))
    if theirs:
        raise OutputError(f"{path} already has {', '.join(theirs[:3])}{' ...' if len(theirs) > 3 else ''}, not "
                          f"written by layerlab; pass --force to overwrite, or give another folder for the {what}",
                          path=str(path))
    return path
