"""Registry answers of the wrong shape are clear errors, and a hostile token never reaches a message."""

from __future__ import annotations

import json
import traceback

import pytest
from harness.scripted import Scripted

from layerlab.errors import AuthError, LayerlabError, RegistryError
from layerlab.oci.manifest import Descriptor
from layerlab.sources.registry import RegistryClient

SECRET = "SECRET-TOKEN-7f3a"


@pytest.fixture
def server():
    with Scripted("127.0.0.1") as s:
        yield s


def client():
    return RegistryClient(docker_config=False, cache_dir=False, retries=0, timeout=5, deadline=10)


def _token_registry(s: Scripted, token_body: dict, tags=("1.0",)):
    s.route(r"^/token", lambda srv, h: (200, {"Content-Type": "application/json"}, json.dumps(token_body).encode()))
    s.route(r"^/v2/", lambda srv, h: (
        (200, {"Content-Type": "application/json"}, json.dumps({"name": "app", "tags": list(tags)}).encode())
        if (h.headers.get("Authorization") or "").startswith("Bearer ")
        else (401, {"WWW-Authenticate": f'Bearer realm="{s.url}/token",service="svc"'}, b"{}")))


def test_a_token_with_cr_lf_is_a_clear_error_that_never_shows_it(server):
    _token_registry(server, {"token": f"abc\r\nX-Injected: 1 {SECRET}"})
    with client() as c, pytest.raises(AuthError, match="not a string of printable characters") as e:
        c.tags(f"{server.host}/app")
    shown = "".join(traceback.format_exception(e.value))
    assert SECRET not in shown and "X-Injected" not in shown
    assert not any("X-Injected" in str(h) for _, _, h in server.seen)


def test_an_unusable_expires_in_is_read_as_docker_does(server):
    _token_registry(server, {"token": "good-token", "expires_in": "soon"})
    with client() as c:
        assert c.tags(f"{server.host}/app") == ["1.0"]


@pytest.mark.parametrize("tags", ['"latest"', "[1, null]", '{"a": 1}'])
def test_tags_that_are_not_a_list_of_strings_are_an_error(server, tags):
    server.route(r"/tags/list", lambda s, h: (200, {"Content-Type": "application/json"},
                                               b'{"name": "app", "tags": ' + tags.encode() + b"}"))
    with client() as c, pytest.raises(RegistryError, match="not a list of strings"):
        c.tags(f"{server.host}/app")


@pytest.mark.parametrize("size", [-1, "12", 1.5, True, None])
def test_a_descriptor_size_that_is_not_a_non_negative_integer_is_an_error(size):
    with pytest.raises(LayerlabError, match="descriptor"):
        Descriptor.from_json({"digest": "sha256:" + "a" * 64, "size": size}, "app:1")
    assert Descriptor.from_json({"digest": "sha256:" + "a" * 64, "size": 0}, "app:1").size == 0


@pytest.mark.parametrize("platform", ['"linux/amd64"', '{"os": 7, "architecture": "amd64"}', "[1]"])
def test_a_descriptor_platform_of_the_wrong_shape_is_an_error(platform):
    with pytest.raises(RegistryError, match="platform is not an object of strings"):
        Descriptor.from_json({"digest": "sha256:" + "a" * 64, "size": 1, "platform": json.loads(platform)}, "app:1")


@pytest.mark.parametrize("config", [[1], {"os": 7}, {"history": {"a": 1}}, {"rootfs": {"diff_ids": [1]}}])
def test_a_config_of_the_wrong_shape_is_named(config):
    from layerlab.oci.config import config_problem

    assert config_problem(config)
    assert config_problem({"os": "linux", "architecture": "amd64", "rootfs": {"diff_ids": []}, "history": []}) is None


# -- docker's config.json and credential helpers of the wrong shape ---------------------------------


@pytest.mark.parametrize("config", ['[1]', '{"auths": []}', '{"auths": {"h": "x"}}', '{"credHelpers": {"h": 1}}',
                                    '{"credsStore": ["a"]}', '{"auths": {"h": {"auth": 5}}}'])
def test_a_docker_config_of_the_wrong_shape_is_an_auth_error(tmp_path, config):
    from layerlab.sources.registry.auth import DockerConfig

    path = tmp_path / "config.json"
    path.write_text(config)
    with pytest.raises(AuthError, match="config|auth"):
        DockerConfig(path).credentials("h")


@pytest.mark.parametrize("answer", ['["a", "b"]', '{"Username": 1, "Secret": "' + SECRET + '"}', '"x"'])
def test_a_credential_helper_printing_the_wrong_shape_is_an_auth_error_without_its_output(tmp_path, monkeypatch,
    answer):
    from layerlab.sources.registry.auth import DockerConfig

    helper = tmp_path / "bin" / "docker-credential-odd"
    helper.parent.mkdir()
    helper.write_text(f"#!/bin/sh\ncat >/dev/null\nprintf '%s' '{answer}'\n")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper.parent}:{__import__('os').environ['PATH']}")
    (tmp_path / "config.json").write_text('{"credsStore": "odd"}')
    with pytest.raises(AuthError, match="not an object of Username and Secret") as e:
        DockerConfig(tmp_path / "config.json").credentials("h")
    assert SECRET not in str(e.value)


def test_debug_logging_never_shows_credentials(server, caplog):
    import base64
    import logging

    server.route(r"^/v2/", lambda s, h: (
        (200, {"Content-Type": "application/json"}, b'{"name": "app", "tags": ["1"]}')
        if h.headers.get("Authorization") else (401, {"WWW-Authenticate": 'Basic realm="r"'}, b"{}")))
    caplog.set_level(logging.DEBUG)
    with RegistryClient(docker_config=False, cache_dir=False, credentials={server.host: ("alice", SECRET)},
                        retries=0, timeout=5) as c:
        assert c.tags(f"{server.host}/app") == ["1"]
        assert SECRET not in repr(c.credentials(server.host))
    encoded = base64.b64encode(f"alice:{SECRET}".encode()).decode()
    assert caplog.records and SECRET not in caplog.text and encoded not in caplog.text
