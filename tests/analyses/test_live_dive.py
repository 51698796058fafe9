"""Live tier: dive's three figures and its per-path list, equal to ``dive --json`` on the same images."""

from __future__ import annotations

import json
import math
import subprocess

import pytest

from layerlab.analyses import dive_analysis, efficiency
from harness.tiers import missing, require

pytestmark = pytest.mark.live


def _dive(daemon, image_id: str, tmp_path) -> dict:
    require(missing(programs=("dive",)))
    out = tmp_path / f"{image_id[7:19]}.json"
    # dive reaches the daemon through DOCKER_HOST and asks it for `docker save`.
    subprocess.run(["dive", "--json", str(out), image_id[7:]], env=daemon.env, check=True, capture_output=True,
                   timeout=300)
    return json.loads(out.read_text())


def _assert_same_as_dive(daemon, inv, tmp_path):
    eff = efficiency(inv)
    assert len(eff) >= 3
    for r in eff.itertuples(index=False):
        d = _dive(daemon, r.image_id, tmp_path)
        image = d["image"]
        assert r.dive_efficiency == pytest.approx(image["efficiencyScore"], rel=1e-12, abs=0), r.tags
        assert r.dive_wasted_bytes == image["inefficientBytes"], r.tags
        assert r.dive_size_bytes == image["sizeBytes"], r.tags
        # dive's export has no userWastedPercent; dive computes it as wasted / (size - first layer).
        user = image["sizeBytes"] - d["layer"][0]["sizeBytes"]
        assert r.dive_user_size_bytes == user
        if user:
            assert r.dive_user_wasted_percent == pytest.approx(image["inefficientBytes"] / user, rel=1e-12)
        else:
            assert math.isnan(r.dive_user_wasted_percent) or math.isinf(r.dive_user_wasted_percent)
        theirs = sorted((f["file"], f["count"], f["sizeBytes"]) for f in image["fileReference"])
        table = dive_analysis(inv, r.image_id)
        ours = sorted(zip(table["path"], table["count"].astype(int), table["size_bytes"].astype(int)))
        assert ours == theirs, r.tags


def test_sample_images_equal_dive(sample_live, tmp_path):
    daemon, built, inv = sample_live
    _assert_same_as_dive(daemon, inv, tmp_path)
    # the sample's bloat image is what dive flags: the big file three times
    eff = efficiency(inv, [built["roles"]["overwrite"]]).iloc[0]
    assert eff.dive_wasted_bytes == 3 * (1 << 20) + (256 << 10)


def test_edge_images_equal_dive(edge_live, tmp_path):
    daemon, refs, inv = edge_live
    _assert_same_as_dive(daemon, inv, tmp_path)
