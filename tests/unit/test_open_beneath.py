"""open_beneath: the one component-by-component O_NOFOLLOW open the registry scan and layer contents share."""

import errno
import os
import stat

import pytest

from layerlab.sources._reader import open_beneath


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_text("x")
    top = tmp_path / "top"
    (top / "a" / "b").mkdir(parents=True)
    (top / "a" / "b" / "file").write_text("hello")
    (top / "a" / "out").symlink_to(tmp_path / "outside")
    os.mkfifo(top / "a" / "fifo")
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    yield fd
    os.close(fd)


def test_opens_folders_and_files_below_and_leaves_the_folder_open(tree):
    fd = open_beneath(tree, ["a", "b"])
    assert sorted(os.listdir(fd)) == ["file"]
    os.close(fd)
    fd = open_beneath(tree, [b"a", b"b", b"file"], os.O_NONBLOCK)
    assert os.read(fd, 10) == b"hello"
    os.close(fd)
    os.fstat(tree)  # still open


def test_a_symlinked_folder_on_the_way_is_not_followed(tree):
    with pytest.raises(OSError) as e:
        open_beneath(tree, ["a", "out", "secret"], os.O_NONBLOCK)
    assert e.value.errno in (errno.ENOTDIR, errno.ELOOP)
    with pytest.raises(OSError) as e:
        open_beneath(tree, ["a", "out"])
    assert e.value.errno in (errno.ENOTDIR, errno.ELOOP)


def test_a_fifo_opens_without_blocking_and_fds_do_not_leak(tree):
    before = len(os.listdir("/proc/self/fd"))
    fd = open_beneath(tree, ["a", "fifo"], os.O_NONBLOCK)
    assert stat.S_ISFIFO(os.fstat(fd).st_mode)
    os.close(fd)
    for _ in range(20):
        with pytest.raises(FileNotFoundError):
            open_beneath(tree, ["a", "b", "missing", "x"])
    assert len(os.listdir("/proc/self/fd")) == before
