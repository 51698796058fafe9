"""real_path (the kernel's answer, O_PATH and /proc/self/fd) names what os.path.realpath names."""

import os

from layerlab.sources._reader import real_path


def test_real_path_is_realpath_through_links_missing_names_and_dangling_links(tmp_path):
    inside = tmp_path / "root" / "image"
    inside.mkdir(parents=True)
    (inside / "file").write_text("x")
    os.symlink("/etc", tmp_path / "root" / "out")  # a folder link out of the root
    os.symlink("image", tmp_path / "root" / "in")  # a folder link inside it
    os.symlink("/no/such/target", tmp_path / "root" / "dangling")
    os.symlink("loop", tmp_path / "root" / "loop")
    names = ["image/file", "image/missing", "missing/deeper/name", "out", "out/passwd", "out/missing", "in/file",
             "in/missing", "dangling", "dangling/below", "loop", "image/file/below", "."]
    for name in names:
        path = os.path.abspath(os.path.join(tmp_path, "root", name))
        assert real_path(path) == os.path.realpath(path), name
    assert real_path(os.path.join(tmp_path, "root", "out", "passwd")) == os.path.realpath("/etc/passwd")
