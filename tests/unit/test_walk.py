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


def test_runs_of_plain_layers_made_at_once_equal_each_layer_made_alone(tree, tmp_path):
    """Plain layers (no hard links, ``.wh.`` names, whiteout devices or backslashes: most) keep the
    walker's result and frame_walked makes the columns of each run of them at once: the frame is
    the one each layer's own columns give, with a name that is not UTF-8 in a run (its layers are
    then made one by one), a layer that is not plain between runs, and empty layers."""
    require(None if walk._fastwalk is not None else "the C walker was not built")
    from layerlab.sources.layerfiles.rows import concat_files

    def layer(name, files=(), links=(), dirs=()):
        root = tmp_path / name
        root.mkdir()
        for d in dirs:
            (root / d).mkdir(parents=True)
        for f, text in files:
            (root / f).write_text(text)
        for f, target in links:
            os.symlink(target, root / f)
        return root

    a = layer("a", [("usr/bin/tool", "x" * 9000), ("usr/lib/x.so", "y")], [("usr/bin/alias", "tool")],
              ["usr/bin", "usr/lib", "opaque/dir"])
    try:  # overlay's opaque directory, as a pulled layer has it (user.*: allowed where trusted.* is not)
        os.setxattr(a / "opaque", "user.overlay.opaque", b"y")
    except OSError:
        pass
    c = layer("c", [("etc/conf", "z" * 100)], [("etc/link", "/nowhere/long/target"), ("top", "etc")], ["etc"])
    d = layer("d")
    os.close(os.open(os.fsencode(d) + b"/bad\xffname", os.O_CREAT | os.O_WRONLY, 0o600))
    empty = layer("empty")
    dirs = [a, empty, c, tree, c, d, a, empty]
    ids = [f"sha256:{i:064x}" for i in (7, 1, 5, 3, 2, 6, 0, 4)]
    walked = [walk.walk_layer(p, i, "overlay", frame=False) for p, i in zip(dirs, ids)]
    assert [w.columns is None for w in walked] == [True, True, True, False, True, True, True, True]
    alone = [walk._files_columns(i, walk._scan_c(os.fsencode(p), True, True), True, plain=False)
             for p, i in zip(dirs, ids)]
    assert [w.disk_bytes for w in walked] == [w.disk_bytes for w in alone]
    expected = concat_files([walk.frame_walked([w]) for w in alone])
    got = concat_files([walk.frame_walked(walked)])
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert len(got) == sum(len(w) for w in alone) > 10 and (got["kind"] == "symlink").sum() == 7
    assert got.loc[got["path"] == "/bad\\xffname", "path_raw"].tolist() == [b"/bad\xffname"] * 2  # tree, d
