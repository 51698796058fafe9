"""The storage audit through fsspec backends other than the local filesystem and S3, on the sample
registry capture (storage written by a real docker-registry): the same frames from every backend."""

from __future__ import annotations

import pytest

from layerlab.errors import NotADataRoot
from layerlab.reports.inputs import sample_capture
from layerlab.sources.registry import audit_storage
from harness.objectstore import in_memory_store

FRAMES = ("repositories", "tags", "manifests", "layer_links", "blobs")


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    archive = sample_capture()
    if archive is None:
        pytest.skip("this checkout has no data/capture/registry.tar.xz")
    import tarfile

    target = tmp_path_factory.mktemp("capture")
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target


def test_fsspec_memory_backend_gives_the_same_audit(capture):
    with in_memory_store(capture, "llreg/root") as url:
        local = audit_storage(capture)
        memory = audit_storage(url, progress=False)
        for attr in FRAMES:
            assert getattr(memory, attr).equals(getattr(local, attr)), attr
        a, b = local.to_dict(), memory.to_dict()
        assert b["root"] == "memory://llreg/root/docker/registry/v2"
        # Without HTTP-level counting, each listing call and read counts once; no S3 price.
        assert b["requests"]["GET"] == a["requests"]["GET"] and b["cost_usd"] is None
        for key in ("root", "requests", "cost_usd"):
            a.pop(key), b.pop(key)
        assert a == b
        with pytest.raises(NotADataRoot):
            audit_storage("memory://llreg/elsewhere", progress=False)


def test_local_file_url_and_path_agree(capture):
    by_url = audit_storage(f"file://{capture}")
    by_path = audit_storage(capture)
    assert by_url.root == by_path.root and by_url.gc.blobs == by_path.gc.blobs
    assert by_path.requests["other"] == 0 and by_path.cost_usd is None
