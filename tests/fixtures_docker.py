"""Session fixtures: a real dockerd per storage driver with the sample images built once.

Import them into conftest.py (``from fixtures_docker import *``). Each yields ``(daemon, built)``
where ``built`` is ``harness.images.build_sample``'s dict; every daemon pushes to one
``sample_registry`` so their data roots hold distribution metadata and RepoDigests.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager

import pytest

from harness.btrfs import BtrfsMount, btrfs_missing
from harness.daemon import Daemon, dockerd_missing
from harness.images import build_sample
from harness.registry import Registry, registry_missing
from harness.tiers import require

__all__ = ["sample_registry", "overlay2_daemon", "vfs_daemon", "btrfs_daemon", "overlay_daemon",
           "fuse_overlayfs_daemon"]


@pytest.fixture(scope="session")
def sample_registry(tmp_path_factory):
    """A plain-HTTP docker-registry on 127.0.0.1 that the sample daemons push to."""
    require(registry_missing())
    with Registry(tmp_path_factory.mktemp("sample-registry")) as reg:
        yield reg


@contextmanager
def _daemon_with_sample(tmp_path_factory, request, driver: str, data_root=None):
    """A running dockerd with the sample built and pushed: yields (Daemon, built), stops it after."""
    require(dockerd_missing())
    registry = request.getfixturevalue("sample_registry")
    daemon = Daemon(tmp_path_factory.mktemp(f"dockerd-{driver}"), driver=driver, data_root=data_root)
    daemon.start()
    try:
        yield daemon, build_sample(daemon, registry_host=registry.host, registry_namespace=driver)
    finally:
        daemon.stop()


@pytest.fixture(scope="session")
def overlay2_daemon(tmp_path_factory, request):
    """(Daemon, built) for a running overlay2 dockerd with the sample built and pushed."""
    with _daemon_with_sample(tmp_path_factory, request, "overlay2") as running:
        yield running


@pytest.fixture(scope="session")
def vfs_daemon(tmp_path_factory, request):
    """(Daemon, built) for a running vfs dockerd with the sample built and pushed."""
    with _daemon_with_sample(tmp_path_factory, request, "vfs") as running:
        yield running


@pytest.fixture(scope="session")
def btrfs_daemon(tmp_path_factory, request):
    """(Daemon, built) for a btrfs dockerd whose data root is on a loop-mounted btrfs file."""
    require(dockerd_missing() or btrfs_missing())
    with BtrfsMount(tmp_path_factory.mktemp("btrfs")) as mount, \
            _daemon_with_sample(tmp_path_factory, request, "btrfs", data_root=mount.path / "docker") as running:
        yield running


@pytest.fixture(scope="session")
def overlay_daemon(tmp_path_factory, request):
    """(Daemon, built) for the legacy `overlay` driver (removed in Docker 24, still in 20.10)."""
    with _daemon_with_sample(tmp_path_factory, request, "overlay") as running:
        yield running


@pytest.fixture(scope="session")
def fuse_overlayfs_daemon(tmp_path_factory, request):
    """(Daemon, built) for the fuse-overlayfs driver (Debian's fuse-overlayfs, /dev/fuse)."""
    require(None if shutil.which("fuse-overlayfs") else "needs fuse-overlayfs installed (.ci/run installs it)")
    with _daemon_with_sample(tmp_path_factory, request, "fuse-overlayfs") as running:
        yield running
