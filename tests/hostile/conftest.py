"""Fixtures for hostile-input tests: private copies of the real captures to damage (``public_tmp``
and ``root_copy``, the overlay2 capture, come from tests/conftest.py)."""

from __future__ import annotations

import pytest
from harness.captures import unpack_capture
from harness.tiers import require_root


@pytest.fixture
def containerd_copy(public_tmp):
    """A copy of the real containerd capture (a containerd-store data root made by dockerd), to damage."""
    require_root("tar", "xz")
    return unpack_capture("containerd", public_tmp / "ctrd")
