"""Fixtures for hostile-input tests: private copies of the real captures to damage."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from harness.tiers import require_root


@pytest.fixture
def public_tmp():
    """A temp dir other users can reach (pytest's own is private to root)."""
    path = tempfile.mkdtemp(prefix="layerlab-hostile-")
    os.chmod(path, 0o755)
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def root_copy(public_tmp):
    """A copy of the real overlay2 capture (a data root made by dockerd), to damage."""
    require_root("tar")
    from layerlab.sources.sample import data_dir

    root = public_tmp / "root"
    root.mkdir()
    subprocess.run(
        ["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpJf",
         str(data_dir() / "capture/overlay2.tar.xz"), "-C", str(root)],
        check=True,
    )
    return root


@pytest.fixture
def containerd_copy(public_tmp):
    """A copy of the real containerd capture (a containerd-store data root made by dockerd), to damage."""
    require_root("tar", "xz")
    import sys

    from layerlab.sources.sample import data_dir

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    from capture_sample import unpack

    root = public_tmp / "ctrd"
    unpack(data_dir() / "capture" / "containerd.tar.xz", root)
    return root
