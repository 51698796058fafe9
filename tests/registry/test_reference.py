import pytest

from layerlab.oci.reference import InvalidReference, Reference, is_loopback

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("text, full, api_host", [
    ("python", "docker.io/library/python:latest", "registry-1.docker.io"),
    ("python:3.12", "docker.io/library/python:3.12", "registry-1.docker.io"),
    ("docker.io/library/python:3.12", "docker.io/library/python:3.12", "registry-1.docker.io"),
    ("index.docker.io/python", "docker.io/library/python:latest", "registry-1.docker.io"),
    ("team/app", "docker.io/team/app:latest", "registry-1.docker.io"),
    (f"localhost:5000/team/app@{DIGEST}", f"localhost:5000/team/app@{DIGEST}", "localhost:5000"),
    ("localhost/app", "localhost/app:latest", "localhost"),
    ("ghcr.io/org/tool:v1", "ghcr.io/org/tool:v1", "ghcr.io"),
    (f"127.0.0.1:5000/a/b/c:t@{DIGEST}", f"127.0.0.1:5000/a/b/c:t@{DIGEST}", "127.0.0.1:5000"),
])
def test_normalised_as_docker_does(text, full, api_host):
    ref = Reference.parse(text)
    assert str(ref) == full
    assert ref.api_host == api_host


def test_digest_wins_over_tag_for_fetching():
    ref = Reference.parse(f"python:3.12@{DIGEST}")
    assert ref.identifier == DIGEST and ref.tag == "3.12"
    assert Reference.parse("python").familiar == "python:latest"


@pytest.mark.parametrize("bad", ["", "Python", "docker.io/Library/x", "app:bad tag", "app@sha256:123", "a//b"])
def test_invalid_references_are_refused(bad):
    with pytest.raises(InvalidReference):
        Reference.parse(bad)


def test_a_url_is_refused_with_what_to_drop():
    with pytest.raises(InvalidReference, match="drop https://"):
        Reference.parse("https://ghcr.io/team/app:1")


def test_loopback_hosts_may_use_plain_http():
    assert is_loopback("127.0.0.1:5000") and is_loopback("localhost") and is_loopback("[::1]:5000")
    assert not is_loopback("registry.example.com:5000") and not is_loopback("10.0.0.1")
