"""Header parsing against archives written by GNU tar (pax and gnu formats) and read by tarfile."""

import os
import subprocess
import tarfile

import pytest

from layerlab.sources.layerfiles.tarheader import clean_path, parse_headers

LONG = "d" * 60 + "/" + "n" * 120


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "root"
    (root / ("d" * 60)).mkdir(parents=True)
    (root / LONG).write_bytes(b"x" * 700)
    (root / "with space").write_text("s")
    (root / "new\nline").write_text("n")
    os.close(os.open(os.fsencode(root) + b"/bad\xffname", os.O_CREAT | os.O_WRONLY, 0o640))
    os.link(root / LONG, root / "hard")
    os.symlink("t" * 150, root / "longlink")
    os.chmod(root / "with space", 0o4755)
    os.utime(root / "with space", ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    return root


@pytest.mark.parametrize("fmt", ["pax", "gnu"])
def test_headers_match_tarfile(tree, tmp_path, fmt):
    archive = tmp_path / f"{fmt}.tar"
    subprocess.run(["tar", f"--format={fmt}", "-C", str(tree), "-cf", str(archive), "."], check=True)
    raw = archive.read_bytes()
    with tarfile.open(archive, encoding="utf-8", errors="surrogateescape") as tf:
        members = tf.getmembers()
    end = 0
    seen = 0
    for m in members:
        h = parse_headers(raw[end : m.offset_data])
        end = m.offset_data + (-(-m.size // 512) * 512 if m.isreg() else 0)
        assert h is not None
        assert clean_path(h.name) == clean_path(m.name)
        assert h.size == (m.size if m.isreg() else 0) or not m.isreg()
        assert h.mode == m.mode & 0o7777
        assert (h.uid, h.gid) == (m.uid, m.gid)
        assert h.mtime_ns // 1_000_000_000 == int(m.mtime)
        if m.issym() or m.islnk():
            assert h.linkname == m.linkname
        seen += 1
    names = {clean_path(m.name) for m in members}
    assert {"/" + LONG, "/hard", "/longlink", "/new\nline", "/bad\udcffname"} <= names
    assert seen == len(members)


def test_pax_keeps_subsecond_mtime(tree, tmp_path):
    archive = tmp_path / "pax.tar"
    subprocess.run(["tar", "--format=pax", "-C", str(tree), "-cf", str(archive), "with space"], check=True)
    with tarfile.open(archive) as tf:
        (member,) = tf.getmembers()
    h = parse_headers(archive.read_bytes()[: member.offset_data])
    assert h.name == "with space"
    assert h.mtime_ns == 1_600_000_000_123_456_789
    assert h.mode == 0o4755


@pytest.mark.parametrize(
    "name, path",
    [("./", "/"), ("./etc/", "/etc"), ("etc/passwd", "/etc/passwd"), ("/abs//x/./y", "/abs/x/y"),
     (".wh..wh..opq", "/.wh..wh..opq")],
)
def test_clean_path(name, path):
    assert clean_path(name) == path


@pytest.mark.parametrize("fmt", ["gnu", "ustar", "pax", "v7"])
def test_fast_path_equals_tarfile_path(tree, tmp_path, fmt):
    """The fast header path gives the same Header as the tarfile.frombuf path for every block GNU tar
    wrote (the fast path declines what it does not read: it must never differ)."""
    from layerlab.sources.layerfiles.tarheader import _header, fast_header

    archive = tmp_path / f"{fmt}.tar"
    subprocess.run(["tar", f"--format={fmt}", "-C", "/usr/include", "-cf", str(archive), "."], check=True)
    raw = archive.read_bytes()
    with tarfile.open(archive, encoding="utf-8", errors="surrogateescape") as tf:
        members = tf.getmembers()
    fast = 0
    for m in members:
        block = raw[m.offset_data - 512:m.offset_data]  # the entry's own block, after any PAX/GNU records
        h = fast_header(block)
        if h is None:
            continue
        fast += 1
        info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        assert h == _header(info, block, {}, None, None)
    assert fast > 0.5 * len(members)
    # a damaged checksum is declined, and left to tarfile to refuse
    block = bytearray(raw[members[0].offset:members[0].offset + 512])
    block[0] ^= 1
    assert fast_header(bytes(block)) is None
