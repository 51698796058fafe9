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
IDENTITY = "refresh-7d1f-secret"


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
    from harness.registry import Registry

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
    install_helper(tmp_path / "bin", "lltest", {reg.host: ("alice", PASSWORD)}, monkeypatch)
    config = write_config(tmp_path / "docker", {"credHelpers": {reg.host: "lltest"}})
    with RegistryClient(docker_config=config, verify=reg.ca_file, cache_dir=False) as c:
        assert c.inspect(ref).images[0].layers
        assert PASSWORD not in repr(c.credentials(reg.host))


def install_helper(bindir, name: str, answers: dict, monkeypatch) -> None:
    """A real docker-credential-NAME on PATH: JSON for the servers in ``answers`` ({server: (user, secret)}),
    and, like the real helpers, "credentials not found" with exit status 1 for any other."""
    bindir.mkdir(exist_ok=True)
    lines = ["#!/bin/sh", "read server", 'case "$server" in']
    for server, (user, secret) in answers.items():
        lines.append(f"  '{server}') printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\","
                     f"\"Secret\":\"{secret}\"}}' \"$server\" ;;")
    lines += ["  *) echo 'credentials not found in native keychain'; exit 1 ;;", "esac", ""]
    helper = bindir / f"docker-credential-{name}"
    helper.write_text("\n".join(lines))
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")


def test_creds_store(basic, tmp_path, monkeypatch):
    reg, ref = basic
    install_helper(tmp_path / "bin", "llstore", {reg.host: ("alice", PASSWORD)}, monkeypatch)
    config = write_config(tmp_path / "docker", {"credsStore": "llstore", "auths": {reg.host: {}}})
    with RegistryClient(docker_config=config, verify=reg.ca_file, cache_dir=False) as c:
        info = c.inspect(ref)
    peer = skopeo_json(*reg.skopeo_args(user="alice"), f"docker://{ref}")
    assert info.digest == peer["Digest"]


def test_a_creds_store_answer_is_final_as_with_docker(basic, tmp_path, monkeypatch):
    reg, ref = basic
    install_helper(tmp_path / "bin", "llempty", {}, monkeypatch)
    # Docker ignores `auths` entries once a store is configured; a stale one must not be sent.
    auth = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    config = write_config(tmp_path / "docker", {"credsStore": "llempty", "auths": {reg.host: {"auth": auth}}})
    with RegistryClient(docker_config=config, verify=reg.ca_file, cache_dir=False) as c:
        assert c.credentials(reg.host) is None
        with pytest.raises(AuthError, match="user name and password"):
            c.inspect(ref)


def test_a_failing_helper_is_a_clear_error_without_its_output(basic, tmp_path, monkeypatch):
    reg, ref = basic
    helper = tmp_path / "bin" / "docker-credential-llbroken"
    helper.parent.mkdir()
    helper.write_text(f"#!/bin/sh\necho 'token {PASSWORD} rejected' >&2\nexit 3\n")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper.parent}{os.pathsep}{os.environ['PATH']}")
    config = write_config(tmp_path / "docker", {"credHelpers": {reg.host: "llbroken"}})
    with RegistryClient(docker_config=config, verify=reg.ca_file, cache_dir=False) as c:
        with pytest.raises(AuthError, match="exit 3") as e:
            c.inspect(ref)
    assert PASSWORD not in str(e.value) and "docker-credential-llbroken list" in str(e.value)


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
    from harness.registry import Registry
    from harness.token_server import TokenServer

    work = tmp_path_factory.mktemp("token")
    with TokenServer(work / "ts", users={"bob": PASSWORD}, identity_tokens={IDENTITY: "bob"}) as ts, \
            Registry(work / "reg", token=ts) as reg:
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


def test_identity_token_from_a_creds_store(token, tmp_path, monkeypatch):
    ts, reg, ref = token
    # What `docker login` leaves for registries that hand out identity (refresh) tokens.
    install_helper(tmp_path / "bin", "llstore", {reg.host: ("<token>", IDENTITY)}, monkeypatch)
    config = write_config(tmp_path / "docker", {"credsStore": "llstore", "auths": {reg.host: {}}})
    with RegistryClient(docker_config=config, cache_dir=False) as c:
        info = c.inspect(ref)
        scopes, user, access, method = ts.requests[-1]
        assert (user, method) == ("bob", "POST") and "repository:team/app:pull" in scopes
        assert IDENTITY not in repr(c.credentials(reg.host)) and IDENTITY not in repr(c._tokens)
    peer = skopeo_json(f"--creds=bob:{PASSWORD}", "--tls-verify=false", f"docker://{ref}")
    assert info.digest == peer["Digest"]
