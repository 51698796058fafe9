"""Trust rules against a misbehaving server in front of the real registry."""

from __future__ import annotations

import base64
import json
import subprocess
import time

import pytest

from faulty import FaultyProxy
from layerlab.errors import DigestMismatch, RateLimited, RegistryError, UnsupportedManifest
from layerlab.sources.registry import RegistryClient

pytestmark = pytest.mark.live


@pytest.fixture
def proxy(live):
    reg, refs = live
    with FaultyProxy(reg.url) as p:
        yield p, refs


def ref_via(p, ref: str) -> str:
    return f"127.0.0.1:{p.port}/" + ref.split("/", 1)[1]


def make_client(**kw) -> RegistryClient:
    return RegistryClient(docker_config=False, cache_dir=False, **{"backoff": 0.05, **kw})


def test_wrong_digest_is_an_error(proxy):
    p, refs = proxy
    p.fault("/manifests/", "corrupt")
    with make_client() as c, pytest.raises(DigestMismatch, match="hashes to"):
        c.inspect(ref_via(p, refs["app"]))
    p.fault("/blobs/", "corrupt")
    with make_client() as c, pytest.raises(DigestMismatch):
        c.inspect(ref_via(p, refs["app"]))


def test_429_then_success_honours_retry_after(proxy):
    p, refs = proxy
    p.fault("/manifests/", "status", code=429, headers={"Retry-After": "1"})
    p.fault("/blobs/", "status", code=503)
    with make_client() as c:
        start = time.monotonic()
        info = c.inspect(ref_via(p, refs["app"]))
        assert time.monotonic() - start >= 1.0
    assert info.images[0].layers
    manifest_gets = [s for s in p.seen if "/manifests/" in s[1]]
    assert len(manifest_gets) == 2


def test_retry_after_is_capped_and_retries_are_bounded(proxy):
    p, refs = proxy
    # A wait beyond the cap is refused at once, naming the header (tests/hostile holds the rest).
    p.fault("/manifests/", "status", code=429, headers={"Retry-After": "3600"})
    with make_client(max_retry_after=0.5) as c, pytest.raises(RateLimited, match="Retry-After: 3600"):
        start = time.monotonic()
        c.inspect(ref_via(p, refs["app"]))
    assert time.monotonic() - start < 10
    p.fault("/manifests/", "status", code=429, headers={"Retry-After": "0"})
    with make_client(max_retry_after=0.5) as c:
        c.inspect(ref_via(p, refs["app"]))  # a short wait is waited, and the retry succeeds
    for _ in range(5):
        p.fault("/manifests/", "status", code=429, headers={"Retry-After": "0"})
    with make_client(retries=2) as c, pytest.raises(RateLimited, match="429"):
        c.inspect(ref_via(p, refs["app"]))


def test_huge_body_is_refused(proxy):
    p, refs = proxy
    p.fault("/manifests/", "huge", mib=64)
    with make_client() as c:
        start = time.monotonic()
        with pytest.raises(RegistryError, match="limit"):
            c.inspect(ref_via(p, refs["app"]))
        assert time.monotonic() - start < 10


def test_docker_hub_rate_limit_headers_are_reported(proxy):
    p, refs = proxy
    p.fault("/manifests/", "headers", headers={"ratelimit-limit": "100;w=21600",
                                               "ratelimit-remaining": "37;w=21600"})
    with make_client() as c:
        c.inspect(ref_via(p, refs["app"]))
        assert (c.rate_limit.limit, c.rate_limit.remaining, c.rate_limit.window) == (100, 37, 21600)
        assert "37 of 100" in str(c.rate_limit)


def test_credentials_never_follow_a_redirect_to_another_host(live):
    reg, refs = live
    with FaultyProxy(reg.url, basic_auth=True) as front, FaultyProxy(reg.url) as elsewhere:
        front.fault("/blobs/", "redirect", to=f"http://localhost:{elsewhere.port}")
        with make_client(credentials={f"127.0.0.1:{front.port}": ("carol", "hunter2-secret")}) as c:
            info = c.inspect(ref_via(front, refs["app"]))
        assert info.images[0].config_digest
        assert [s for s in elsewhere.seen if "/blobs/" in s[1]], "the redirect was not followed"
        assert all("Authorization" not in headers for _, _, headers in elsewhere.seen)
        assert any("Authorization" in headers for _, _, headers in front.seen)


