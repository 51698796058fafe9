"""Walking an overlay2 data root's layer folders while the rest of layerlab still loads.

``layerlab scan`` spends its first third of a second importing pandas and pyarrow on one core; the
C walker needs neither, so ``start(root)`` walks every ``overlay2/<id>/diff`` in a thread meanwhile,
and the reader (dataroot) takes each walk when it reaches that layer, after its own checks. Only
what the reader would have walked is kept and used: a folder it does not ask for is dropped, one it
asks for before the thread took it is walked by the reader itself, and one that could not be walked
here (vanished, refused, a symbolic link) is walked by the reader again, which says why.

The same refusals as the reader's own walks (docs/security.md): every folder is opened
``O_NOATIME``, nothing is written, and a layer's folder and its ``diff`` are each found by ``lstat``
to be a folder, not a symbolic link, before the walker (which opens ``diff`` with ``O_NOFOLLOW`` and
never follows a link below it) goes in. This module imports nothing but the C walker, so it can run
before pandas is loaded.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import os
import stat
import sys
import threading

try:
    from ..layerfiles import _fastwalk
except ImportError:  # no C walker: nothing to start early
    _fastwalk = None
if getattr(_fastwalk, "MTIME_UNIT", None) != "us":  # walk.py would not use a stale build either
    _fastwalk = None

#: The walks started, by the data root's absolute path.
_STARTED: dict[str, EarlyWalks] = {}
_NOATIME = getattr(os, "O_NOATIME", 0)


class EarlyWalks:
    """The C walker's results for the ``diff`` folders of one overlay2 home, walked in a thread;
    ``take`` hands each out once."""

    def __init__(self, diffs: list[str]):
        self._todo = collections.deque(diffs)
        self._waiting: dict[str, threading.Event] = {}
        self._results: dict[str, tuple | None] = {}
        self._lock = threading.Lock()
        self.taken = 0  # walks handed to the reader
        self._thread = threading.Thread(target=self._run, name="layerlab-early-walks", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._todo:
                    return
                diff = self._todo.popleft()
                self._waiting[diff] = threading.Event()
            try:
                # overlay2's convention (walk.py): overlay whiteouts and .wh. markers
                result = _fastwalk.walk(os.fsencode(diff), True, True) if _is_folder(diff) else None
            except Exception:  # noqa: BLE001 (the reader walks it again and reports what is wrong)
                result = None
            with self._lock:
                self._results[diff] = result
                self._waiting.pop(diff).set()

    def take(self, diff: str) -> tuple | None:
        """The walker's result for folder ``diff`` (waiting while it is being walked), or None: not
        walked here (the caller walks it)."""
        with self._lock:
            if diff in self._results:
                return self._take(diff)
            event = self._waiting.get(diff)
            if event is None:
                try:
                    self._todo.remove(diff)  # not begun: the caller walks it now
                except ValueError:
                    pass
                return None
        event.wait()
        with self._lock:
            return self._take(diff)

    def _take(self, diff: str) -> tuple | None:
        result = self._results.pop(diff, None)
        self.taken += result is not None
        return result

    def done(self) -> bool:
        """Whether no walk is left to begin or under way here (each one's result is kept or taken)."""
        with self._lock:
            return not self._todo and not self._waiting

    def wait(self) -> None:
        """Until every walk begun here has ended (tests)."""
        self._thread.join()

    def stop(self) -> None:
        """No more walks; what was walked and not taken is dropped."""
        with self._lock:
            self._todo.clear()
            self._results.clear()


def _is_folder(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def start(root: str) -> bool:
    """Begin walking the layer folders of the overlay2 data root ``root`` in a thread, if it is one
    this process may read (anything else: nothing is started, False)."""
    if _fastwalk is None:
        return False
    root = os.path.abspath(root)
    home = os.path.join(root, "overlay2")
    if root in _STARTED or not os.path.isdir(os.path.join(root, "image", "overlay2", "layerdb")):
        return False
    try:
        # O_NOFOLLOW: an overlay2 folder linked out of the root is not listed here (the reader refuses it)
        fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | _NOATIME)
    except OSError:  # not the owner (no O_NOATIME), missing, refused: the reader walks as usual
        return False
    try:
        names = sorted(os.listdir(fd))
    finally:
        os.close(fd)
    diffs = [os.path.join(home, name, "diff") for name in names if name != "l" and _is_folder(os.path.join(home, name))]
    _STARTED[root] = EarlyWalks(diffs)
    return True


def import_libraries() -> None:
    """pandas and pyarrow imported beside the walks as an archive's reads have them imported
    (imageset): the collector paused and the switch interval short, so that the walking thread,
    which takes the GIL back between layers, is not kept waiting up to 5 ms for it each time."""
    with collector_paused(), quick_switches():
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401


# Here, not in imageset (which uses them too), so that a data root's scan does not import
# imageset's archive and registry readers for them.
@contextlib.contextmanager
def collector_paused():
    """Python's cyclic garbage collector paused (when it was running): importing pandas and pyarrow
    makes some 200,000 objects and no garbage, and the collections they set off walk every object so
    far while holding the GIL, stalling the threads reading the layers (py-spy showed the collector as
    the main thread's largest item on the benchmark's registry image). Reference counting still frees
    everything; the collector runs again as soon as the import is done."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@contextlib.contextmanager
def quick_switches(interval: float = 0.0005):
    """The interpreter's switch interval shortened (5 ms to 0.5 ms) while pandas is imported: a thread
    reading a layer takes the GIL back after each chunk it inflates, hashes or receives, and waited up
    to the whole interval for the importing thread to let go each time (ISA-L inflating a blob beside a
    thread running Python took 3.2 s instead of 0.4 s; with 0.5 ms, 1.0 s)."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(min(old, interval))
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def started(root: str) -> EarlyWalks | None:
    """The walks ``start`` began for data root ``root`` (its absolute path), if any."""
    return _STARTED.get(root)


def forget(root: str) -> None:
    """Drop the walks begun for ``root`` (when its scan ends, read or not): a later reader of the
    same root, in the same process, walks it anew."""
    early = _STARTED.pop(os.path.abspath(root), None)
    if early is not None:
        early.stop()
