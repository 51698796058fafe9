"""The streamed S3 audit (``storage._streamed_repositories``: the bucket read part by part, each part two folders down
or a top folder's own ``_manifests``/``_layers``/``_uploads``) on repository names of every depth:
one-level (``busybox``), three-level (``org/team02/svc``), a repository nested in another
(``team01/svc-00001/nested``), and a top folder that is a repository and holds another. Generated
storage (``harness.storagegen``) with its folders moved to those names, copied into moto: the blobs
and manifests marked for deletion equal ``garbage-collect --dry-run``'s on the same bucket (s3
driver), and the frames equal the filesystem audit's of the folder and the in-memory fsspec audit's
(which lists each underscore folder instead of one prefix)."""

from __future__ import annotations

import re
import shutil

import pytest

from layerlab.sources.registry import audit_storage
from harness.objectstore import MotoServer, in_memory_store, moto_missing
from harness.registry import Registry, registry_missing
from harness.storagegen import generate, upload
from harness.tiers import require

pytestmark = pytest.mark.live

BUCKET, ROOTDIR = "registry", "layout"
MOVES = {"lib/app-00000": "busybox", "lib/app-00003": "busybox/sub", "lib/app-00006": "busybox-x",
         "team02/svc-00002": "org/team02/svc-00002", "team04/svc-00004": "team01/svc-00001/nested"}
FRAMES = ("repositories", "tags", "manifests", "layer_links", "blobs")


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    require(registry_missing())
    root = tmp_path_factory.mktemp("layout") / "storage"
    generate(root, repos=12, manifests=150, blobs=450, seed=5)
    repositories = root / "docker/registry/v2/repositories"
    for old, new in MOVES.items():
        (repositories / new).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(repositories / old, repositories / new)
    return root


def gc_sets(output: str) -> tuple[list[str], list[str]]:
    return (sorted(set(re.findall(r"blob eligible for deletion: (\S+)", output))),
            sorted(set(re.findall(r"manifest eligible for deletion: (\S+)", output))))


def test_every_depth_of_repository_name_audits_as_gc_marks(storage, tmp_path, monkeypatch):
    require(moto_missing())
    local = audit_storage(storage, progress=False)
    assert set(MOVES.values()) <= set(local.repositories["repository"])
    with MotoServer(tmp_path / "moto") as s3:
        s3.create_bucket(BUCKET)
        upload(storage, s3.client(), BUCKET, ROOTDIR)
        for k, v in s3.env().items():
            monkeypatch.setenv(k, v)
        mark = s3.mark()
        audit = audit_storage(f"s3://{BUCKET}/{ROOTDIR}", progress=False, max_workers=4)
        assert {m for m, _, _ in s3.requests_since(mark)} == {"GET"}  # listings and reads only
        reg = Registry(tmp_path / "reg", s3=s3.registry_storage(BUCKET, "/" + ROOTDIR))
        for untagged in (False, True):
            plan = audit.gc_untagged if untagged else audit.gc
            gc = gc_sets(reg.garbage_collect(dry_run=True, delete_untagged=untagged))
            assert (sorted(plan.blobs), sorted({d for _, d in plan.manifests})) == gc, untagged
        assert audit.gc.layer_links == local.gc.layer_links  # judged in the same walk order
    for name in FRAMES:
        assert audit.__dict__[name].astype(str).equals(local.__dict__[name].astype(str)), name
    assert audit.problems == local.problems


def test_in_memory_store_lists_each_underscore_folder(storage):
    with in_memory_store(storage, "layout") as url:
        memory = audit_storage(url, progress=False)
    local = audit_storage(storage, progress=False)
    for name in FRAMES:
        assert memory.__dict__[name].astype(str).equals(local.__dict__[name].astype(str)), name
    assert memory.gc == local.gc and memory.gc_untagged == local.gc_untagged
