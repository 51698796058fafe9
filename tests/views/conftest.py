"""Fixtures for the view tests (plots, widgets, reports, notebooks): the bundled sample, Agg backend."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

import layerlab as ll  # noqa: E402
from pathlib import Path  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="session")
def sample():
    """The bundled overlay2 sample (a real capture); its sample roles are in data/README.md."""
    return ll.sample()


@pytest.fixture
def ax():
    fig, ax = plt.subplots(figsize=(9, 5))
    yield ax
    plt.close(fig)


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def host(tmp_path_factory):
    """A snapshot of a real dockerd filled like a host (tests/harness/host.py: 300 images, some
    untagged, one large Python image, many layers, BuildKit and classic builds); (path, what was made)."""
    import tempfile

    from harness.buildkit import buildkit_missing
    from harness.daemon import Daemon, dockerd_missing
    from harness.host import build_host
    from harness.tiers import require

    require(dockerd_missing() or buildkit_missing())
    out = tmp_path_factory.mktemp("host") / "host.layerlab"
    # The data root stays (the daemon stops): a report reads file contents from it, as on a host.
    with Daemon(tempfile.mkdtemp(prefix="layerlab-hostd-", dir=tmp_path_factory.getbasetemp())) as d:
        made = build_host(d)
        ll.open_root(str(d.data_root), progress=False).save(out)
    return out, made
