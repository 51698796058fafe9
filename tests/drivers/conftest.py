"""Fixtures for the driver and containerd-store tests: the bundled captures, unpacked as root, and a live containerd."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from harness.captures import unpack_capture
from harness.tiers import missing, require

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"
sys.path.insert(0, str(REPO / "scripts"))


@pytest.fixture(scope="session")
def containerd_capture(tmp_path_factory):
    """data/capture/containerd.tar.xz unpacked (as root: whiteout device files and trusted.* xattrs)."""
    require(missing(root=True, programs=("tar", "xz")))
    return unpack_capture("containerd", tmp_path_factory.mktemp("ctrd-capture") / "root")


@pytest.fixture()
def capture_copy(tmp_path, containerd_capture):
    """A private copy of the capture that a test may damage."""
    import subprocess

    dest = tmp_path / "root"
    subprocess.run(["cp", "-a", str(containerd_capture), str(dest)], check=True)
    return dest
