"""``layerlab scan`` walks an overlay2 root's layer folders while pandas loads (sources/docker/early.py):
the frames are the reader's own, and a layer folder or ``diff`` that is a symbolic link out of the
root is neither walked early nor read later."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest

import layerlab as ll
from layerlab.cli import main
from layerlab.sources.docker import early


def _frames(root: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inv = ll.open_root(str(root), progress=False)
        return inv.files, inv.layers, inv.skipped


def _cache_dirs(root: Path) -> list[Path]:
    return sorted(p for p in (root / "overlay2").iterdir() if (p / "diff").is_dir() and p.name != "l")


def test_early_walks_are_taken_and_give_the_readers_frames(root_copy):
    alone = _frames(root_copy)
    assert early.start(str(root_copy))
    walks = early.started(str(root_copy))
    try:
        walks.wait()
        assert walks.done()  # so the reader reads each walked layer in its own thread, not a pool's
        with_early = _frames(root_copy)
    finally:
        early.forget(str(root_copy))
    assert walks.taken == len(alone[1])  # every layer's walk came from the early thread
    assert early.started(str(root_copy)) is None
    for a, b in zip(alone, with_early):
        pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("level", ["layer folder", "diff"])
def test_a_layer_folder_linked_out_of_the_root_is_not_walked_early_nor_read(root_copy, public_tmp, level, capsys):
    before = _frames(root_copy)[0]
    layer = _cache_dirs(root_copy)[0]
    linked = layer if level == "layer folder" else layer / "diff"
    outside = public_tmp / "outside" / linked.name
    outside.parent.mkdir()
    shutil.move(str(linked), str(outside))
    linked.symlink_to(outside)

    assert early.start(str(root_copy))
    walks = early.started(str(root_copy))
    walks.wait()
    assert walks.take(str(layer / "diff")) is None  # refused by the early walk: not walked through the link
    assert walks.take(str(_cache_dirs(root_copy)[-1] / "diff")) is not None  # the others were walked
    early.forget(str(root_copy))

    out = public_tmp / "scan.layerlab"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["scan", str(root_copy), "-o", str(out), "-q"]) == 0
    snap = ll.load(str(out))
    assert snap.skipped["reason"].str.contains("symbolic link").any()
    assert len(snap.files) < len(before)  # the linked layer's files are not in the snapshot
    assert early.started(str(root_copy)) is None  # the scan's own walks were dropped when it ended


def test_an_overlay2_folder_linked_out_of_the_root_starts_no_early_walk(root_copy, public_tmp):
    home = root_copy / "overlay2"
    outside = public_tmp / "outside-overlay2"
    shutil.move(str(home), str(outside))
    home.symlink_to(outside)
    assert not early.start(str(root_copy))  # nothing outside the root is listed or walked
    assert early.started(str(root_copy)) is None
