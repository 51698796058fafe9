"""The storage audit against ``docker-registry garbage-collect --dry-run`` on copies of a real storage."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from readonly_support import tree_state
from registry_support import eligible, make_history
from layerlab.frames.schema import validate
from layerlab.sources.registry import audit_storage

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def messy(daemon, tmp_path_factory):
    """A registry with history: a retagged image, a deleted manifest, a multi-arch index, an orphan blob."""
    from harness.registry import Registry, push_sample

    work = tmp_path_factory.mktemp("messy")
    with Registry(work / "reg") as reg:
        refs = push_sample(daemon, reg, work / "ctx", many_tags=3)
        orphan_digest = make_history(daemon, reg, work, refs)
        reg.stop()
        yield reg, refs, orphan_digest


def test_audit_matches_garbage_collect_dry_run(messy, tmp_path):
    reg, refs, orphan = messy
    before = tree_state(str(reg.storage))
    audit = audit_storage(reg.storage)
    assert tree_state(str(reg.storage)) == before, "the audit changed the storage"
    for df, kind in ((audit.repositories, "storage_repositories"), (audit.tags, "storage_tags"),
                     (audit.manifests, "storage_manifests"), (audit.layer_links, "storage_layer_links"),
                     (audit.blobs, "storage_blobs")):
        validate(df, kind)
    # GC runs only on copies: never on anything layerlab reads in place.
    for delete_untagged, plan in ((False, audit.gc), (True, audit.gc_untagged)):
        copy = tmp_path / f"copy-{delete_untagged}"
        shutil.copytree(reg.storage, copy, symlinks=True)
        out = reg.garbage_collect(dry_run=True, delete_untagged=delete_untagged, storage=copy)
        assert plan.blobs == eligible(out)
        assert plan.bytes == sum(int(audit.blobs.set_index("digest").loc[d, "size"]) for d in plan.blobs)
    assert orphan in audit.gc.blobs and orphan in audit.gc_untagged.blobs
    assert set(audit.gc.blobs) < set(audit.gc_untagged.blobs)
    blobs = audit.blobs.set_index("digest")
    assert blobs.loc[orphan, "kind"] == "unreferenced"
    assert blobs["size"].sum() == sum(f.stat().st_size for f in reg.storage.rglob("data")
                                      if "/blobs/" in str(f))


def test_audit_sees_tags_history_and_untagged(messy):
    reg, refs, orphan = messy
    audit = audit_storage(reg.storage)
    app_tags = audit.tags[(audit.tags["repository"] == "layerlab/app") & (audit.tags["tag"] == "1")]
    assert app_tags["current"].sum() == 1 and len(app_tags) == 2  # the tag's history keeps the old digest
    old = app_tags[~app_tags["current"]]["digest"].iloc[0]
    app = audit.manifests.set_index(["repository", "digest"])
    assert app.loc[("layerlab/app", old), "tags"] == [] and app.loc[("layerlab/app", old), "gc_untagged"]
    # Children of the docker-made index are referenced by it (and tagged by arch here).
    multi = audit.manifests[audit.manifests["repository"] == "layerlab/multi"]
    assert (multi["referenced_by"].map(len) == 1).sum() == 2
    repos = audit.repositories.set_index("repository")
    assert repos.loc["layerlab/app", "untagged_count"] == 1


def test_cli_storage_json_and_a_real_gc_run(messy, tmp_path):
    reg, refs, orphan = messy
    out = subprocess.run([sys.executable, "-m", "layerlab.cli", "registry", "storage", str(reg.storage), "--json"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert {"repositories", "blobs", "blob_bytes", "gc", "gc_untagged"} <= set(data)
    assert set(data["gc"]) >= {"blobs", "bytes"}
    # Run GC for real on a copy: exactly the predicted blobs disappear.
    copy = tmp_path / "gc"
    shutil.copytree(reg.storage, copy, symlinks=True)
    reg.garbage_collect(dry_run=False, delete_untagged=True, storage=copy)
    after = {b for b in audit_storage(copy).blobs["digest"]}
    before = set(audit_storage(reg.storage).blobs["digest"])
    assert data["blobs"] == len(before)
    assert before - after == set(data["gc_untagged"]["blobs"])


def test_config_file_names_the_filesystem_root(messy, tmp_path):
    """``--config``/``config=``: the registry's own config.yml says where the storage is."""
    reg, refs, orphan = messy
    config = reg.write_config(tmp_path / "config.yml")
    by_config = audit_storage(config=config)
    direct = audit_storage(reg.storage)
    assert by_config.root == direct.root and by_config.gc.blobs == direct.gc.blobs
    assert by_config.blobs.equals(direct.blobs)
    out = subprocess.run([sys.executable, "-m", "layerlab.cli", "registry", "storage", "--config", str(config)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert f"{len(direct.gc.blobs)} blobs" in out.stdout and "LIST" in out.stdout
    bad = tmp_path / "bad.yml"
    bad.write_text("storage:\n  azure:\n    accountname: x\n")
    out = subprocess.run([sys.executable, "-m", "layerlab.cli", "registry", "storage", "--config", str(bad)],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "azure" in out.stderr and "Traceback" not in out.stderr
