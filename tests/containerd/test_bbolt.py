"""layerlab.sources.containerd.bbolt on real bbolt files written by a real containerd."""

from __future__ import annotations

import shutil
import struct
import threading

import pytest

from layerlab.errors import BoltError, CorruptMetadata
from layerlab.sources.containerd.bbolt import DB, Bucket

from harness.containerd import APP_REF, BASE_REF, BIG_LABELS, MANY_LABELS, MANY_TAGS


def _image_names(c, namespace="moby"):
    return set(c.ctr("images", "ls", "-q", namespace=namespace).stdout.split())


def test_nested_buckets_match_ctr(live):
    db = DB(live.meta_db)
    assert db.page_size > 0 and db.txid > 0
    images = db.bucket("v1", "moby", "images")
    names = {k.decode() for k, _ in images.buckets()}
    assert names == _image_names(live)
    assert {BASE_REF, APP_REF, *MANY_TAGS} <= names
    # bytes and str names are the same thing; a missing level gives None, as bbolt's Bucket() does.
    assert db.bucket(b"v1", b"moby", b"images").root_page == images.root_page
    assert db.bucket("v1", "moby", "no-such-bucket") is None
    assert db.bucket("v1", "moby", "images", BASE_REF, "target", "deeper") is None
    assert {k for k, _ in db.buckets()} == {b"v1"}


def test_many_keys_span_nested_branch_pages(live):
    labels = DB(live.meta_db).bucket("v1", "moby", "images", BASE_REF, "labels")
    pages = list(labels.pages())
    branches = [p for p in pages if p[1] == "branch"]
    assert len(branches) >= 2, f"expected a branch under a branch, got {pages[:5]}..."
    assert pages[0][1] == "branch" and pages[1][1] == "branch"  # depth-first: root, then a branch child
    got = {k.decode(): v.decode() for k, v in labels.items()}
    assert got == MANY_LABELS
    keys = list(labels.keys())
    assert keys == sorted(keys)
    # get() descends branch pages by key; check first, last and keys around page boundaries.
    for i in (0, 1, 21, 22, 23, 700, 1500, 2998, 2999):
        key = f"layerlab.test/key-{i:04d}"
        assert labels.get(key) == MANY_LABELS[key].encode()
        assert key in labels
    assert labels.get("layerlab.test/key-9999") is None
    assert labels.get("a-before-everything") is None
    assert "layerlab.test/key-0500x" not in labels
    assert len(labels) == len(MANY_LABELS)


def test_many_buckets_span_branch_pages(live):
    images = DB(live.meta_db).bucket("v1", "moby", "images")
    assert any(kind == "branch" for _, kind, _ in images.pages())
    for tag in (MANY_TAGS[0], MANY_TAGS[150], MANY_TAGS[-1]):
        target = images.bucket(tag, "target")
        assert target is not None and target.get("digest").startswith(b"sha256:")


def test_big_values_on_overflow_pages(live):
    labels = DB(live.meta_db).bucket("v1", "moby", "images", APP_REF, "labels")
    assert any(overflow > 0 for _, _, overflow in labels.pages()), list(labels.pages())
    assert {k.decode(): v.decode() for k, v in labels.items()} == BIG_LABELS
    assert labels.get("layerlab.test/big-2") == b"c" * 4000


def test_inline_buckets_and_entries(live, images_ls):
    image = DB(live.meta_db).bucket("v1", "moby", "images", "docker.io/layerlab/tag:0007")
    target = image.bucket("target")
    assert target.root_page == 0, "a three-key bucket is stored inline in its parent"
    assert list(target.pages()) == []
    digest = target.get("digest").decode()
    assert images_ls["docker.io/layerlab/tag:0007"][1] == digest
    entries = dict(image.entries())
    assert isinstance(entries[b"target"], Bucket)
    assert isinstance(entries[b"createdat"], bytes)
    assert b"target" not in dict(image.items())  # items() leaves sub-buckets out
    assert image.get("target") is None  # a bucket is not a value
    assert image.to_dict()[b"target"][b"digest"] == digest.encode()


def test_snapshotter_database(live):
    snapshots = DB(live.snapshotter_db("overlayfs")).bucket("v1", "snapshots")
    names = [k.decode() for k, _ in snapshots.buckets()]
    keys = {line.split()[0] for line in live.ctr("snapshots", "ls").stdout.splitlines()[1:]}
    # backend keys are <namespace>/<seq>/<key>
    assert {n.split("/", 2)[2] for n in names if n.startswith("moby/")} == keys


