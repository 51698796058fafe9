"""Fixtures of the analyses tests: the shared sample daemons, plus a daemon with edge-case images.

The edge images are built on a daemon of their own so the shared sample daemons keep exactly the
sample (other tests count its images).
"""

from __future__ import annotations

import random
import textwrap

import pytest

import layerlab as ll
from harness.daemon import Daemon, dockerd_missing
from harness.images import BASE, busybox_rootfs
from harness.tiers import require

EDGE = "layerlab-test/edge:1"
EDGE_CHILD = "layerlab-test/edge-child:1"

EDGE_DOCKERFILE = f"""
FROM {BASE}
COPY blob.bin /h/a
# a hard link, then its first name deleted: the bytes stay visible through the second name
RUN ln /h/a /h/b && mkdir -p /tree/sub && cp /h/a /tree/sub/copy.bin && echo hi > /tree/sub/hi.txt && ln -s sub/hi.txt /tree/link
RUN rm /h/a
# an empty layer (the command changes nothing)
RUN true
# a directory replaced by a file: its lower contents are hidden without a whiteout for each
RUN rm -rf /tree/sub && echo file > /tree/sub
# chown only: the whole file is copied up with the same content
RUN chown 65534:65534 /etc/passwd
# the same content under another path in the final filesystem
RUN cp /h/b /h/dup.bin
LABEL org.layerlab.role="analyses edge cases"
"""  # noqa: E501 (a Dockerfile line: the image the tests inspect is built from it as written)


@pytest.fixture(scope="session")
def edge_daemon(tmp_path_factory):
    """(Daemon, refs) with the busybox base, an edge-case image and a child of it, on overlay2."""
    require(dockerd_missing())
    work = tmp_path_factory.mktemp("dockerd-edge")
    daemon = Daemon(work, driver="overlay2")
    daemon.start()
    try:
        rootfs = busybox_rootfs(work / "rootfs")
        daemon.docker("import", "--change", 'CMD ["/bin/sh"]', str(rootfs), BASE)
        ctx = work / "edge"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(textwrap.dedent(EDGE_DOCKERFILE).lstrip())
        (ctx / "blob.bin").write_bytes(random.Random(7).randbytes(96 << 10))
        daemon.docker("build", "--network", "none", "-q", "-t", EDGE, str(ctx), timeout=600)
        child = work / "child"
        child.mkdir()
        (child / "Dockerfile").write_text(f"FROM {EDGE}\nRUN rm -rf /tree && rm /h/dup.bin\n")
        daemon.docker("build", "--network", "none", "-q", "-t", EDGE_CHILD, str(child), timeout=600)
        daemon.docker("create", "--name", "edge-created", "--network", "none", EDGE)
    except BaseException:
        daemon.stop()
        raise
    yield daemon, {"base": BASE, "edge": EDGE, "child": EDGE_CHILD}
    daemon.stop()


@pytest.fixture(params=["overlay2_daemon", "vfs_daemon"], scope="module")
def sample_live(request):
    """(daemon, built, inventory) for each sample daemon."""
    daemon, built = request.getfixturevalue(request.param)
    return daemon, built, ll.open_root(str(daemon.data_root), progress=False)


@pytest.fixture(scope="module")
def edge_live(edge_daemon):
    daemon, refs = edge_daemon
    return daemon, refs, ll.open_root(str(daemon.data_root), progress=False)
