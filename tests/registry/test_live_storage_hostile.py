"""A damaged storage: the audit says what distribution's own garbage-collect says, checked against it."""

from __future__ import annotations

import shutil

import pytest

from layerlab.sources.registry.storage import audit_storage
from test_live_storage import eligible, messy  # noqa: F401,F811 - the module fixture with a real registry's history

pytestmark = pytest.mark.live


def test_a_tag_link_that_is_not_a_digest_is_what_gc_says(messy, tmp_path):  # noqa: F811 (the fixture imported)
    reg, _, _ = messy
    copy = tmp_path / "storage"
    shutil.copytree(reg.storage, copy, symlinks=True)
    link = sorted(copy.rglob("_manifests/tags/*/current/link"))[0]
    link.write_text("not-a-digest")
    audit = audit_storage(copy)
    # garbage-collect --delete-untagged stops in its mark phase, naming the digest format ...
    with pytest.raises(RuntimeError, match="invalid checksum digest format"):  # the harness quotes GC's stderr
        reg.garbage_collect(dry_run=True, delete_untagged=True, storage=copy)
    assert audit.gc_untagged.blobs == [] and "invalid checksum digest format" in audit.gc_untagged.error
    assert any("not-a-digest" in p and "--delete-untagged" in p for p in audit.problems)
    assert "not-a-digest" not in set(audit.tags["digest"])
    # ... and plain garbage-collect, which never reads tags, goes on as predicted
    assert eligible(reg.garbage_collect(dry_run=True, storage=copy)) == sorted(audit.gc.blobs)
