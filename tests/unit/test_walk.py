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
    assert (rows.loc["/etc/app/conf", "kind"], rows.loc["/etc/app/conf", "link_target"]) == ("hardlink",
        "/etc/app/another")
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


@pytest.mark.parametrize("convention", walk.CONVENTIONS)
def test_walked_layers_framed_together_equal_their_frames_concatenated(tree, tmp_path, convention):
    """A data root's small layers are framed together (frame_walked): the rows, dtypes and layer
    categories of a frame per layer concatenated, whatever the layers hold (odd names, hard links,
    markers dropped, an empty layer), and the walk's disk bytes are the frame's."""
    from layerlab.sources.layerfiles.rows import concat_files

    plain = tmp_path / "plain"
    (plain / "usr").mkdir(parents=True)
    (plain / "usr" / "back\\x2dslash").write_text("b")
    empty = tmp_path / "empty"
    empty.mkdir()
    dirs = [tree, empty, plain, tree]
    ids = [f"sha256:{i:064x}" for i in (3, 1, 2, 0)]  # not in sorted order
    one_by_one = [walk.walk_layer(d, i, convention) for d, i in zip(dirs, ids)]
    walked = [walk.walk_layer(d, i, convention, frame=False) for d, i in zip(dirs, ids)]
    assert [w.disk_bytes for w in walked] == [int(f["disk_usage"].sum()) for f in one_by_one]
    assert walked[0].disk_bytes > 0 and len(walked[1]) == 0
    expected = concat_files(one_by_one)
    got = concat_files([walk.frame_walked(walked)])
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert list(got["layer_id"].cat.categories) == sorted(ids[:1] + ids[2:])
    for f, w in zip(one_by_one, walked):  # a layer alone, framed by the same function
        pd.testing.assert_frame_equal(walk.frame_walked([w]), f, check_exact=True)
