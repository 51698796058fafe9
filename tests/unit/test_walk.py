"""The layer walk on a tree made here: the C walker against the Python walk, and the conventions."""

import os

import pandas as pd
import pytest

from layerlab.sources.layerfiles import walk
from harness.tiers import require


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "layer"
    (root / "etc" / "app").mkdir(parents=True)
    (root / "etc" / "app" / "conf").write_text("x" * 5000)
    os.link(root / "etc" / "app" / "conf", root / "etc" / "app" / "another")
    os.symlink("app/conf", root / "etc" / "link")
    (root / "gone").mkdir()
    (root / "gone" / ".wh..wh..opq").write_text("")
    (root / "etc" / ".wh.removed").write_text("")
    os.close(os.open(os.fsencode(root) + b"/bad\xffname", os.O_CREAT | os.O_WRONLY, 0o600))
    os.mkfifo(root / "pipe")
    return root


@pytest.mark.parametrize("convention", walk.CONVENTIONS)
def test_c_and_python_walks_agree(tree, convention):
    require(None if walk._fastwalk is not None else "the C walker was not built (no compiler at install time?)")
    a = walk.walk_layer(tree, "L", convention, use_c=False).sort_values("path", ignore_index=True)
    b = walk.walk_layer(tree, "L", convention).sort_values("path", ignore_index=True)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("use_c", [False, True])
def test_aufs_convention_and_odd_entries(tree, use_c):
    if use_c:
        require(None if walk._fastwalk is not None else "the C walker was not built")
    rows = walk.walk_layer(tree, "L", "aufs", use_c=use_c).set_index("path")
    assert rows.loc["/gone", "kind"] == "opaque"
    assert rows.loc["/etc/removed", "kind"] == "whiteout"
    assert "/gone/.wh..wh..opq" not in rows.index
    assert rows.loc["/etc/app/another", "kind"] == "file" and rows.loc["/etc/app/another", "size"] == 5000
    assert (rows.loc["/etc/app/conf", "kind"], rows.loc["/etc/app/conf", "link_target"]) == ("hardlink", "/etc/app/another")
    assert rows.loc["/etc/link", "link_target"] == "app/conf"
    assert rows.loc["/pipe", "kind"] == "fifo"
    assert rows.loc["/bad\\xffname", "path_raw"] == b"/bad\xffname"


@pytest.mark.parametrize("use_c", [False, True])
def test_a_missing_layer_directory_names_itself(tmp_path, use_c):
    if use_c:
        require(None if walk._fastwalk is not None else "the C walker was not built")
    with pytest.raises(FileNotFoundError) as e:
        walk.walk_layer(tmp_path / "nope", "L", use_c=use_c)
    assert "nope" in str(e.value.filename)
