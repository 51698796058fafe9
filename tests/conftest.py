import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixtures_docker import (  # noqa: E402,F401
    btrfs_daemon,
    fuse_overlayfs_daemon,
    overlay2_daemon,
    overlay_daemon,
    sample_registry,
    vfs_daemon,
)


@pytest.fixture
def public_tmp():
    """A temp dir other users can reach (pytest's own is private to root)."""
    path = tempfile.mkdtemp(prefix="layerlab-test-")
    os.chmod(path, 0o755)
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def root_copy(public_tmp):
    """A copy of the real overlay2 capture (a data root made by dockerd), to damage (root tier)."""
    from harness.captures import unpack_capture
    from harness.tiers import require_root

    require_root("tar")
    return unpack_capture("overlay2", public_tmp / "root")
