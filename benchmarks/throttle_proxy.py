"""A loopback TCP proxy that caps the bandwidth from its upstream to its clients, as one bottleneck link.

    with ThrottleProxy("127.0.0.1", registry_port, rate=12.5e6) as proxy:
        ... pull from 127.0.0.1:{proxy.port} ...
        proxy.rate = 5e6                       # change the link between runs

Every connection's downstream bytes go through one shared schedule (each chunk reserves the link for
len/rate seconds after the previous reservation ends; a token bucket of BURST seconds), so concurrent
downloads share the rate as TCP flows share a link; the upstream direction (requests) is not capped.
Hand-written on asyncio: no library here throttles an aggregate of connections.
"""

from __future__ import annotations

import asyncio
import threading
import time

CHUNK = 64 << 10
#: Seconds of link time an idle link may bank: the gap between one chunk's send and the next read
#: (the event loop's wake-up, a busy CPU) must not be lost, or the proxy delivers less than its rate.
BURST = 0.05


class ThrottleProxy:
    def __init__(self, upstream_host: str, upstream_port: int, rate: float, host: str = "127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self.host, self.rate = host, float(rate)
        self.port: int | None = None
        self.bytes_down = 0
        self._free_at = 0.0  # when the link is next free (time.monotonic())
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server = None

    async def _reserve(self, n: int) -> None:
        async with self._lock:
            now = time.monotonic()
            self._free_at = max(self._free_at, now - BURST) + n / self.rate
            until = self._free_at
        delay = until - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _pipe(self, reader, writer, throttled: bool) -> None:
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                if throttled:
                    await self._reserve(len(data))
                    self.bytes_down += len(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def _handle(self, client_reader, client_writer) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(self._pipe(client_reader, up_writer, False), self._pipe(up_reader, client_writer, True))

    async def _start(self, ready: threading.Event) -> None:
        self._lock = asyncio.Lock()
        self._server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()
        async with self._server:
            await self._server.serve_forever()

    def start(self) -> "ThrottleProxy":
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run():
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._start(ready))
            except asyncio.CancelledError:
                pass

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the throttling proxy did not start")
        return self

    def stop(self) -> None:
        if self._loop and self._server:
            self._loop.call_soon_threadsafe(self._server.close)
            for task in asyncio.all_tasks(self._loop):
                self._loop.call_soon_threadsafe(task.cancel)
        if self._thread:
            self._thread.join(5)

    def __enter__(self) -> "ThrottleProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
