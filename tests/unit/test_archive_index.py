"""The member index of an uncompressed `docker save` archive: read a header block at a time where
every header is a plain one (``archive._plain_members``), by tarfile otherwise; both give tarfile's
members (names, types, sizes, data offsets, link targets). Archives are written by GNU tar."""

from __future__ import annotations

import os
import subprocess
import tarfile

import pytest

from layerlab.errors import ArchiveError
from layerlab.sources.blobstore import TarStore, _plain_members


def _key(m: tarfile.TarInfo):
    return (m.name, m.isreg(), m.isdir(), m.issym(), m.islnk(), m.size, m.linkname, m.offset, m.offset_data)


def _tarfile_members(path) -> list:
    with tarfile.open(path, "r:", encoding="utf-8", errors="surrogateescape") as tf:
        return [_key(m) for m in tf.getmembers()]


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "root"
    (root / "blobs" / "sha256").mkdir(parents=True)
    for i in range(5):
        (root / "blobs" / "sha256" / f"{i:064x}").write_bytes(os.urandom(100 * i + 1))
    (root / "manifest.json").write_text("[]")
    os.symlink("../blobs/sha256/" + f"{1:064x}", root / "blobs" / "link.tar")
    os.link(root / "manifest.json", root / "hard.json")
    return root


@pytest.mark.parametrize("fmt", ["ustar", "gnu"])
def test_plain_headers_are_indexed_as_tarfile_does(tree, tmp_path, fmt):
    archive = tmp_path / "a.tar"
    subprocess.run(["tar", f"--format={fmt}", "-C", str(tree), "-cf", str(archive), "."], check=True)
    got = _plain_members(str(archive))
    assert got is not None and [_key(m) for m in got] == _tarfile_members(archive)
    store = TarStore(str(archive))
    assert store.read_bytes("manifest.json") == b"[]"
    assert store.read_bytes("blobs/link.tar") == (tree / "blobs" / "sha256" / f"{1:064x}").read_bytes()


def test_other_archives_are_left_to_tarfile(tree, tmp_path):
    """A PAX or GNU long-name record, an archive cut short, and a file that is no tar: tarfile reads them
    (and says what is wrong), as before."""
    (tree / ("n" * 150)).write_text("long")
    pax, gnu = tmp_path / "pax.tar", tmp_path / "gnu.tar"
    subprocess.run(["tar", "--format=pax", "-C", str(tree), "-cf", str(pax), "."], check=True)
    subprocess.run(["tar", "--format=gnu", "-C", str(tree), "-cf", str(gnu), "."], check=True)
    for archive in (pax, gnu):
        assert _plain_members(str(archive)) is None
        assert "n" * 150 in TarStore(str(archive)).names()
    cut = tmp_path / "cut.tar"
    data = gnu.read_bytes()
    cut.write_bytes(data[:1024 + 300])
    assert _plain_members(str(cut)) is None
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 200)
    empty = tmp_path / "empty.tar"
    empty.write_bytes(b"")
    for path in (text, empty):
        assert _plain_members(str(path)) is None
        with pytest.raises(ArchiveError, match="not a tar archive"):
            TarStore(str(path))
