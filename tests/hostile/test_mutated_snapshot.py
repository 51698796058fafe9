"""Every file of a snapshot damaged every way: a SnapshotError naming the file, never a traceback or a hang."""

from __future__ import annotations

from pathlib import Path

import pytest
from mutations import COMMON, bounded, damaged, write

import layerlab as ll
from layerlab.frames.inventory import FRAME_NAMES


@pytest.fixture(scope="module")
def snap(tmp_path_factory):
    return Path(ll.sample().save(tmp_path_factory.mktemp("snap") / "s.layerlab"))


MUTATIONS = {**COMMON, "not parquet": write(b"PAR1 but not really"), "json list": write(b"[1]"),
             "not utf-8": write(b"\xff\xfe")}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
@pytest.mark.parametrize("file", ["meta.json"] + [f"{n}.parquet" for n in FRAME_NAMES])
def test_a_damaged_snapshot_file_is_a_snapshot_error_naming_it(snap, file, mutation):
    path = snap / file
    with damaged(path, MUTATIONS[mutation]), bounded(20, f"{file} as {mutation}"):
        with pytest.raises(ll.SnapshotError) as e:
            ll.load(snap).frames()
        assert file in str(e.value)
