"""Credentials for a host go only to that host and to the token realm it names in its own challenge.

Two real servers on two loopback addresses (127.0.0.1 and 127.0.0.2) play two hosts; each test
asserts what each server actually received.
"""

from __future__ import annotations

import base64
import json
import secrets

import pytest
from harness.scripted import Scripted

from layerlab.errors import AuthError
from layerlab.sources.registry import RegistryClient

TAGS = json.dumps({"name": "app", "tags": ["1.0"]}).encode()


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def bearer_registry(server: Scripted, realm: str, token_of_user=None):
    """``server`` as a registry that wants a bearer token from ``realm``; it accepts any ``Bearer``."""

    def answer(s, h):
        if (h.headers.get("Authorization") or "").startswith("Bearer "):
            return 200, {"Content-Type": "application/json"}, TAGS
        return 401, {"WWW-Authenticate": f'Bearer realm="{realm}",service="svc"'}, b"{}"

    server.route(r"^/v2/", answer)


def token_endpoint(server: Scripted, path: str = "/token"):
    """``server`` issues a fresh random token per request at ``path``; issued tokens are kept."""
    server.issued = []

    def answer(s, h):
        token = secrets.token_hex(8)
        server.issued.append((h.headers.get("Authorization"), token))
        return 200, {"Content-Type": "application/json"}, json.dumps({"token": token, "expires_in": 300}).encode()

    server.route("^" + path, answer)


@pytest.fixture
def a():
    with Scripted("127.0.0.1") as s:
        yield s


@pytest.fixture
def b():
    with Scripted("127.0.0.2") as s:
        yield s


def client(creds):
    return RegistryClient(docker_config=False, cache_dir=False, credentials=creds, retries=0, timeout=5)


def test_a_redirect_to_another_host_that_challenges_gets_no_credentials(a, b):
    a.route(r"^/v2/", lambda s, h: (307, {"Location": f"{b.url}{h.path}", "Content-Length": "0"}, b""))
    b.route(r"^/token/steal", lambda s, h: (200, {}, b'{"token": "stolen"}'))
    bearer_registry(b, f"{b.url}/token/steal")
    with client({a.host: ("alice", "s3cret")}) as c:
        with pytest.raises(AuthError, match=r"redirected to 127\.0\.0\.2.*only to"):
            c.tags(f"{a.host}/app")
        # the poisoned challenge was not kept for host A either
        with pytest.raises(AuthError):
            c.tags(f"{a.host}/app")
    assert b.authorizations() == []
    assert not any(p.startswith("/token") for _, p, _ in b.seen)


def test_credentials_go_to_the_realm_the_host_names_itself(a, b):
    token_endpoint(b)
    bearer_registry(a, f"{b.url}/token")
    with client({a.host: ("alice", "s3cret")}) as c:
        assert c.tags(f"{a.host}/app") == ["1.0"]
    assert [auth for auth, _ in b.issued] == [basic("alice", "s3cret")]
    token = b.issued[0][1]
    assert a.authorizations() == [f"Bearer {token}"]  # A got the token, never the password


def test_a_token_got_for_one_host_is_never_sent_to_another_naming_the_same_realm(a, b):
    token_endpoint(a)
    bearer_registry(a, f"{a.url}/token")
    bearer_registry(b, f"{a.url}/token")  # B names A's realm in its own challenge
    with client({a.host: ("alice", "for-a"), b.host: ("alice", "for-b")}) as c:
        assert c.tags(f"{a.host}/app") == ["1.0"]
        assert c.tags(f"{b.host}/app") == ["1.0"]
    issued = dict((tok, auth) for auth, tok in a.issued)
    sent_to_b = [h.removeprefix("Bearer ") for h in b.authorizations()]
    assert sent_to_b and all(issued[t] == basic("alice", "for-b") for t in sent_to_b)
    assert basic("alice", "for-a") not in b.authorizations()