def test_reads_a_live_database_while_containerd_writes(live):
    """Commits during the copy must never give a torn read: each read sees one committed state."""
    stop = threading.Event()
    errors = []

    def writer():
        i = 0
        while not stop.is_set() and i < 40:
            try:
                live.ctr("images", "label", "docker.io/layerlab/tag:0001", f"layerlab.test/counter={i}")
            except Exception as exc:  # reported below
                errors.append(exc)
                return
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    seen = set()
    try:
        for _ in range(40):
            db = DB(live.meta_db)
            images = db.bucket("v1", "moby", "images")
            labels = images.bucket("docker.io/layerlab/tag:0001", "labels")
            if labels is not None:
                seen.add(labels.get("layerlab.test/counter"))
            # walking everything must succeed whatever was committed meanwhile
            assert len(list(db.bucket("v1", "moby", "images", BASE_REF, "labels").items())) == len(MANY_LABELS)
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert len(seen) > 1, "the writer should have committed while we read"


# -- errors ------------------------------------------------------------------------------------
@pytest.fixture
def copy_of_meta(stopped, tmp_path):
    dst = tmp_path / "meta.db"
    shutil.copyfile(stopped.meta_db, dst)
    return dst


def test_truncated_file_is_a_clear_error(copy_of_meta):
    data = copy_of_meta.read_bytes()
    page_size = DB(copy_of_meta).page_size
    copy_of_meta.write_bytes(data[:50])
    with pytest.raises(BoltError, match=r"meta\.db is not a readable bbolt database") as info:
        DB(copy_of_meta)
    assert info.value.path == str(copy_of_meta)
    copy_of_meta.write_bytes(data[:100])
    with pytest.raises(BoltError, match=r"meta\.db is truncated: 100 bytes"):
        DB(copy_of_meta)
    assert isinstance(info.value, CorruptMetadata) and isinstance(info.value, ValueError)
    # Both meta pages intact but the tree cut off.
    copy_of_meta.write_bytes(data[: 3 * page_size])
    with pytest.raises(BoltError, match=r"meta\.db is truncated: 12288 bytes"):
        DB(copy_of_meta)


def test_not_a_bbolt_file(stopped, tmp_path):
    blob = next((stopped.root / "io.containerd.content.v1.content" / "blobs" / "sha256").iterdir())
    with pytest.raises(BoltError, match="not a readable bbolt database.*no bbolt magic"):
        DB(blob)
    with pytest.raises(BoltError, match="does not exist"):
        DB(tmp_path / "nope.db")
    with pytest.raises(BoltError, match="is a directory"):
        DB(tmp_path)


def _meta_txid(data: bytes, offset: int) -> int:
    return struct.unpack_from("<Q", data, offset + 16 + 48)[0]


def test_falls_back_to_the_other_meta_page(copy_of_meta):
    data = bytearray(copy_of_meta.read_bytes())
    db = DB(copy_of_meta)
    page = db.page_size
    txids = {0: _meta_txid(data, 0), 1: _meta_txid(data, page)}
    current = max(txids, key=txids.get)
    assert db.txid == txids[current] and db.meta.page == current
    # Damage the current meta page's root pointer: its checksum no longer matches.
    data[current * page + 16 + 16] ^= 0xFF
    copy_of_meta.write_bytes(bytes(data))
    older = DB(copy_of_meta)
    assert older.txid == txids[1 - current] and older.meta.page == 1 - current
    # The previous transaction's tree is intact unless a transaction begun since has already reused
    # its freed pages (the copy was taken from a live containerd); then reading it must be a clear
    # BoltError naming the file, never garbage.
    try:
        older_images = {k for k, _ in older.bucket("v1", "moby", "images").buckets()}
    except BoltError as e:
        assert str(copy_of_meta) in str(e) and "corrupt" in str(e)
    else:
        assert older_images == {k for k, _ in db.bucket("v1", "moby", "images").buckets()}
    # Damage both: nothing valid is left.
    data[(1 - current) * page + 16 + 16] ^= 0xFF
    copy_of_meta.write_bytes(bytes(data))
    with pytest.raises(BoltError, match="fails its checksum"):
        DB(copy_of_meta)
