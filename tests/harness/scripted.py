"""A small real HTTP server on a loopback address whose answers a test scripts, for hostile cases.

Bind it to 127.0.0.1 or 127.0.0.2 (both loopback on Linux) to play two registry hosts. Every
request's method, path (with query) and headers are recorded in ``.seen`` for tests to assert on.
A route is a function ``(server, handler) -> (status, headers, body)``, or ``None`` after it
wrote the answer itself (slow bodies, endless headers, silence).

    with Scripted("127.0.0.2") as b:
        b.route("/v2/", lambda s, h: (401, {"WWW-Authenticate": 'Basic realm="b"'}, b"{}"))
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Scripted:
    def __init__(self, address: str = "127.0.0.1"):
        self.address = address
        self.routes: list[tuple[re.Pattern, object]] = []
        self.seen: list[tuple[str, str, dict]] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.server: ThreadingHTTPServer | None = None

    @property
    def host(self) -> str:
        """``address:port``, as a registry host name."""
        return f"{self.address}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def route(self, pattern: str, answer) -> None:
        """Answer requests whose path matches ``pattern`` (a regex searched; the latest route wins)."""
        self.routes.insert(0, (re.compile(pattern), answer))

    def authorizations(self) -> list[str]:
        """Every Authorization header this server received."""
        return [h["Authorization"] for _, _, h in self.seen if "Authorization" in h]

    def start(self) -> "Scripted":
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle_one(self):
                with outer.lock:
                    outer.seen.append((self.command, self.path, dict(self.headers)))
                answer = next((a for p, a in outer.routes if p.search(self.path)), None)
                result = answer(outer, self) if answer else (404, {}, b'{"errors":[{"code":"NAME_UNKNOWN"}]}')
                if result is None:
                    self.close_connection = True
                    return
                status, headers, body = result
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_POST = handle_one

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a client hanging up on a hostile answer is the point of these tests

        self.server = Server((self.address, 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