def test_the_environments_proxy_is_used_unless_no_proxy_names_the_host(live, monkeypatch):
    reg, refs = live
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    with FaultyProxy(reg.url) as forward:
        monkeypatch.setenv("http_proxy", f"http://proxy-user:p%40ss@127.0.0.1:{forward.port}")
        with make_client() as c:
            proxied = c.inspect(refs["app"])
        through = [path for _, path, _ in forward.seen]
        assert any(path.startswith(f"http://{reg.host}/v2/") and "/manifests/" in path for path in through), through
        expected = "Basic " + base64.b64encode(b"proxy-user:p@ss").decode()
        sent = [{k.lower(): v for k, v in headers.items()}.get("proxy-authorization") for _, _, headers in forward.seen]
        assert sent and all(value == expected for value in sent), sent
        forward.seen.clear()
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        with make_client() as c:
            direct = c.inspect(refs["app"])
        assert forward.seen == []
    assert proxied.to_dict() == direct.to_dict()


def test_tags_follow_link_pagination(proxy):
    p, refs = proxy
    p.fault("tags/list", "paginate", n=5)
    with make_client() as c:
        tags = c.tags(ref_via(p, refs["many"]), page_size=5)
    assert tags == sorted(tags) and len(tags) == 12
    assert len([s for s in p.seen if "tags/list" in s[1]]) == 3


def test_schema1_digest_is_the_signed_payloads(proxy, tmp_path):
    """A signed schema1 manifest is checked as skopeo checks it: its digest (`skopeo manifest-digest`)
    covers the payload, not the signatures a registry makes anew on each GET; an altered payload is
    refused whatever its signatures say."""
    p, refs = proxy
    reg_url = refs["app"]
    out = subprocess.run(["skopeo", "copy", "--src-tls-verify=false", "--format", "v2s1",
                          f"docker://{reg_url}", f"dir:{tmp_path / 's1'}"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    path = tmp_path / "s1" / "manifest.json"
    body = path.read_bytes()
    doc = json.loads(body)
    assert doc["schemaVersion"] == 1 and doc["signatures"]
    digest = subprocess.run(["skopeo", "manifest-digest", str(path)], capture_output=True, text=True,
                            check=True).stdout.strip()
    ref = ref_via(p, reg_url).rsplit(":", 1)[0] + "@" + digest
    signed = {"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"}
    resigned = body.replace(doc["signatures"][0]["signature"].encode(), b"A" * len(doc["signatures"][0]["signature"]))
    for served in (body, resigned):
        p.fault("/manifests/", "serve", body=served, headers=signed)
        with make_client() as c:
            info = c.inspect(ref)
        assert info.digest == digest
        kept = [l["blobSum"] for l, h in zip(doc["fsLayers"], doc["history"])
                if not json.loads(h["v1Compatibility"]).get("throwaway")]
        assert [l.digest for l in info.images[0].layers] == kept[::-1]
    altered = body.replace(b'"architecture":"amd64"', b'"architecture":"arm64"', 1)
    assert altered != body
    p.fault("/manifests/", "serve", body=altered, headers=signed)
    with make_client() as c, pytest.raises(DigestMismatch, match="hashes to"):
        c.inspect(ref)
    # a protected header that cuts past the body is refused, not read
    sig = doc["signatures"][0]
    cut = json.loads(base64.urlsafe_b64decode(sig["protected"] + "=" * (-len(sig["protected"]) % 4)))
    cut["formatLength"] = len(body) + 100
    bad = body.replace(sig["protected"].encode(), base64.urlsafe_b64encode(json.dumps(cut).encode()).rstrip(b"="))
    p.fault("/manifests/", "serve", body=bad, headers=signed)
    with make_client() as c, pytest.raises(UnsupportedManifest, match="no usable signature"):
        c.inspect(ref)
