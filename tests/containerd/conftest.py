"""Real containerd stores for the bbolt and containerd-metadata tests.

An image archive comes from a real dockerd (`docker save` of a busybox-static base and an image
built on it with RUN); it is imported into a real containerd with `ctr -n moby images import`.
"""

from __future__ import annotations

import pytest

from harness.containerd import APP_REF, Containerd, containerd_missing, docker_archive, populate
from harness.tiers import require


@pytest.fixture(scope="session")
def image_archive(tmp_path_factory):
    """A `docker save` archive of BASE and APP from a real dockerd (stopped again before use)."""
    from harness.daemon import dockerd_missing

    require(dockerd_missing())
    return docker_archive(tmp_path_factory.mktemp("ctrd-docker"))


@pytest.fixture(scope="session")
def live(tmp_path_factory, image_archive):
    """A running containerd holding the imported images and the extras of `populate`."""
    require(containerd_missing())
    c = Containerd(tmp_path_factory.mktemp("ctrd-live"), gc=False)
    with c:
        populate(c, image_archive)
        yield c


@pytest.fixture(scope="session")
def stopped(tmp_path_factory, image_archive):
    """A containerd root written by a real containerd that has since been stopped."""
    require(containerd_missing())
    c = Containerd(tmp_path_factory.mktemp("ctrd-stopped"))
    with c:
        c.ctr("images", "import", image_archive)
        c.ctr("containers", "create", APP_REF, "ctr-1")
    return c


@pytest.fixture(scope="session")
def images_ls(live):
    """`ctr -n moby images ls` rows as {name: (media type, digest)} (slow with 300 tags: run once)."""
    rows = {}
    for line in live.ctr("images", "ls").stdout.splitlines()[1:]:
        name, media_type, digest = line.split()[:3]
        rows[name] = (media_type, digest)
    return rows
