"""The storage audit on a generated registry storage (``harness.storagegen``: the benchmark's generator
at a small size) against Debian's ``docker-registry garbage-collect --dry-run`` on the same storage,
with the filesystem driver and with the s3 driver on moto's standalone server: the same blobs and
the same manifests marked for deletion, with and without ``--delete-untagged``.

On S3 the audit names a link's content from the listing's ETag (the MD5 of the object's bytes)
instead of reading it: a link whose bytes are not the digest its path names is still read, and the
audit still equals GC."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from layerlab.sources.registry import audit_storage
from harness.objectstore import MotoServer, moto_missing
from harness.registry import Registry, registry_missing
from harness.storagegen import generate, upload
from harness.tiers import require

pytestmark = pytest.mark.live

BUCKET, ROOTDIR = "registry", "gen"


def gc_sets(output: str) -> tuple[list[str], list[str]]:
    return (sorted(set(re.findall(r"blob eligible for deletion: (\S+)", output))),
            sorted(set(re.findall(r"manifest eligible for deletion: (\S+)", output))))


def audit_sets(audit, untagged: bool) -> tuple[list[str], list[str]]:
    plan = audit.gc_untagged if untagged else audit.gc
    return sorted(plan.blobs), sorted({d for _, d in plan.manifests})


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    require(registry_missing())
    root = tmp_path_factory.mktemp("generated") / "storage"
    figures = generate(root, repos=12, manifests=150, blobs=450, seed=3)
    return root, figures


def test_generator_makes_what_it_says(storage):
    root, figures = storage
    kinds = figures["manifest_kinds"]
    assert figures["repositories"] == 12 and figures["manifests"] == 150
    assert kinds["index"] > 0 and kinds["untagged"] > 0 and kinds["deleted"] > 0
    for data in (root / "docker/registry/v2/blobs").rglob("data"):  # content addressed, as distribution stores
        assert data.parent.name == hashlib.sha256(data.read_bytes()).hexdigest()
    assert generate(root, repos=12, manifests=150, blobs=450, seed=3) == figures  # made once, reused


def test_filesystem_audit_marks_what_gc_marks(storage, tmp_path):
    root, _ = storage
    audit = audit_storage(root)
    reg = Registry(tmp_path / "reg")
    for untagged in (False, True):
        gc = gc_sets(reg.garbage_collect(dry_run=True, delete_untagged=untagged, storage=root))
        assert audit_sets(audit, untagged) == gc, untagged
        assert gc[0]  # something to delete: the deleted manifests' blobs at least
    assert gc[1]  # untagged manifests with --delete-untagged


@pytest.fixture(scope="module")
def bucket(storage, tmp_path_factory):
    require(moto_missing())
    root, _ = storage
    with MotoServer(tmp_path_factory.mktemp("moto")) as s3:
        s3.create_bucket(BUCKET)
        upload(root, s3.client(), BUCKET, ROOTDIR)
        yield s3


def test_s3_audit_marks_what_gc_marks_with_fewer_requests(bucket, tmp_path, monkeypatch):
    for k, v in bucket.env().items():
        monkeypatch.setenv(k, v)
    mark = bucket.mark()
    audit = audit_storage(f"s3://{BUCKET}/{ROOTDIR}", progress=False)
    ours = bucket.requests_since(mark)
    assert {m for m, _, _ in ours} == {"GET"}  # read-only: listings and reads
    reg = Registry(tmp_path / "reg", s3=bucket.registry_storage(BUCKET, "/" + ROOTDIR))
    for untagged in (False, True):
        mark = bucket.mark()
        gc = gc_sets(reg.garbage_collect(dry_run=True, delete_untagged=untagged))
        theirs = bucket.requests_since(mark)
        assert audit_sets(audit, untagged) == gc, untagged
        assert len(ours) * 5 < len(theirs)
    # the links were named by their ETags: the reads are the manifests'
    manifests = audit.manifests[audit.manifests["media_type"].notna()]["digest"].nunique()
    assert audit.requests["GET"] == manifests


def test_a_link_whose_bytes_differ_from_its_path_is_read(bucket, tmp_path, monkeypatch, storage):
    """A revision link that holds another manifest's digest: its ETag names other bytes, so the
    audit reads it, and marks what GC marks."""
    for k, v in bucket.env().items():
        monkeypatch.setenv(k, v)
    root, _ = storage
    client = bucket.client()
    repositories = root / "docker/registry/v2/repositories"
    revisions = sorted(repositories.rglob("_manifests/revisions/sha256/*/link"))
    victim, other = revisions[0], revisions[-1]
    key = f"{ROOTDIR}/{victim.relative_to(root).as_posix()}"
    client.put_object(Bucket=BUCKET, Key=key, Body=other.read_bytes())
    try:
        audit = audit_storage(f"s3://{BUCKET}/{ROOTDIR}", progress=False)
        reg = Registry(tmp_path / "reg", s3=bucket.registry_storage(BUCKET, "/" + ROOTDIR))
        for untagged in (False, True):
            assert audit_sets(audit, untagged) == gc_sets(reg.garbage_collect(dry_run=True, delete_untagged=untagged))
        manifests = audit.manifests[audit.manifests["media_type"].notna()]["digest"].nunique()
        assert audit.requests["GET"] == manifests + 1  # and the one link read
    finally:
        client.put_object(Bucket=BUCKET, Key=key, Body=victim.read_bytes())


def test_generated_storage_cli_json(storage, capsys):
    from layerlab.cli import main

    root, _ = storage
    assert main(["registry", "storage", str(root), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["blobs"] == len(list((root / "docker/registry/v2/blobs").rglob("data")))
