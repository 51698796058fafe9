"""Live tier: ``scan --hash`` of images read from their layer tars (``docker-archive:``, a gzip'd
archive, ``oci:``, ``oci-archive:``, ``docker://``) fills ``files.sha256`` of every regular file,
hashed as the tar streams, equal to the SHA-256 of that file in the real archive (read with Python's
tarfile), and equal to what a data-root scan records for the files it hashes.

A real dockerd builds a small image: two identical files, an empty one, a 3 MiB one (past a read
chunk), a hard link, a file deleted in a later layer (a whiteout) and a non-UTF-8 name; ``docker
save``, skopeo and a real registry give it in each form.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import shutil
import tarfile
import tempfile
import warnings
from pathlib import Path

import pytest
from harness.archives import daemon_to_layout, docker25_archive
from harness.daemon import Daemon, dockerd_missing
from harness.images import busybox_rootfs
from harness.registry import Registry, registry_missing
from harness.tiers import missing, require

import layerlab as ll
from layerlab.sources.registry import RegistryClient
from layerlab.sources.registry.image import open_registry_image

pytestmark = pytest.mark.live
TAG = "layerlab/hashed:1"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(daemon, work dir, docker save archive) with the image built."""
    require(dockerd_missing() or missing(programs=("skopeo",)))
    work = tmp_path_factory.mktemp("hash-streams")
    daemon = Daemon(work / "daemon")
    daemon.start()
    ctx = Path(tempfile.mkdtemp(prefix="layerlab-hash-"))
    try:
        daemon.docker("import", str(busybox_rootfs(ctx / "rootfs")), "layerlab/hash-base:1")
        (ctx / "b").mkdir()
        (ctx / "b/big.bin").write_bytes(random.Random(11).randbytes(3 << 20))
        (ctx / "b/Dockerfile").write_text(
            "FROM layerlab/hash-base:1\n"
            "COPY big.bin /data/big.bin\n"
            "RUN set -e; mkdir -p /data; echo same > /data/one.txt; echo same > /data/two.txt; : > /data/empty; "
            "ln /data/one.txt /data/one.link; echo gone > /data/gone.txt; "
            "printf odd > \"/data/$(printf 'bad\\377name')\"\n"
            "RUN rm /data/gone.txt\n")
        daemon.docker("build", "--network", "none", "-q", "-t", TAG, str(ctx / "b"), timeout=600)
        archive = work / "saved.tar"
        daemon.docker("save", "-o", str(archive), TAG)
        yield daemon, work, archive
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
        daemon.stop()


def _expected_from_archive(archive: Path) -> dict[tuple[str, str], str]:
    """{(diff ID, path): sha256} of every regular file of every layer tar in ``docker save``'s archive,
    read with Python's tarfile (the layer tars hashed to their diff IDs)."""
    out = {}
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))
        for name in manifest[0]["Layers"]:
            data = outer.extractfile(name).read()
            diff_id = "sha256:" + hashlib.sha256(data).hexdigest()
            with tarfile.open(fileobj=io.BytesIO(data), encoding="utf-8", errors="surrogateescape") as layer:
                for m in layer:
                    base = m.name.rsplit("/", 1)[-1]
                    if m.isreg() and not base.startswith(".wh."):
                        out[(diff_id,
                             "/" + m.name.lstrip("./"))] = hashlib.sha256(layer.extractfile(m).read()).hexdigest()
    return out


def _got(inv) -> dict[tuple[str, str], str]:
    """The same from an Inventory: (diff ID, exact name) -> sha256 of its regular files."""
    diff_ids = dict(zip(inv.layers["layer_id"], inv.layers["diff_id"]))
    files = inv.files[inv.files["kind"] == "file"]
    assert files["sha256"].notna().all(), files[files["sha256"].isna()][["path", "size"]]
    return {(diff_ids[l], (r.decode("utf-8", "surrogateescape") if isinstance(r, bytes) else p)): h
            for l, p, r, h in zip(files["layer_id"], files["path"], files["path_raw"], files["sha256"])}


def _scan(source: str, out: Path):
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="layerlab")  # no "no content hashes recorded" warning
        ll.scan(source, str(out), hash=True, progress=False)
    snap = ll.load(str(out))
    assert snap.meta["hashed"] == int((snap.files["kind"] == "file").sum()) > 0
    return snap


def _check(inv, expected):
    got = _got(inv)
    assert got == expected
    names = {p for _, p in got}
    assert "/data/big.bin" in names and "/data/empty" in names and "/data/gone.txt" in names
    assert got[next(k for k in got if k[1] == "/data/empty")] == hashlib.sha256(b"").hexdigest()


def test_scan_hash_of_a_docker_save_archive(built, tmp_path):
    _, _, archive = built
    _check(_scan(f"docker-archive:{archive}", tmp_path / "a.layerlab"), _expected_from_archive(archive))


def test_scan_hash_of_a_gzip_archive_streamed_once(built, tmp_path):
    _, _, archive = built
    gz = tmp_path / "saved.tar.gz"
    with open(archive, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    _check(_scan(str(gz), tmp_path / "gz.layerlab"), _expected_from_archive(archive))


@pytest.mark.parametrize("compression", [None, "gzip", "zstd"])
def test_scan_hash_of_an_oci_layout_and_archive(built, tmp_path, compression):
    daemon, _, archive = built
    layout = daemon_to_layout(daemon, [TAG], tmp_path / "layout", compression=compression)
    expected = _expected_from_archive(archive)
    _check(_scan(f"oci:{layout}", tmp_path / "oci.layerlab"), expected)
    tar = docker25_archive(layout, tmp_path / "layout.tar")
    _check(_scan(f"oci-archive:{tar}", tmp_path / "ocia.layerlab"), expected)


def test_hash_files_of_a_registry_image(built, tmp_path):
    require(registry_missing())
    daemon, work, archive = built
    with Registry(work / "registry") as reg:
        ref = f"{reg.host}/hashed/img:1"
        daemon.docker("tag", TAG, ref)
        daemon.docker("push", "-q", ref, timeout=600)
        with RegistryClient(docker_config=False, cache_dir=tmp_path / "meta") as client:
            inv = open_registry_image(ref, client=client, cache=False, progress=False, hash_files=True)
            _check(inv, _expected_from_archive(archive))


def test_data_root_hashes_agree_with_the_streamed_ones(built, tmp_path):
    """A data root's --hash fills twins only; each digest it records is the one the archive gives."""
    daemon, _, archive = built
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ll.scan(str(daemon.data_root), str(tmp_path / "root.layerlab"), hash=True, progress=False)
    root = ll.load(str(tmp_path / "root.layerlab"))
    hashed = root.files[root.files["sha256"].notna()]
    assert len(hashed) >= 2  # the two identical files at least
    expected = _expected_from_archive(archive)
    diff_ids = dict(zip(root.layers["layer_id"], root.layers["diff_id"]))
    for l, p, h in zip(hashed["layer_id"], hashed["path"], hashed["sha256"]):
        if (diff_ids.get(l), p) in expected:
            assert expected[(diff_ids[l], p)] == h
