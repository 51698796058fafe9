"""The storage audit on object storage: Debian's docker-registry serving from a real S3-compatible
server (moto's standalone server) on loopback, images pushed by a real dockerd, and distribution's
own ``garbage-collect --dry-run`` on the same bucket as the truth."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest

from registry_support import eligible, make_history
from layerlab.errors import LayerlabError, NotADataRoot, StorageAuthError, StorageError
from layerlab.frames.schema import validate
from layerlab.sources.registry import audit_storage
from harness.objectstore import SECRET_KEY, MotoServer, ThrottlingProxy, moto_missing
from harness.tiers import require

pytestmark = pytest.mark.live

BUCKET, ROOTDIR = "registry", "prod/registry"
FRAMES = (("repositories", "storage_repositories"), ("tags", "storage_tags"), ("manifests", "storage_manifests"),
          ("layer_links", "storage_layer_links"), ("blobs", "storage_blobs"))


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    require(moto_missing())
    with MotoServer(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture(scope="module")
def s3_registry(daemon, s3, tmp_path_factory):
    """(registry, orphan digest): a registry in the bucket with history, stopped; its config.yml on disk."""
    from harness.registry import Registry, push_sample

    s3.create_bucket(BUCKET)
    work = tmp_path_factory.mktemp("s3reg")
    reg = Registry(work / "reg", s3=s3.registry_storage(BUCKET, "/" + ROOTDIR))
    with reg:
        refs = push_sample(daemon, reg, work / "ctx", many_tags=3)
        orphan = make_history(daemon, reg, work, refs)
    reg.write_config()
    return reg, orphan


@pytest.fixture
def aws_env(s3, monkeypatch):
    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def test_s3_audit_equals_garbage_collect_and_is_read_only(s3_registry, s3, aws_env):
    reg, orphan = s3_registry
    mark = s3.mark()
    audit = audit_storage(f"s3://{BUCKET}/{ROOTDIR}", progress=False)
    seen = s3.requests_since(mark)
    # Read-only, by the server's own request log: nothing but GET and HEAD reached it.
    assert seen and {method for method, _, _ in seen} <= {"GET", "HEAD"}, seen
    assert audit.requests["other"] == 0
    # The audit counted every request the server answered.
    assert audit.requests["total"] == len(seen)
    assert audit.requests["LIST"] == sum(1 for m, p, _ in seen if m == "GET" and "list-type=" in p)
    assert audit.cost_usd > 0
    for attr, kind in FRAMES:
        validate(getattr(audit, attr), kind)
    sizes = audit.blobs.set_index("digest")["size"]
    for delete_untagged, plan in ((False, audit.gc), (True, audit.gc_untagged)):
        out = reg.garbage_collect(dry_run=True, delete_untagged=delete_untagged)
        assert plan.blobs == eligible(out)
        assert plan.bytes == sum(int(sizes[d]) for d in plan.blobs)
    assert orphan in audit.gc.blobs and set(audit.gc.blobs) < set(audit.gc_untagged.blobs)
    assert audit.problems == []
    # Blob sizes from the listing are the objects' sizes as boto3 sees them.
    prefix = f"{ROOTDIR}/docker/registry/v2/blobs/"
    objects = {}
    for page in s3.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for o in page.get("Contents", []):
            if o["Key"].endswith("/data"):
                parts = o["Key"][len(prefix):].split("/")
                objects[f"{parts[0]}:{parts[2]}"] = o["Size"]
    assert objects == {d: int(s) for d, s in sizes.items()}


def test_s3_frames_equal_the_filesystem_audit_of_a_copy(s3_registry, s3, aws_env, tmp_path):
    """The same frames and JSON whatever the backend: the bucket copied to a directory audits the same."""
    client = s3.client()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=ROOTDIR + "/"):
        for o in page.get("Contents", []):
            target = tmp_path / o["Key"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(client.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read())
    on_s3 = audit_storage(f"s3://{BUCKET}/{ROOTDIR}", progress=False)
    local = audit_storage(tmp_path / ROOTDIR)
    for attr, _ in FRAMES:
        assert getattr(on_s3, attr).equals(getattr(local, attr)), attr
    a, b = on_s3.to_dict(), local.to_dict()
    assert a["root"] == f"s3://{BUCKET}/{ROOTDIR}/docker/registry/v2" and b["root"].endswith("/docker/registry/v2")
    assert a["cost_usd"] > 0 and b["cost_usd"] is None
    for key in ("root", "requests", "cost_usd"):
        a.pop(key), b.pop(key)
    assert a == b


def test_cli_reads_the_registry_config(s3_registry, s3, tmp_path):
    """``--config config.yml``: bucket, region, endpoint, credentials and rootdirectory from the registry's
    own configuration, with no AWS environment at all."""
    reg, orphan = s3_registry
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("AWS_")}
    out = subprocess.run([sys.executable, "-m", "layerlab.cli", "registry", "storage", "--config",
                          str(reg.config_file), "--json"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["root"] == f"s3://{BUCKET}/{ROOTDIR}/docker/registry/v2"
    assert data["gc"]["blobs"] == eligible(reg.garbage_collect(dry_run=True))
    assert data["requests"]["LIST"] > 0 and data["requests"]["other"] == 0
    text = subprocess.run([sys.executable, "-m", "layerlab.cli", "registry", "storage", "--config",
                           str(reg.config_file)], capture_output=True, text=True, env=env)
    assert text.returncode == 0, text.stderr
    assert "garbage-collect would delete" in text.stdout and "LIST" in text.stdout and "$" in text.stdout


def test_bad_object_store_input(s3_registry, s3, aws_env):
    with pytest.raises(StorageError, match="does not exist"):
        audit_storage("s3://no-such-bucket/x", progress=False)
    with pytest.raises(NotADataRoot, match="not a registry storage root"):
        audit_storage(f"s3://{BUCKET}/not/a/root", progress=False)
    with pytest.raises(NotADataRoot, match="not a registry storage root"):
        audit_storage(f"s3://{BUCKET}/{ROOTDIR}/docker/registry/v2/blobs", progress=False)


def test_refused_and_missing_credentials(tmp_path, monkeypatch):
    """A server that checks credentials (moto with INITIAL_NO_AUTH_ACTION_COUNT=0 knows no key)."""
    require(moto_missing())
    with MotoServer(tmp_path, env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as strict:
        for key, value in strict.env().items():
            monkeypatch.setenv(key, value)
        mark = strict.mark()
        with pytest.raises(StorageAuthError, match="refused the credentials") as err:
            audit_storage(f"s3://{BUCKET}/{ROOTDIR}", progress=False)
        assert "InvalidAccessKeyId" in str(err.value) and SECRET_KEY not in str(err.value)
        assert [status for _, _, status in strict.requests_since(mark)] == [403]
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
        monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.aws either
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # nor a cloud machine's instance role
        with pytest.raises(StorageAuthError, match="credentials"):
            audit_storage(f"s3://{BUCKET}/{ROOTDIR}", retries=1, timeout=2, progress=False)


def test_dead_and_silent_endpoints_fail_fast(s3_registry, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{dead}")
    t0 = time.monotonic()
    with pytest.raises(StorageError, match="did not answer"):
        audit_storage(f"s3://{BUCKET}/{ROOTDIR}", timeout=1, retries=2, progress=False)
    assert time.monotonic() - t0 < 20
    # A server that accepts connections and never answers: the read timeout ends it.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{silent.getsockname()[1]}")
        t0 = time.monotonic()
        with pytest.raises(StorageError, match="did not answer"):
            audit_storage(f"s3://{BUCKET}/{ROOTDIR}", timeout=1, retries=2, progress=False)
        assert time.monotonic() - t0 < 30


def test_throttling_is_retried_with_back_off_then_reported(s3_registry, s3, aws_env, monkeypatch):
    with ThrottlingProxy(s3.url) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        proxy.throttle = 3
        audit = audit_storage(f"s3://{BUCKET}/{ROOTDIR}", retries=5, progress=False)
        assert audit.requests["retries"] >= 3
        assert sum(1 for _, _, status in proxy.seen if status == 503) == 3
        assert audit.gc.blobs == audit_storage(f"s3://{BUCKET}/{ROOTDIR}", progress=False).gc.blobs
        proxy.always = True
        t0 = time.monotonic()
        with pytest.raises(StorageError, match="throttl") as err:
            audit_storage(f"s3://{BUCKET}/{ROOTDIR}", retries=3, progress=False)
        assert time.monotonic() - t0 < 60
        assert isinstance(err.value, LayerlabError)


def test_registries_notebook_shows_the_bucket_beside_the_sample(s3_registry, aws_env, tmp_path):
    from pathlib import Path

    from layerlab import reports

    notebook = Path(__file__).resolve().parents[2] / "notebooks" / "05-registries.ipynb"
    out = reports.render(notebook, tmp_path / "05.html", object_store=f"s3://{BUCKET}/{ROOTDIR}")
    html = out.read_text()
    assert f"s3://{BUCKET}/{ROOTDIR}/docker/registry/v2" in html
    assert "requests (LIST / GET / HEAD)" in html and "S3 Standard prices" in html


def test_config_endpoint_without_scheme_and_environment_overrides(s3_registry, s3, tmp_path, monkeypatch):
    """``regionendpoint`` without a scheme takes ``secure`` (false: plain HTTP), and distribution's
    ``REGISTRY_STORAGE_S3_*`` variables override the file, as they do for the registry."""
    reg, orphan = s3_registry
    cfg = json.loads(reg.config_file.read_text())
    cfg["storage"]["s3"]["regionendpoint"] = s3.url.removeprefix("http://")
    cfg["storage"]["s3"]["bucket"] = "not-this-bucket"
    path = tmp_path / "config.yml"
    path.write_text(json.dumps(cfg))
    for key in [k for k in __import__("os").environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    with pytest.raises(StorageError, match="not-this-bucket"):
        audit_storage(config=path, progress=False)
    monkeypatch.setenv("REGISTRY_STORAGE_S3_BUCKET", BUCKET)
    audit = audit_storage(config=path, progress=False)
    assert audit.gc.blobs == eligible(reg.garbage_collect(dry_run=True)) and orphan in audit.gc.blobs
