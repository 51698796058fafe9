"""A local registry storage read by the C scanner (``registry/_storagescan.c``) audits exactly as the
same storage listed and read file by file (the path object stores take, and the fallback without a
compiler), on a storage written by the benchmark's generator, intact and damaged: a symlinked
revision link, a FIFO as a layer link, a tag's current link that is a symbolic link, a tag's history
folder that is one and a history link that is a FIFO, blob data that
is a FIFO or a symbolic link, a repository's folder linked out of the root. The audit's agreement with distribution's
own garbage-collect on such storage is held by the live tests (test_live_storage_generated.py)."""

from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest

from harness.storagegen import generate
from harness.tiers import require
from layerlab.sources.registry import storage

V2 = "docker/registry/v2"


def _both(root, monkeypatch):
    scanned = storage.audit_storage(root, progress=False)
    with monkeypatch.context() as m:
        m.setattr(storage, "_scanner_available", lambda: False)
        listed = storage.audit_storage(root, progress=False)
    return scanned, listed


def _assert_same(scanned, listed):
    for name in ("repositories", "tags", "manifests", "layer_links", "blobs"):
        pd.testing.assert_frame_equal(getattr(scanned, name), getattr(listed, name), obj=name)
    assert scanned.gc == listed.gc and scanned.gc_untagged == listed.gc_untagged
    assert sorted(scanned.problems) == sorted(listed.problems)
    # the scanner read every link the listing read (one GET per link and per manifest)
    assert scanned.requests["GET"] == listed.requests["GET"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    require(None if storage._scanner_available() else "the storage scanner was not built (no compiler at install "
            "time?)")
    root = tmp_path_factory.mktemp("scan") / "storage"
    generate(root, repos=8, manifests=90, blobs=270, seed=5)
    return root


def test_the_scanner_audits_as_the_listing_does(generated, monkeypatch):
    scanned, listed = _both(generated, monkeypatch)
    _assert_same(scanned, listed)
    assert scanned.gc.blobs and scanned.gc_untagged.manifests and not scanned.problems
    assert scanned.requests["HEAD"] > 0  # blob data and tag history stat'ed, not read


def test_damaged_storage_is_audited_as_the_listing_does(generated, monkeypatch, tmp_path):
    copy = tmp_path / "storage"
    shutil.copytree(generated, copy, symlinks=True)
    v2 = copy / V2
    repos = sorted(p for p in (v2 / "repositories").glob("*/*") if (p / "_manifests").is_dir())
    revision = sorted((repos[0] / "_manifests/revisions").rglob("link"))[0]
    target = tmp_path / "elsewhere-link"
    target.write_bytes(revision.read_bytes())
    revision.unlink()
    revision.symlink_to(target)  # holds the right digest, but is never followed
    layer = sorted((repos[1] / "_layers").rglob("link"))[0]
    layer.unlink()
    os.mkfifo(layer)  # never opened for a blocking read
    current = sorted((repos[2] / "_manifests/tags").glob("*/current/link"))[0]
    current.unlink()
    current.symlink_to(target)
    index = sorted((repos[4] / "_manifests/tags").glob("*/index"))[0]
    shutil.move(str(index), tmp_path / "elsewhere-index")
    index.symlink_to(tmp_path / "elsewhere-index")  # a tag's history out of the root: said, not walked
    history = sorted((repos[5] / "_manifests/tags").glob("*/index/*/*/link"))[0]
    history.unlink()
    os.mkfifo(history)  # named by its path, never opened
    data, other = sorted((v2 / "blobs").rglob("data"))[:2]
    data.unlink()
    os.mkfifo(data)
    other.unlink()
    other.symlink_to("/etc/passwd")  # a blob whose data leads out of the root: said, never read
    # layer link folders whose names are not ASCII, in an order that Python's (by code point, an
    # undecodable byte as a surrogate) and the bytes' order disagree on: the scanner orders them as the listing
    odd_layers = os.fsencode(repos[6] / "_layers/sha256")
    source = sorted((repos[6] / "_layers").rglob("link"))[0]
    for name in ("\ue000".encode(), b"\xf0", "caf\u00e9".encode()):
        os.makedirs(os.path.join(odd_layers, name))
        shutil.copy(source, os.path.join(odd_layers, name, b"link"))
    moved = tmp_path / "outside-repo"
    shutil.move(str(repos[3]), moved)
    repos[3].symlink_to(moved)
    scanned, listed = _both(copy, monkeypatch)
    _assert_same(scanned, listed)
    said = " | ".join(scanned.problems)
    assert str(revision) in said and str(current) in said and str(repos[3]) in said and str(index) in said
    assert "FIFO" in said and str(other) in said
    assert scanned.gc_untagged.error  # the damaged tag link stops --delete-untagged, as GC stops
    assert repos[3].relative_to(v2 / "repositories").as_posix() not in set(scanned.repositories["repository"])
    repo6 = repos[6].relative_to(v2 / "repositories").as_posix()
    assert (scanned.layer_links["repository"] == repo6).sum() == len(list((repos[6] / "_layers").rglob("link")))