def test_each_host_keeps_its_own_challenge(a, b):
    token_endpoint(a)
    bearer_registry(a, f"{a.url}/token")
    b.route(r"^/v2/", lambda s, h: (
        (200, {}, TAGS) if h.headers.get("Authorization") == basic("bob", "for-b")
        else (401, {"WWW-Authenticate": 'Basic realm="b"'}, b"{}")))
    with client({a.host: ("alice", "for-a"), b.host: ("bob", "for-b")}) as c:
        for _ in range(2):  # interleaved: neither host's challenge leaks into the other's requests
            assert c.tags(f"{b.host}/app") == ["1.0"]
            assert c.tags(f"{a.host}/app") == ["1.0"]
    assert set(b.authorizations()) == {basic("bob", "for-b")}
    api = [h["Authorization"] for _, p, h in a.seen if p.startswith("/v2/") and "Authorization" in h]
    assert api and all(x.startswith("Bearer ") for x in api)
    assert {auth for auth, _ in a.issued} == {basic("alice", "for-a")}


def test_no_credentials_over_plain_http_to_a_host_that_is_not_loopback(a, monkeypatch):
    """registry.invalid is reached through a real forward proxy (server A), which records what it got."""
    a.route(r"registry\.invalid.*/v2/", lambda s, h: (401, {"WWW-Authenticate": 'Basic realm="r"'}, b"{}"))
    monkeypatch.setenv("http_proxy", a.url)
    monkeypatch.setenv("HTTP_PROXY", a.url)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    host = "registry.invalid:5000"
    with RegistryClient(docker_config=False, cache_dir=False, credentials={host: ("alice", "s3cret")},
                        insecure=[host], retries=0, timeout=5) as c:
        with pytest.raises(AuthError, match="plain HTTP"):
            c.tags(f"{host}/app")
    assert a.seen and a.authorizations() == []


def test_no_credentials_to_a_plain_http_realm_that_is_not_loopback(a):
    bearer_registry(a, "http://token.invalid/token")
    with client({a.host: ("alice", "s3cret")}) as c:
        with pytest.raises(AuthError, match="plain HTTP"):
            c.tags(f"{a.host}/app")


def _foreign_image(a, b):
    """Host A: a registry wanting Basic auth whose image's only layer is foreign, its urls on A itself
    (first, answering 404) and on B. Returns the layer blob's digest."""
    import gzip
    import hashlib
    import io
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("etc/hello")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"hello\n"))
    blob = gzip.compress(raw.getvalue())
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers",
                                    "diff_ids": ["sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()]},
                         "history": [{"created_by": "foreign"}]}).encode()
    cdigest = "sha256:" + hashlib.sha256(config).hexdigest()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                           "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": cdigest,
                                      "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                                       "digest": digest, "size": len(blob),
                                       "urls": [f"{a.url}/foreign/{digest}", f"{b.url}/foreign/{digest}"]}]}).encode()

    def registry(s, h):
        if h.headers.get("Authorization") != basic("alice", "s3cret"):
            return 401, {"WWW-Authenticate": 'Basic realm="a"'}, b"{}"
        if "/manifests/" in h.path:
            return 200, {"Content-Type": "application/vnd.docker.distribution.manifest.v2+json"}, manifest
        if h.path.endswith(cdigest):
            return 200, {}, config
        return 404, {}, b"{}"

    a.route(r"^/v2/", registry)
    a.route(r"^/foreign/", lambda s, h: (404, {}, b"no"))
    b.route(r"^/foreign/", lambda s, h: (200, {}, blob))
    return digest


def test_a_foreign_layers_urls_get_no_credentials_even_on_the_registrys_own_host(a, b):
    from layerlab.sources.registry.image import open_registry_image

    _foreign_image(a, b)
    with client({a.host: ("alice", "s3cret")}) as c:
        inv = open_registry_image(f"{a.host}/app:1", client=c, cache=False, progress=False)
        assert list(inv.files["path"]) == ["/etc/hello"]
    api = [h.get("Authorization") for _, p, h in a.seen if p.startswith("/v2/")]
    assert basic("alice", "s3cret") in api  # the registry itself got them
    to_urls = [h for _, p, h in a.seen + b.seen if p.startswith("/foreign/")]
    assert len(to_urls) == 2 and all("Authorization" not in h for h in to_urls)
    assert b.authorizations() == []
