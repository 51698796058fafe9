"""All images in one pass (``layertree.walk`` through ``waste.stack_all``) against each image stacked
on its own (``waste.image_figures``, ``waste.hidden_stacked``): the same figures, exactly, for every
image of the bundled samples, of the real captures and of the live daemons."""

from __future__ import annotations

import math
import warnings

import pandas as pd
import pytest

import layerlab as ll
from layerlab.analyses import efficiency
from layerlab.analyses.dive.attribution import walked_waste, waste_by_line
from layerlab.analyses.dedup.base import base_images
from layerlab.analyses.stacking import chain_files
from layerlab.analyses.dive.totals import reclaimable_once
from layerlab.analyses.dive.waste import hidden_of, hidden_stacked, image_figures, stack_all, waste
from layerlab.frames.inventory import Inventory
from layerlab.sources.sample import DRIVERS, sample_path
from harness.tiers import require, require_root


def _same(a, b) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def assert_one_pass_is_per_image(inv) -> int:
    """Every image of ``inv``: one pass == stacked alone (figures and hidden rows, in order)."""
    bases = base_images(inv).set_index("image_id")["base_layer_count"]
    ids = list(inv.images["image_id"])
    layers = {i: int(bases.get(i, 0)) for i in ids}
    walked = stack_all(inv, ids, layers)
    assert set(walked) == set(ids)
    for iid in ids:
        ref = image_figures(inv, iid, layers[iid])
        got = walked[iid]
        assert set(got) == set(ref)
        for key, value in ref.items():
            assert _same(got[key], value), (iid, key, got[key], value)
        alone = hidden_stacked(chain_files(inv, inv.chain(iid))).reset_index(drop=True)
        one = hidden_of(inv, iid)
        for col in ("layer_id", "path", "position", "size"):
            assert list(one[col]) == list(alone[col]), (iid, col)
        # waste by Dockerfile line: who hid what, and how
        ref_waste = waste(inv, iid, hash=False, progress=False)
        ref_rows = ref_waste[ref_waste["reclaimable"]].reset_index(drop=True)
        rows = walked_waste(inv, iid)
        for col in ("path", "layer_id", "position", "bytes", "reason", "by_position", "by_layer_id"):
            assert list(rows[col]) == list(ref_rows[col]), (iid, col)
        lines = waste_by_line(inv, iid)
        ref_lines = waste_by_line(inv, iid, waste=ref_waste)
        pd.testing.assert_frame_equal(lines.reset_index(drop=True), ref_lines.reset_index(drop=True), check_dtype=False)
    # honest totals: each (layer, path) once over the listed images
    listed = list(inv.listed["image_id"])
    parts = [hidden_stacked(chain_files(inv, inv.chain(i))) for i in listed]
    union = pd.concat(parts,
                      ignore_index=True).drop_duplicates(["layer_id", "path"]) if parts else pd.DataFrame({"size": []})
    once = reclaimable_once(inv, listed)
    assert once["reclaimable_bytes"] == int(union["size"].sum())
    assert once["reclaimable_bytes_sum_of_images"] == sum(int(p["size"].sum()) for p in parts)
    # efficiency reads the same figures (and the same bases)
    eff = efficiency(inv, all=True).set_index("image_id")
    for iid in ids:
        ref = image_figures(inv, iid, layers[iid])
        for key in ("dive_efficiency", "dive_wasted_bytes", "reclaimable_bytes", "dive_efficiency_excluding_base",
                    "reclaimable_bytes_excluding_base", "dive_user_wasted_percent_excluding_base"):
            assert _same(eff.at[iid, key], ref[key]), (iid, key)
    return len(ids)


@pytest.fixture(params=list(DRIVERS), scope="module")
def sample(request):
    require(None if sample_path(request.param).exists() else f"the sample {sample_path(request.param)} is missing")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ll.sample(request.param)


def test_samples_one_pass_equals_per_image(sample):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert assert_one_pass_is_per_image(sample) >= 5
    # images share prefixes: some layer is in more than one image's chain
    il = sample.image_layers
    assert il.groupby("layer_id")["image_id"].nunique().max() > 1


def test_compact_files_frame(sample):
    """The files frame made compact (categorical layer_id and kind, Arrow strings) gives the same."""
    files = sample.files.copy()
    files["layer_id"] = files["layer_id"].astype("category")
    files["kind"] = files["kind"].astype("category")
    for col in ("path", "link_target"):
        files[col] = files[col].astype(pd.ArrowDtype(__import__("pyarrow").string()))
    compact = Inventory(sample.meta, {**sample.frames(), "files": files})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = {i: image_figures(sample, i, 0) for i in sample.images["image_id"]}
        got = stack_all(compact, list(ref))
    for iid, fig in ref.items():
        for key, value in fig.items():
            assert _same(got[iid][key], value), (iid, key)


def test_images_unknown_or_without_layers(sample):
    """An image ID with no chain stacks nothing (dive's figures of an empty image)."""
    got = stack_all(sample, ["sha256:" + "0" * 64])["sha256:" + "0" * 64]
    assert got["reclaimable_bytes"] == 0 and got["dive_efficiency"] == 1.0 and got["dive_size_bytes"] == 0


@pytest.mark.root
@pytest.mark.parametrize("capture", ["overlay2", "vfs", "btrfs", "containerd"])
def test_captures_one_pass_equals_per_image(capture, public_tmp):
    require_root("tar")
    from harness.captures import unpack_capture

    root = unpack_capture(capture, public_tmp / capture)
    inv = ll.open_root(str(root), progress=False)
    assert assert_one_pass_is_per_image(inv) >= 5


@pytest.mark.live
def test_live_sample_one_pass_equals_per_image(sample_live):
    daemon, built, inv = sample_live
    assert assert_one_pass_is_per_image(inv) >= 5


@pytest.mark.live
def test_live_edge_one_pass_equals_per_image(edge_live):
    daemon, refs, inv = edge_live
    assert assert_one_pass_is_per_image(inv) >= 3
