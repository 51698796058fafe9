"""Offline tier: every analysis runs on the bundled sample snapshots (no Docker, no data root)."""

from __future__ import annotations

import warnings

import pytest

import layerlab as ll
from layerlab import analyses
from layerlab.sources.sample import DRIVERS, sample_path
from harness.tiers import require


@pytest.fixture(params=[d for d in DRIVERS], scope="module")
def sample(request):
    require(None if sample_path(request.param).exists() else f"the sample {sample_path(request.param)} is missing")
    return ll.sample(request.param)


def test_every_analysis_on_the_sample(sample):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "snapshot without its root": size-level comparisons
        eff = analyses.efficiency(sample)
        bloat = analyses.waste(sample, "layerlab/bloat:1", progress=False)
        dedup = analyses.content_dedup(sample)
        ups = analyses.copy_ups(sample, progress=False)
        diff = analyses.diff_images(sample, "layerlab/base:1", "layerlab/app:1", progress=False)
    row = eff[eff["tags"].map(lambda t: "layerlab/bloat:1" in t)].iloc[0]
    assert row["dive_wasted_bytes"] == 3 * (1 << 20) + (256 << 10)
    assert row["reclaimable_bytes"] == bloat.loc[bloat["reclaimable"], "bytes"].sum() == 2 * (1 << 20) + (256 << 10)
    assert set(bloat["reason"]) <= {"overwritten", "deleted", "metadata_only"}
    # a sample scanned with --hash keeps the digests of files with twins; otherwise sizes only
    assert (dedup["evidence"] == ("sha256" if sample.meta.get("hashed") is not None else "size")).all()
    assert set(ups["action"]) >= {"copied_up", "created", "deleted"}
    assert (diff["status"] == "added").any()
    assert analyses.layer_dedup(sample).iloc[0]["saved_bytes"] > 0
    assert analyses.sharing_matrix(sample).any(axis=None)
    assert len(analyses.merged_view(sample, container="ll-exited")) > len(analyses.merged_view(sample,
        "layerlab/app:1"))
