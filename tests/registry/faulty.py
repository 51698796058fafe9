"""A small real HTTP server on 127.0.0.1 in front of a real registry that misbehaves on request.

Requests are forwarded to the registry unless a queued fault matches the path first; every
request's method, path and headers are recorded for the tests to assert on.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests


class FaultyProxy:
    def __init__(self, upstream: str, *, basic_auth: bool = False):
        self.upstream = upstream.rstrip("/")
        self.basic_auth = basic_auth
        self.faults: list[list] = []  # [pattern, action, args]
        self.seen: list[tuple[str, str, dict]] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.session = requests.Session()
        self.session.trust_env = False  # a test may point HTTP_PROXY at this server: never at itself

    def fault(self, pattern: str, action: str, **args) -> None:
        with self.lock:
            self.faults.append([re.compile(pattern), action, args])

    def _take(self, path: str):
        with self.lock:
            for i, (pattern, action, args) in enumerate(self.faults):
                if pattern.search(path):
                    del self.faults[i]
                    return action, args
        return None, {}

    def start(self) -> "FaultyProxy":
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def send(self, status, body=b"", headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                if "Content-Length" not in (headers or {}):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def forward(self):
                # An absolute URL in the request line: this server is being used as a forward proxy.
                target = self.path if self.path.startswith("http://") else outer.upstream + self.path
                r = outer.session.request(self.command, target, allow_redirects=False,
                                          headers={k: v for k, v in self.headers.items() if k.lower() == "accept"})
                keep = {k: v for k, v in r.headers.items()
                        if k.lower() in ("content-type", "docker-content-digest", "link")}
                if self.command == "HEAD":
                    keep["Content-Length"] = r.headers.get("Content-Length", "0")
                return r.status_code, r.content, keep

            def handle_one(self):
                outer.seen.append((self.command, self.path, dict(self.headers)))
                if outer.basic_auth and "Authorization" not in self.headers:
                    return self.send(401, b"{}", {"WWW-Authenticate": 'Basic realm="faulty"'})
                action, args = outer._take(self.path)
                if action == "status":
                    body = json.dumps({"errors": [{"code": "TOOMANYREQUESTS", "message": "slow down"}]}).encode()
                    return self.send(args["code"], body, args.get("headers"))
                if action == "redirect":
                    return self.send(307, b"", {"Location": args["to"] + self.path})
                if action == "huge":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    try:
                        for _ in range(args.get("mib", 64)):
                            self.wfile.write(b" " * (1 << 20))
                    except OSError:
                        pass  # the client hung up, as it should
                    self.close_connection = True
                    return
                if action == "serve":
                    return self.send(200, args["body"], args.get("headers"))
                status, body, headers = self.forward()
                if action == "corrupt":
                    body = body.replace(b"{", b"{ ", 1)  # still JSON, another digest
                if action == "headers":
                    headers.update(args["headers"])
                if action == "paginate" and status == 200:
                    query = parse_qs(urlsplit(self.path).query)
                    n, last = int(query.get("n", [args["n"]])[0]), query.get("last", [""])[0]
                    data = json.loads(body)
                    tags = sorted(data["tags"])
                    page = [t for t in tags if t > last][:n]
                    data["tags"] = page
                    body = json.dumps(data).encode()
                    if page and page[-1] != tags[-1]:
                        headers["Link"] = f'<{urlsplit(self.path).path}?last={page[-1]}&n={n}>; rel="next"'
                        outer.fault("tags/list", "paginate", n=n)
                return self.send(status, body, headers)

            do_GET = do_HEAD = handle_one

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
        self.session.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
