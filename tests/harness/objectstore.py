"""A real S3-compatible server on 127.0.0.1 (moto's standalone server) for tests and benchmarks.

    with MotoServer(tmp_path) as s3:
        s3.create_bucket("registry")
        reg = Registry(tmp_path / "reg", s3=s3.registry_storage("registry", "/root"))
        mark = s3.mark()
        ...                      # read the bucket
        s3.requests_since(mark)  # [(method, path, status)] from the server's own request log

The request log is moto's (werkzeug's) access log, one line per HTTP request the server answered:
what the read-only tests compare. :class:`ThrottlingProxy` sits in front of the server and answers
``503 SlowDown`` on request, to test back-off.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from .daemon import stop_group
from .registry import free_port

#: Any key pair works against moto (it does not check signatures unless told to).
ACCESS_KEY, SECRET_KEY, REGION = "layerlab-test", "layerlab-test-secret", "us-east-1"

# werkzeug colours the lines of non-2xx answers with ANSI escapes.
_LOG_LINE = re.compile(r'"(?:\x1b\[[\d;]*m)*(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+(?:\x1b\[[\d;]*m)*" '
                       r'(?P<status>\d{3})')


@contextlib.contextmanager
def in_memory_store(tree: Path, prefix: str):
    """Every file below ``tree`` copied into fsspec's in-memory filesystem under ``/<prefix>`` (an
    object store with no server), removed afterwards with the prefix's top folder: ``memory://<prefix>``
    reads the copy."""
    import fsspec

    fs = fsspec.filesystem("memory")
    for path in tree.rglob("*"):
        if path.is_file():
            fs.pipe_file(f"/{prefix}/{path.relative_to(tree).as_posix()}", path.read_bytes())
    try:
        yield f"memory://{prefix}"
    finally:
        fs.rm("/" + prefix.split("/")[0], recursive=True)


def moto_missing() -> str | None:
    """Why moto's standalone server cannot be started here, or None."""
    if _moto_program() is None:
        return "needs moto's standalone server (pip install 'moto[server]', the test extra)"
    return None


def _moto_program() -> str | None:
    beside = Path(sys.executable).parent / "moto_server"  # the venv's, also when PATH lacks it
    return str(beside) if beside.exists() else shutil.which("moto_server")


class MotoServer:
    """``moto_server`` on 127.0.0.1: an S3 endpoint at ``.url``, with its request log in ``.log_file``."""

    def __init__(self, workdir: str | os.PathLike, port: int | None = None, env: dict | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_file = self.workdir / "moto.log"
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> "MotoServer":
        program = _moto_program()
        if program is None:
            raise RuntimeError(moto_missing())
        log = open(self.log_file, "ab")
        self.proc = subprocess.Popen([program, "-H", "127.0.0.1", "-p", str(self.port)], stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                     env={**os.environ, **self.extra_env}, cwd=self.workdir)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.proc.returncode}; see {self.log_file}")
            try:
                if requests.get(f"{self.url}/moto-api/", timeout=1).status_code < 500:
                    return self
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"moto_server did not answer on {self.url} within {timeout}s; see {self.log_file}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc, timeout=10)
            self.proc = None

    def __enter__(self) -> "MotoServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- for tests ------------------------------------------------------------------------------
    def env(self, **overrides: str) -> dict[str, str]:
        """The standard AWS environment that points a client (boto3, s3fs, layerlab) here."""
        env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
               "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "AWS_ENDPOINT_URL": self.url}
        env.update(overrides)
        return env

    def client(self):
        """A boto3 S3 client for this server (to set buckets up, never to audit them)."""
        import boto3

        return boto3.client("s3", endpoint_url=self.url, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name=REGION)

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def registry_storage(self, bucket: str, rootdirectory: str = "", endpoint: str | None = None) -> dict:
        """distribution's ``storage.s3`` section for ``bucket`` here (plain HTTP, v4 signatures)."""
        cfg = {"accesskey": ACCESS_KEY, "secretkey": SECRET_KEY, "region": REGION,
               "regionendpoint": endpoint or self.url, "bucket": bucket, "secure": False, "v4auth": True}
        if rootdirectory:
            cfg["rootdirectory"] = rootdirectory
        return cfg

    def mark(self) -> int:
        """A position in the request log; :meth:`requests_since` reads what came after it."""
        try:
            return self.log_file.stat().st_size
        except FileNotFoundError:
            return 0

    def requests_since(self, mark: int, settle: float = 0.3) -> list[tuple[str, str, int]]:
        """(method, path, status) of every request the server logged after ``mark``."""
        # The server writes its log line after answering: read until the log stops growing.
        size, deadline = -1, time.monotonic() + 10 * settle
        while True:
            time.sleep(settle)
            now = self.log_file.stat().st_size
            if now == size or time.monotonic() > deadline:
                break
            size = now
        with open(self.log_file, "rb") as f:
            f.seek(mark)
            text = f.read().decode(errors="replace")
        return [(m["method"], m["path"], int(m["status"])) for m in _LOG_LINE.finditer(text)
                if not m["path"].startswith("/moto-api")]


class ThrottlingProxy:
    """A small real HTTP server on 127.0.0.1 in front of an S3 server: forwards every request, except
    that the next ``throttle`` requests (all of them with ``always``) get ``503 SlowDown``."""

    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.throttle = 0
        self.always = False
        self.seen: list[tuple[str, str, int]] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.session = requests.Session()
        self.session.trust_env = False

    def start(self) -> "ThrottlingProxy":
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _answer(self):
                with outer.lock:
                    slow = outer.always or outer.throttle > 0
                    if outer.throttle > 0:
                        outer.throttle -= 1
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if slow:
                    data = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
                            b'<Message>Please reduce your request rate.</Message></Error>')
                    status, headers = 503, {"Content-Type": "application/xml"}
                else:
                    r = outer.session.request(self.command, outer.upstream + self.path, data=body,
                                              headers={k: v for k, v in self.headers.items()}, stream=True,
                                              allow_redirects=False)
                    data, status = r.raw.read(decode_content=False), r.status_code
                    headers = {k: v for k, v in r.headers.items()
                               if k.lower() not in ("content-length", "transfer-encoding", "connection")}
                with outer.lock:
                    outer.seen.append((self.command, self.path, status))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self) -> "ThrottlingProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
