"""An overall deadline per registry request, which socket timeouts alone cannot give.

A socket timeout bounds each ``recv``; a server that sends one header or one body byte a second
never trips it and holds a request for ever. urllib3 has no whole-exchange deadline, so this
module adds one: connections register themselves with the thread using them, and one watchdog
thread shuts down the socket of any request still running past its deadline (the blocked
``recv`` then returns and the request fails with a clear error).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection

from ..._network import DEADLINE_ENV, DEFAULT_DEADLINE, network_deadline  # noqa: F401 (re-exported)

_lock = threading.Lock()
_active: dict[int, HTTPConnection] = {}  # thread -> the connection it is using now
_deadlines: dict[int, tuple[float, threading.Event]] = {}  # thread -> (deadline, fired)
_watchdog: threading.Thread | None = None


# The one deadline (layerlab._network), here too for the registry client's callers.


class DeadlinePassed(Exception):
    """Raised (and turned into a RegistryError by the client) when a request outlives its deadline.

    Not an OSError, so urllib3 does not retry it."""


def _watch() -> None:
    while True:
        time.sleep(0.2)
        now = time.monotonic()
        with _lock:
            late = [(ident, fired) for ident, (at, fired) in _deadlines.items() if at <= now and not fired.is_set()]
            conns = [_active.get(ident) for ident, _ in late]
        for (_, fired), conn in zip(late, conns):
            fired.set()
            sock = getattr(conn, "sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def deadline(seconds: float | None):
    """Bound everything this thread sends and receives in the block to ``seconds``; yields the
    event set when the deadline passed (None: no deadline)."""
    global _watchdog
    fired = threading.Event()
    if not seconds:
        yield fired
        return
    ident = threading.get_ident()
    with _lock:
        outer = _deadlines.get(ident)
        if outer is None:  # a nested request (a token fetch) runs under the outer one's deadline
            _deadlines[ident] = (time.monotonic() + seconds, fired)
        if _watchdog is None:
            _watchdog = threading.Thread(target=_watch, name="layerlab-registry-deadline", daemon=True)
            _watchdog.start()
    try:
        yield outer[1] if outer else fired
    finally:
        if outer is None:
            with _lock:
                _deadlines.pop(ident, None)
                _active.pop(ident, None)


class Progress:
    """The deadline of a streamed body (a layer blob), which moves on as the body comes: each
    ``PROGRESS_BYTES`` received give it ``seconds`` more, so a large blob at a usable rate is never
    cut, and one dripped a byte a second fails once ``seconds`` pass without that much arriving.
    ``arrived`` may be called from any thread (the blob is read by a helper thread)."""

    def __init__(self, ident: int, seconds: float | None, fired: threading.Event):
        self.ident, self.seconds, self.fired = ident, seconds, fired
        self._pending = 0

    def arrived(self, n: int) -> None:
        if not self.seconds:
            return
        self._pending += n
        if self._pending >= PROGRESS_BYTES:
            self._pending = 0
            with _lock:
                entry = _deadlines.get(self.ident)
                if entry is not None and entry[1] is self.fired and not self.fired.is_set():
                    _deadlines[self.ident] = (time.monotonic() + self.seconds, self.fired)


#: Bytes of a streamed body that move its deadline on (a link slower than this per deadline fails).
PROGRESS_BYTES = 64 << 10


@contextlib.contextmanager
def body_deadline(seconds: float | None):
    """As :func:`deadline` for a request whose body is streamed: yields a :class:`Progress` whose
    ``arrived(n)`` moves the deadline on as the body comes (under an outer deadline, that one holds)."""
    ident = threading.get_ident()
    with _lock:
        outer = _deadlines.get(ident)
    with deadline(seconds) as fired:
        yield Progress(ident, None if outer else seconds, fired)


class _Watched:
    def request(self, *args, **kwargs):
        ident = threading.get_ident()
        with _lock:
            entry = _deadlines.get(ident)
            if entry is not None and entry[1].is_set():
                raise DeadlinePassed()
            _active[ident] = self
        return super().request(*args, **kwargs)


class WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class WatchedHTTPConnectionPool(urllib3.HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class WatchedHTTPSConnectionPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


POOL_CLASSES = {"http": WatchedHTTPConnectionPool, "https": WatchedHTTPSConnectionPool}


def read_some(response, n: int) -> bytes:
    """What one receive of a streamed body brings, at most ``n`` bytes, undecoded: progress is seen
    as it comes (``read(n)`` waits for all n). urllib3 before 2.3 has no ``read1``: there, at most
    64 KiB a read, which is what a body's deadline asks for."""
    if hasattr(response, "read1"):
        return response.read1(n, decode_content=False)
    return response.read(min(n, 64 << 10), decode_content=False)
