"""The CI gate: dive's rule values and .dive-ci files, and `layerlab check` exit codes on a real image."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from layerlab.analyses import check, load_rules, parse_bytes
from layerlab.analyses.dive.check import RuleError, parse_ratio


@pytest.mark.parametrize(
    "text, expected",
    [("20MB", 20_000_000), ("19Mb", 19_000_000), ("20MiB", 20 << 20), ("1.5 GB", 1_500_000_000), ("1048576", 1048576),
     ("2k", 2000), ("3KiB", 3072), ("1,000B", 1000)],
)
def test_parse_bytes_like_go_humanize(text, expected):
    assert parse_bytes(text) == expected


@pytest.mark.parametrize("text", ["MB", "20 parsecs", "-1MB", ""])
def test_parse_bytes_rejects(text):
    with pytest.raises(RuleError):
        parse_bytes(text)


def test_parse_ratio():
    assert parse_ratio("0.2", "x") == 0.2
    assert parse_ratio("20%", "x") == 0.2
    with pytest.raises(RuleError, match="outside 0-1"):
        parse_ratio("20", "x")


def test_load_rules(tmp_path):
    f = tmp_path / ".dive-ci"
    f.write_text("rules:\n  lowestEfficiency: 0.95\n  highestWastedBytes: 20MB\n")
    assert load_rules(f) == {"lowestEfficiency": "0.95", "highestWastedBytes": "20MB",
                             "highestUserWastedPercent": "0.1"}
    f.write_text("rules:\n  lowest-efficiency: disabled\n  highestUserWastedPercent: false\n")
    rules = load_rules(f)
    assert rules["lowestEfficiency"] == "disabled" and rules["highestUserWastedPercent"] == "false"
    f.write_text("rules:\n  lowestEfficency: 0.9\n")
    with pytest.raises(RuleError, match="unknown rule"):
        load_rules(f)


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "layerlab.cli", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.live
def test_check_cli_on_real_images(edge_live, tmp_path):
    daemon, refs, inv = edge_live
    root = str(daemon.data_root)
    # the edge image wastes ~197 kB (dive's count) with efficiency ~0.9
    result = check(inv, refs["edge"], rules={"highestWastedBytes": "100kB"})
    assert list(result["status"])[1] == "fail"
    p = _cli("check", root, refs["edge"], "--max-wasted-bytes", "100kB", "--min-efficiency", "disabled",
             "--max-wasted-percent", "disabled")
    assert p.returncode == 1 and "too many bytes wasted" in p.stdout and "FAIL" in p.stdout
    p = _cli("check", root, refs["edge"], "--max-wasted-bytes", "1MB", "--min-efficiency", "0", "--max-wasted-percent",
             "100%")
    assert p.returncode == 0, p.stdout + p.stderr
    rules = tmp_path / ".dive-ci"
    rules.write_text("rules:\n  lowestEfficiency: 0.99\n  highestWastedBytes: disabled\n  highestUserWastedPercent: "
                     "disabled\n")
    p = _cli("check", root, refs["edge"][:20], "--json", cwd=tmp_path)  # ./.dive-ci is read, as dive does
    data = json.loads(p.stdout)
    assert p.returncode == 1 and not data["pass"] and data["rules"][0]["status"] == "fail"
    assert data["rules"][0]["value"] == pytest.approx(check(inv, refs["edge"])["value"][0])
    # excluding the base: the child only deletes; its own layer wastes what it deletes
    p = _cli("check", root, refs["child"], "--exclude-base", "--rules", str(rules), "--json")
    assert json.loads(p.stdout)["exclude_base"] is True
    p = _cli("check", root, "no-such-image:1")
    assert p.returncode == 2 and "no image" in p.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text("rules:\n  highestWastedBytes: 20 parsecs\n")
    p = _cli("check", root, refs["edge"], "--rules", str(bad))
    assert p.returncode == 2 and "byte size" in p.stderr


def test_layerlab_rules_on_the_sample(tmp_path):
    """layerlab's rules next to dive's in one file; dive's three stay as they were."""
    import layerlab as ll

    f = tmp_path / ".dive-ci"
    f.write_text("rules:\n  highestReclaimableBytes: 1MB\n  highest-reclaimable-bytes-excluding-base: 0\n"
                 "  highestBloatBytes:\n    total: 1MB\n    apt-lists: 0\n")
    rules = load_rules(f)
    assert [rules[k] for k in ("lowestEfficiency", "highestWastedBytes", "highestUserWastedPercent")] == ["0.9",
        "disabled", "0.1"]
    result = check(ll.sample(), "layerlab/app:1", rules=f).set_index("rule")
    eff = ll.analyses.efficiency(ll.sample(), ["layerlab/app:1"]).iloc[0]
    assert result.loc["highestReclaimableBytes", "value"] == eff["reclaimable_bytes"] > 1_000_000
    assert result.loc["highestReclaimableBytes", "status"] == "fail"
    # app:1 only adds files on top of the wasteful bloat:1: nothing of its own to reclaim
    assert result.loc["highestReclaimableBytesExcludingBase", "value"] == eff["reclaimable_bytes_excluding_base"] == 0
    assert result.loc["highestReclaimableBytesExcludingBase", "status"] == "pass"
    assert result.loc["highestBloatBytes[apt-lists]", "status"] == "pass"
    assert list(result.index[:3]) == ["lowestEfficiency", "highestWastedBytes", "highestUserWastedPercent"]
    with pytest.raises(RuleError, match="unknown bloat category apt-list"):
        check(ll.sample(), "layerlab/app:1", rules={"highestBloatBytes": {"apt-list": 0}})
