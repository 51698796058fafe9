"""Helpers the analyses tests import (a plain module: test files must not import conftest)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from harness.tiers import missing, require


def unpack_with_umoci(daemon, ref: str, workdir: Path) -> Path:
    """The rootfs of ``ref`` unpacked by umoci from an OCI layout skopeo copied out of the daemon."""
    require(missing(root=True, programs=("skopeo", "umoci")))
    workdir.mkdir(parents=True, exist_ok=True)
    layout = workdir / "oci"
    bundle = workdir / "bundle"
    shutil.rmtree(layout, ignore_errors=True)
    shutil.rmtree(bundle, ignore_errors=True)
    for cmd in (
        ["skopeo", "copy", "-q", "--src-daemon-host", daemon.host, f"docker-daemon:{ref}", f"oci:{layout}:img"],
        ["umoci", "unpack", "--image", f"{layout}:img", str(bundle)],
    ):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, f"{' '.join(cmd)} failed: {proc.stderr}"
    return bundle / "rootfs"


def fs_name(path: str, raw) -> bytes:
    """The exact bytes of a path from a frame (``path_raw`` when the name is not UTF-8)."""
    return raw if isinstance(raw, bytes) else os.fsencode(path)
