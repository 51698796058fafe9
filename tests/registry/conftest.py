"""Live fixtures: one dockerd and one plain-HTTP registry per session, with images pushed by the daemon."""

from __future__ import annotations

import pytest

from harness.tiers import require_root


@pytest.fixture(scope="session")
def daemon(tmp_path_factory):
    require_root("dockerd", "docker-registry", "skopeo", "htpasswd")
    from harness.daemon import Daemon

    with Daemon(tmp_path_factory.mktemp("dockerd")) as d:
        yield d


@pytest.fixture(scope="session")
def live(daemon, tmp_path_factory):
    """(registry, refs): a plain-HTTP registry on loopback with harness.registry.push_sample."""
    from harness.registry import Registry, push_sample

    work = tmp_path_factory.mktemp("registry")
    with Registry(work / "reg") as reg:
        refs = push_sample(daemon, reg, work / "ctx", many_tags=12)
        yield reg, refs


@pytest.fixture
def client(tmp_path):
    from layerlab.sources.registry import RegistryClient

    with RegistryClient(docker_config=False, cache_dir=tmp_path / "cache") as c:
        yield c
