"""Which cache IDs a data root's layers may have: every form the daemon writes, never one that leaves
the driver's folder (``_reader.check_name``), and mount IDs as strictly as the daemon (``check_id``)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, strategies as st

from layerlab.sources._reader import check_id, check_name

HEX64 = "3ff6beb739d933f7bef5cb14c36f9a462bc474b3a3b534af1de28f5ff6cd2d0c"


@pytest.mark.parametrize("cache_id", [
    HEX64,  # the layer store's (stringid.GenerateRandomID), and pre-1.10 graph IDs migrated
    "628teidt5i0qm39l062m2n822",  # BuildKit's (identity.NewID: 25 base-36 characters)
    "extract-628teidt5i0qm39l062m2n822 sha256:" + "ab" * 32,  # a BuildKit extraction key
    HEX64 + "-init",
    "a" * 255,
])
def test_every_form_the_daemon_writes_is_accepted(cache_id):
    assert check_name(cache_id) == cache_id


@pytest.mark.parametrize("cache_id", [
    "", ".", "..", "../x", "../../etc", "a/b", "/", "/etc", "x/..", "abc\x00", "\x00", "a\nb", "a\x7fb",
    "a" * 256, "\u00e9" * 128, "\ud800", None, 64, b"abc",
])
def test_what_could_leave_the_folder_or_names_none_is_refused(cache_id):
    assert check_name(cache_id) is None


@given(st.text(max_size=300))
def test_an_accepted_id_joins_to_exactly_one_entry_of_the_folder(cache_id):
    if check_name(cache_id) is None:
        return
    home = "/var/lib/docker/overlay2"
    joined = os.path.normpath(os.path.join(home, cache_id))
    assert os.path.dirname(joined) == home and os.path.basename(joined) == cache_id
    assert len(os.fsencode(cache_id)) <= 255


def test_mount_ids_stay_as_strict_as_the_daemon():
    # moby layer/filestore.go isValidID: 64 lower-case hex, optionally "-init"; it refuses others itself
    assert check_id(HEX64) and check_id(HEX64 + "-init", "-init")
    assert not check_id("628teidt5i0qm39l062m2n822") and not check_id(HEX64.upper()) and not check_id("../" + HEX64[3:])
