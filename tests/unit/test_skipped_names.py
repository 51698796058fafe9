"""An image not found by a name that a skipped image carries says it was skipped, and why; the
names come from meta ``skipped_images`` (a snapshot's meta.json), which is checked, not trusted."""

from __future__ import annotations

import pytest

import layerlab as ll
from layerlab.analyses.summary import skipped_list
from layerlab.frames.inventory import FRAME_NAMES, Inventory

SKIPPED_ID = "sha256:" + "5e" * 32


@pytest.fixture(scope="module")
def sample():
    return ll.sample()


def _with(sample, skipped_images) -> Inventory:
    frames = {n: (lambda n=n: getattr(sample, n)) for n in FRAME_NAMES if n != "files"}
    frames["files"] = sample.files.iloc[0:0]
    return Inventory({**sample.meta, "skipped_images": skipped_images}, frames)


@pytest.mark.parametrize("ref", ["team/app:2", "team/app", "registry.example/app@sha256:" + "0f" * 32, SKIPPED_ID[7:19],
                                 SKIPPED_ID])
def test_a_name_or_id_of_a_skipped_image_is_named_in_the_error(sample, ref):
    inv = _with(sample,
                {SKIPPED_ID: {"names": ["team/app:2", "team/app:latest", "registry.example/app@sha256:" + "0f" * 32],
                                      "reason": "its layer sha256:0123456789ab could not be read"}})
    with pytest.raises(ll.LayerlabError) as e:
        inv.image_id(ref)
    assert "skipped" in str(e.value) and SKIPPED_ID[:19] in str(e.value) and "could not be read" in str(e.value)


def test_other_names_get_the_usual_error(sample):
    inv = _with(sample, {SKIPPED_ID: {"names": ["team/app:2"], "reason": "r"}})
    with pytest.raises(ll.LayerlabError, match="give a tag, an ID or an ID prefix") as e:
        inv.image_id("team/app:3")
    assert "skipped" not in str(e.value)
    assert inv.image_id(sample.tagged["tags"].iloc[0][0])  # images that were read are found as before


@pytest.mark.parametrize("meta", [None, [], "text", {SKIPPED_ID: "r"}, {SKIPPED_ID: {"names": "team/app:2"}},
                                  {SKIPPED_ID: {"names": [1, None], "reason": 5}}])
def test_a_skipped_images_entry_of_the_wrong_shape_is_ignored(sample, meta):
    inv = _with(sample, meta)
    with pytest.raises(ll.LayerlabError, match="no image 'team/app:2'"):
        inv.image_id("team/app:2")
    assert all(isinstance(n, list) for _, n, _ in inv.skipped_images())


def test_summary_skipped_list_has_kind_id_names_reason_path(sample):
    from layerlab.frames import schema

    assert skipped_list(sample) == []
    layer = "sha256:" + "1a" * 32
    inv = _with(sample, {SKIPPED_ID: {"names": ["team/app:2"], "reason": "its layer could not be read"}})
    inv._frames["skipped"] = schema.from_rows("skipped", [
        {"what": "layer", "id": layer, "path": "/root/image/overlay2/layerdb/sha256/x/cache-id",
         "reason": "bad cache-id"},
        {"what": "image", "id": SKIPPED_ID, "path": None, "reason": "its layer could not be read"},
    ])
    assert skipped_list(inv) == [
        {"kind": "layer", "id": layer, "names": [], "reason": "bad cache-id",
         "path": "/root/image/overlay2/layerdb/sha256/x/cache-id"},
        {"kind": "image", "id": SKIPPED_ID, "names": ["team/app:2"], "reason": "its layer could not be read",
         "path": None},
    ]
