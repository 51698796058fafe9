"""Every kind of metadata of the real containerd capture damaged every way: a clear error or a skipped
row, never a traceback or a hang (the data-root twin is test_mutated_dataroot.py)."""

from __future__ import annotations

import json

import pytest
from harness.captures import unpack_capture
from harness.tiers import require_root
from mutations import read_damaged_root
from test_mutated_dataroot import MUTATIONS



@pytest.fixture(scope="module")
def root(tmp_path_factory):
    require_root("tar", "xz")
    return unpack_capture("containerd", tmp_path_factory.mktemp("mutated-ctrd") / "root")


def _blob(kind):
    def find(root):
        blobs = next(root.rglob("io.containerd.content.v1.content")) / "blobs" / "sha256"
        for p in sorted(blobs.iterdir()):
            if p.stat().st_size > 1 << 20:
                continue
            try:
                doc = json.loads(p.read_bytes())
            except ValueError:
                continue
            if isinstance(doc, dict) and ("layers" in doc if kind == "manifest" else "rootfs" in doc):
                return p
        raise AssertionError(f"no {kind} blob in the capture")
    return find


ROLES = {
    "meta.db": lambda root: next(root.rglob("io.containerd.metadata.v1.bolt/meta.db")),
    "snapshotter metadata.db": lambda root: next(root.rglob("io.containerd.snapshotter.v1.overlayfs/metadata.db")),
    "manifest blob": _blob("manifest"),
    "config blob": _blob("config"),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
@pytest.mark.parametrize("role", list(ROLES))
def test_damaged_containerd_metadata_is_a_clear_error_or_skipped(root, role, mutation):
    path = ROLES[role](root)
    read_damaged_root(root, path, MUTATIONS[mutation], f"{role} as {mutation}", names=(path.name,))
