"""Test tiers: a tier that needs root or a real daemon skips on a laptop and is required in CI."""

from __future__ import annotations

import os
import shutil

import pytest

#: In CI (``CI=true``, as .ci/run is run) or with LAYERLAB_REQUIRE_ALL=1, a missing requirement fails.
REQUIRED = os.environ.get("CI", "").lower() == "true" or os.environ.get("LAYERLAB_REQUIRE_ALL") == "1"


def require(reason: str | None) -> None:
    """Skip (laptop) or fail (CI) with ``reason`` when it is not None."""
    if reason is None:
        return
    if REQUIRED:
        pytest.fail(f"required tier cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def missing(*, root: bool = False, programs: tuple[str, ...] = ()) -> str | None:
    """Why a tier cannot run here (not root, a program not installed), or None."""
    if root and os.geteuid() != 0:
        return "needs root (run the tests as root, as .ci/run does)"
    absent = [p for p in programs if shutil.which(p) is None]
    if absent:
        return f"needs {', '.join(absent)} installed (.ci/run installs them)"
    return None


def require_root(*programs: str) -> None:
    """Skip/fail unless running as root with ``programs`` on PATH."""
    require(missing(root=True, programs=programs))
