"""A metadata file the user may not read: a clear error naming it, exit code 2, never a traceback.

A copy of the overlay2 capture owned by ``nobody``, one file of each kind made unreadable in turn,
read by ``layerlab summary`` running as ``nobody`` (root tier: it needs ``setpriv`` to drop to
another user).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from harness.captures import unpack_capture
from harness.tiers import require_root
from mutations import DATAROOT_ROLES

NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    require_root("tar", "setpriv")
    import tempfile

    base = tempfile.mkdtemp(prefix="layerlab-perm-")
    os.chmod(base, 0o755)
    root = unpack_capture("overlay2", tmp_path_factory.mktemp("unused") / "x")  # unpacked as root, then moved
    target = os.path.join(base, "root")
    subprocess.run(["cp", "-a", str(root), target], check=True)
    subprocess.run(["chown", "-R", "nobody:nogroup", target], check=True)
    yield target
    subprocess.run(["rm", "-rf", base], check=False)


def _summary_as_nobody(root: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([*NOBODY, sys.executable, "-m", "layerlab.cli", "summary", "--json", root],
                          capture_output=True, text=True, env=env, timeout=120, cwd="/tmp")


@pytest.fixture(scope="module")
def control(root):
    """With every metadata file readable, nobody reads the copy (so a failure below is the file's)."""
    done = _summary_as_nobody(root)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("role", sorted(DATAROOT_ROLES))
def test_an_unreadable_metadata_file_is_named(root, control, role):
    from pathlib import Path

    path = DATAROOT_ROLES[role](Path(root))
    mode = os.stat(path).st_mode
    os.chmod(path, 0)
    try:
        done = _summary_as_nobody(root)
    finally:
        os.chmod(path, mode)
    assert "Traceback" not in done.stderr, done.stderr
    if done.returncode == 0:  # summary does not read this file: then its figures are the control's
        assert done.stdout == control
        return
    assert done.returncode == 2, done.stderr
    assert f"permission denied reading {path}" in done.stderr, done.stderr


def test_a_fleet_skips_a_snapshot_whose_file_it_may_not_read(tmp_path_factory):
    # Format 3 is checked by file sizes (a stat), so an unreadable file must be caught by its mode.
    require_root("setpriv")
    import tempfile

    import layerlab as ll

    base = tempfile.mkdtemp(prefix="layerlab-perm-fleet-")
    os.chmod(base, 0o755)
    for host in ("a", "b"):
        ll.sample().save(os.path.join(base, f"{host}.layerlab"))
    subprocess.run(["chmod", "-R", "a+rX", base], check=True)
    os.chmod(os.path.join(base, "b.layerlab", "files.parquet"), 0o600)  # root's alone
    code = ("from layerlab.fleet.snapshots import inspect; import sys; "
            "print([inspect(p)['reason'] for p in sys.argv[1:]])")
    env = {**os.environ, "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([*NOBODY, sys.executable, "-c", code, os.path.join(base, "a.layerlab"),
                           os.path.join(base, "b.layerlab")],
                          capture_output=True, text=True, env=env, timeout=120, cwd="/tmp")
    subprocess.run(["rm", "-rf", base], check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[None, 'files.parquet unreadable (permission denied)']"
