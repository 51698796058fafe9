"""No registry can hold a request for ever: slow bodies and headers, silence, Retry-After, endless pages.

Each case is a real misbehaving server on loopback; each client call runs in a thread joined with
a time limit, so the test ends in seconds even where the client would hang.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from harness.scripted import Scripted

from layerlab.errors import RateLimited, RegistryError
from layerlab.sources.registry import RegistryClient

LIMIT = 20.0  # seconds a call may take in these tests before it counts as a hang


def bounded(fn, limit=LIMIT):
    """(result or exception, seconds taken) of fn(), failing the test if it outlives ``limit``."""
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            out["value"] = e

    start = time.monotonic()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(limit)
    if t.is_alive():
        pytest.fail(f"the client was still waiting after {limit} s")
    return out["value"], time.monotonic() - start


@pytest.fixture
def server():
    with Scripted("127.0.0.1") as s:
        yield s


def client(**kw):
    args = dict(docker_config=False, cache_dir=False, retries=1, backoff=0, timeout=3, deadline=4)
    return RegistryClient(**{**args, **kw})


def _drip_body(s, h):
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", "100000")
    h.end_headers()
    while not s.stopping.is_set():
        try:
            h.wfile.write(b" ")
            h.wfile.flush()
        except OSError:
            return None
        time.sleep(0.5)  # always sooner than the read timeout


def _drip_headers(s, h):
    h.wfile.write(b"HTTP/1.1 200 OK\r\n")
    n = 0
    while not s.stopping.is_set():
        try:
            h.wfile.write(f"X-Slow-{n}: x\r\n".encode())
            h.wfile.flush()
        except OSError:
            return None
        n += 1
        time.sleep(0.5)


def _silent(s, h):
    s.stopping.wait(60)
    return None


@pytest.mark.parametrize("answer", [_drip_body, _drip_headers], ids=["body-drip", "header-drip"])
def test_a_server_that_drips_fails_at_the_deadline(server, answer):
    server.route("/tags/list", answer)
    with client() as c:
        err, took = bounded(lambda: c.tags(f"{server.host}/app"))
    assert isinstance(err, RegistryError) and "within 4 s" in str(err), err
    assert took < 12


def test_a_server_that_accepts_and_never_answers_times_out(server):
    server.route("/tags/list", _silent)
    with client(timeout=1, deadline=None, retries=0) as c:
        err, took = bounded(lambda: c.tags(f"{server.host}/app"))
    assert isinstance(err, RegistryError) and "cannot reach" in str(err), err
    assert took < 10


@pytest.mark.parametrize("header", ["999999", "Fri, 01 Jan 2099 00:00:00 GMT"])
def test_a_far_retry_after_is_refused_at_once_naming_the_header(server, header):
    server.route("/tags/list", lambda s, h: (429, {"Retry-After": header}, b"{}"))
    with client(retries=4, max_retry_after=60) as c:
        err, took = bounded(lambda: c.tags(f"{server.host}/app"))
    assert isinstance(err, RateLimited) and f"Retry-After: {header}" in str(err), err
    assert took < 3
    assert len(server.seen) == 1


def test_retry_after_waiting_has_one_cap_in_all(server):
    server.route("/tags/list", lambda s, h: (429, {"Retry-After": "1"}, b"{}"))
    with client(retries=10, max_retry_after=2.5, deadline=None) as c:
        err, took = bounded(lambda: c.tags(f"{server.host}/app"))
    assert isinstance(err, RateLimited) and "Retry-After: 1" in str(err) and "2.5 s" in str(err), err
    assert 1.5 < took < 6
    assert len(server.seen) == 3  # waited 1 + 1 s, and not a third time


@pytest.mark.parametrize("what", ["tags", "catalog"])
def test_endless_link_pagination_stops_at_the_page_cap(server, what):
    def page(s, h):
        n = len(s.seen)
        key = "tags" if "tags" in h.path else "repositories"
        body = json.dumps({"name": "app", key: [f"t{n}"]}).encode()
        base = h.path.split("?")[0]
        return 200, {"Content-Type": "application/json", "Link": f'<{base}?last=t{n}&n=1>; rel="next"'}, body

    server.route("/v2/", page)
    with client(max_pages=25) as c:
        call = (lambda: c.tags(f"{server.host}/app")) if what == "tags" else (lambda: c.catalog(server.host))
        err, _ = bounded(call)
    assert isinstance(err, RegistryError) and "past 25 pages" in str(err), err
    assert len(server.seen) == 25
