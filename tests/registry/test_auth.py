"""Basic auth over TLS from a test CA, and token auth with real JWTs the registry verifies."""

from __future__ import annotations

import base64
import json
import os
import subprocess

import pytest

from registry_support import skopeo_json
from layerlab.errors import AuthError, RegistryError
from layerlab.sources.registry import RegistryClient

pytestmark = pytest.mark.live
PASSWORD = "s3cret-Pa55"


def copy_into(live, target, user: str, password: str, name: str = "team/app:1") -> str:
    src_reg, refs = live
    args = ["skopeo", "copy", *src_reg.skopeo_args(side="src"), f"--dest-creds={user}:{password}"]
    args += target.skopeo_args(side="dest")[:1] if target.ca_file else ["--dest-tls-verify=false"]
    out = subprocess.run([*args, f"docker://{refs['app']}", f"docker://{target.host}/{name}"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return f"{target.host}/{name}"


@pytest.fixture(scope="module")
def basic(live, tmp_path_factory):
    from layerlab.testing.registry import Registry

    with Registry(tmp_path_factory.mktemp("basic"), htpasswd={"alice": PASSWORD}) as reg:
        yield reg, copy_into(live, reg, "alice", PASSWORD)


def write_config(path, data) -> str:
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(data))
    return str(path / "config.json")


def test_basic_auth_over_tls_with_config_json(basic, tmp_path):
    reg, ref = basic
    auth = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    config = write_config(tmp_path / "docker", {"auths": {reg.host: {"auth": auth}}})
    with RegistryClient(docker_config=config, verify=reg.ca_file, cache_dir=False) as c:
        info = c.inspect(ref)
        assert c.base_url(reg.host).startswith("https://")
    peer = skopeo_json(*reg.skopeo_args(user="alice"), f"docker://{ref}")
    assert info.digest == peer["Digest"] and [l.digest for l in info.images[0].layers] == peer["Layers"]


def test_credential_helper(basic, tmp_path, monkeypatch):
    reg, ref = basic
    helper = tmp_path / "bin" / "docker-credential-lltest"
    helper.parent.mkdir()
    # A credential helper speaks JSON on stdout for the server URL read from stdin.
    helper.write_text("#!/bin/sh\nread server\n"
                      f"printf '{{\"ServerURL\":\"%s\",\"Username\":\"alice\",\"Secret\":\"{PASSWORD}\"}}' \"$server\"\n")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper.parent}{os.pathsep}{os.environ['PATH']}")
    config = write_config(tmp_path / "docker", {"credHelpers": {reg.host: "lltest"}})
    with RegistryClient(docker_config=config, verify=reg.ca_file, cache_dir=False) as c:
        assert c.inspect(ref).images[0].layers
        assert PASSWORD not in repr(c.credentials(reg.host))


def test_wrong_password_and_untrusted_ca_are_clear_errors(basic, tmp_path):
    reg, ref = basic
    with RegistryClient(credentials={reg.host: ("alice", "wrong-password")}, docker_config=False,
                        verify=reg.ca_file, cache_dir=False) as c:
        with pytest.raises(AuthError) as e:
            c.inspect(ref)
        assert "wrong-password" not in str(e.value) and "docker login" in str(e.value)
    with RegistryClient(docker_config=False, verify=reg.ca_file, cache_dir=False) as c:
        with pytest.raises(AuthError, match="user name and password"):
            c.inspect(ref)
    with RegistryClient(docker_config=False, cache_dir=False) as c:  # the test CA is not trusted
        with pytest.raises(RegistryError, match="ca-file"):
            c.inspect(ref)


@pytest.fixture(scope="module")
def token(live, tmp_path_factory):
    from layerlab.testing.registry import Registry
    from layerlab.testing.token_server import TokenServer

    work = tmp_path_factory.mktemp("token")
    with TokenServer(work / "ts", users={"bob": PASSWORD}) as ts, Registry(work / "reg", token=ts) as reg:
        yield ts, reg, copy_into(live, reg, "bob", PASSWORD)


def test_token_auth_with_credentials_reuses_tokens(token):
    ts, reg, ref = token
    with RegistryClient(credentials={reg.host: ("bob", PASSWORD)}, docker_config=False, cache_dir=False) as c:
        before = len(ts.requests)
        info = c.inspect(ref)
        issued = len(ts.requests) - before
        assert issued == 1
        assert ts.requests[-1][1] == "bob" and "repository:team/app:pull" in ts.requests[-1][0]
        c.inspect(ref)
        assert len(ts.requests) - before == issued  # reused until it expires
        assert c.catalog(reg.host) == ["team/app"]
        assert PASSWORD not in repr(c._tokens) and "Bearer" not in repr(c)
    peer = skopeo_json(f"--creds=bob:{PASSWORD}", "--tls-verify=false", f"docker://{ref}")
    assert info.digest == peer["Digest"]


def test_token_auth_anonymous(token):
    ts, reg, ref = token
    with RegistryClient(docker_config=False, cache_dir=False) as c:
        with pytest.raises(AuthError, match="refused anonymous access"):
            c.inspect(ref)
    ts.anonymous_pull = True
    try:
        with RegistryClient(docker_config=False, cache_dir=False) as c:
            assert c.inspect(ref).images[0].layers
            assert ts.requests[-1][1] is None
    finally:
        ts.anonymous_pull = False
