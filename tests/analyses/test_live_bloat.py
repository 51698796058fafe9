"""Live tier: bloat findings, the new check rules, honest totals and dangling images on images
built for the purpose with known bytes in every category (tests/harness/bloat_images.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict

import pytest

import layerlab as ll
from layerlab.analyses.hygiene.bloat import bloat, bloat_files
from harness import bloat_images as bi
from harness.daemon import Daemon, dockerd_missing
from harness.tiers import require

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def bloat_live(tmp_path_factory):
    """(daemon, built, inventory) with the bloat images on an overlay2 daemon of their own."""
    require(dockerd_missing())
    work = tmp_path_factory.mktemp("dockerd-bloat")
    daemon = Daemon(work, driver="overlay2")
    daemon.start()
    try:
        built = bi.build_bloat_images(daemon, work)
        yield daemon, built, ll.open_root(str(daemon.data_root), progress=False)
    finally:
        daemon.stop()


def _cli(*args, cwd=None):
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}  # piped: names are never cut
    return subprocess.run([sys.executable, "-m", "layerlab.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=env)


def _expected_cats() -> dict[tuple[str, int], int]:
    """(category, layer position) -> bytes, from what the build wrote."""
    out: dict[tuple[str, int], int] = defaultdict(int)
    for name, size in bi.BASE_LISTS.items():
        out[("apt-lists", 1)] += size
    for pos, step in enumerate(bi.CATS_STEPS, start=2):
        for path, (size, category) in step.items():
            if category and path != bi.CATS_DELETED:
                out[(category, pos)] += size
    return dict(out)


def test_every_category_with_exact_bytes(bloat_live):
    daemon, built, inv = bloat_live
    findings = bloat(inv, bi.CATS)
    got = {(r.category, r.position): r.bytes for r in findings.itertuples(index=False)}
    assert got == _expected_cats()
    assert findings.attrs["total_bytes"] == sum(_expected_cats().values())
    # the hard link shows the same bytes under two names: counted once, both paths listed
    files = bloat_files(inv, bi.CATS).set_index("path")
    assert set(bi.CATS_HARDLINK) <= set(files.index)
    assert files.loc[list(bi.CATS_HARDLINK), "bytes"].sum() == bi.CATS_STEPS[0]["/var/log/dpkg.log"][0]
    # a file a later layer deleted is not bloat; files of no category are not listed
    assert bi.CATS_DELETED not in files.index and "/usr/bin/tool" not in files.index
    # each finding names its layer's command and a fix
    logs = findings.set_index("category").loc["logs"]
    assert "dpkg.log" in logs["created_by"] and logs["paths"] == 2
    assert findings.set_index("category").loc["pip-cache", "fix"].startswith("pip install --no-cache-dir")
    assert findings.set_index("category").loc["apt-cache",
                                              "examples"][0] == "/var/cache/apt/archives/tool_1.0_amd64.deb"


def test_bloat_cli_json_and_text(bloat_live, tmp_path):
    daemon, built, inv = bloat_live
    root = str(daemon.data_root)
    p = _cli("bloat", root, bi.CATS, "--json")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert data["image_id"] == built["images"][bi.CATS]
    assert data["total_bytes"] == sum(_expected_cats().values())
    f = data["findings"][0]
    assert set(f) >= {"category", "bytes", "paths", "examples", "layer", "created_by", "fix"}
    assert {(f["category"], f["layer"]): f["bytes"] for f in data["findings"]} == _expected_cats()
    text = _cli("bloat", root, bi.CATS).stdout
    assert "apt-lists" in text and "202 kB" in text and "fix: rm -rf /var/lib/apt/lists/*" in text
    # a user rule adds a category and overrides another (here: switches logs off)
    rules = tmp_path / "rules.csv"
    rules.write_text("category,pattern,fix\nsources,/src/app/*,copy only what runs\nlogs,,\n")
    p = _cli("bloat", root, bi.CATS, "--rules", str(rules), "--json")
    cats = {f["category"]: f["bytes"] for f in json.loads(p.stdout)["findings"]}
    assert "logs" not in cats
    # /src/app/.git/* now belongs to the user's rule, matched first
    assert cats["sources"] == 8_000 + 23 + 250 and "vcs" not in cats
    bad = tmp_path / "bad.csv"
    bad.write_text("name,glob\nx,y\n")
    p = _cli("bloat", root, bi.CATS, "--rules", str(bad))
    assert p.returncode == 2 and "category" in p.stderr
    bad.write_text("category,pattern\nx,var/log/*\n")
    p = _cli("bloat", root, bi.CATS, "--rules", str(bad))
    assert p.returncode == 2 and "start them with /" in p.stderr and "row 2" in p.stderr


def test_good_practice_passes_excluding_base_and_bad_fails(bloat_live, tmp_path):
    from layerlab.analyses import check, efficiency

    daemon, built, inv = bloat_live
    base_lists, update_lists = sum(bi.BASE_LISTS.values()), sum(bi.UPDATE_LISTS.values())
    eff = efficiency(inv, [bi.APT_GOOD, bi.APT_BAD]).set_index("image_id")
    good, bad = eff.loc[built["images"][bi.APT_GOOD]], eff.loc[built["images"][bi.APT_BAD]]
    # the good image deletes the base's lists: they stay in the base's layer, not in its own
    assert (good["reclaimable_bytes"], good["reclaimable_bytes_excluding_base"]) == (base_lists, 0)
    assert (bad["reclaimable_bytes"], bad["reclaimable_bytes_excluding_base"]) == (base_lists + update_lists,
        update_lists)
    rules = {"highestWastedBytes": "100kB", "highestReclaimableBytesExcludingBase": "0"}
    g = check(inv, bi.APT_GOOD, rules=rules).set_index("rule")["status"]
    b = check(inv, bi.APT_BAD, rules=rules).set_index("rule")["status"]
    # dive's byte rule punishes both; the excluding-base rule only the bad one
    assert g["highestWastedBytes"] == b["highestWastedBytes"] == "fail"
    assert g["highestReclaimableBytesExcludingBase"] == "pass" and b["highestReclaimableBytesExcludingBase"] == "fail"
    # the same rules from a .dive-ci file, on the command line
    f = tmp_path / ".dive-ci"
    f.write_text("rules:\n  lowestEfficiency: disabled\n  highestUserWastedPercent: disabled\n"
                 "  highestReclaimableBytesExcludingBase: 0\n  highestReclaimableBytes: 1MB\n")
    root = str(daemon.data_root)
    p = _cli("check", root, bi.APT_GOOD, "--rules", str(f))
    assert p.returncode == 0, p.stdout + p.stderr
    p = _cli("check", root, bi.APT_BAD, "--rules", str(f), "--json")
    data = json.loads(p.stdout)
    assert p.returncode == 1 and not data["pass"]
    rule = {r["rule"]: r for r in data["rules"]}
    assert rule["highestReclaimableBytesExcludingBase"]["value"] == update_lists
    assert rule["highestReclaimableBytes"]["status"] == "pass"
    # dive's table and the waste by Dockerfile line in the JSON
    ineff = {r["path"]: r for r in data["inefficient_files"]}
    assert ineff["/var/lib/apt/lists/deb_bookworm_main_Packages"]["count"] == 3
    line = data["waste_by_line"][0]
    assert line["bytes"] == update_lists and "rm -rf /var/lib/apt/lists" in line["hidden_by"]
    assert "deb_bookworm-security_Packages" in line["created_by"]


def test_check_bloat_rules_and_text(bloat_live, tmp_path):
    daemon, built, inv = bloat_live
    root = str(daemon.data_root)
    expected = _expected_cats()
    apt_cache = sum(v for (c, _), v in expected.items() if c == "apt-cache")
    f = tmp_path / "ci.yml"
    f.write_text("rules:\n  lowestEfficiency: disabled\n  highestUserWastedPercent: disabled\n"
                 f"  highestBloatBytes:\n    total: 1MB\n    apt-cache: {apt_cache - 1}\n    vcs: {apt_cache}\n")
    p = _cli("check", root, bi.CATS, "--rules", str(f), "--json")
    data = json.loads(p.stdout)
    rule = {r["rule"]: r for r in data["rules"]}
    assert p.returncode == 1
    assert rule["highestBloatBytes"]["status"] == "pass"
    assert rule["highestBloatBytes"]["value"] == sum(expected.values())
    assert rule["highestBloatBytes[apt-cache]"]["status"] == "fail"
    assert rule["highestBloatBytes[apt-cache]"]["value"] == apt_cache
    assert rule["highestBloatBytes[vcs]"]["status"] == "pass"
    assert data["bloat"]["total_bytes"] == sum(expected.values())
    text = _cli("check", root, bi.CATS, "--rules", str(f)).stdout
    assert "Inefficient Files" in text and "Bloat (visible files an image rarely needs): 316 kB" in text
    assert "FAIL     highestBloatBytes[apt-cache]" in text
    # the removed temporary file is dive's inefficient file and a line of waste
    assert bi.CATS_DELETED in text and "RUN rm /tmp/build.tmp" in text


def test_honest_totals_and_dangling(bloat_live):
    from layerlab.analyses.dive.totals import dangling, reclaimable_once

    daemon, built, inv = bloat_live
    base_lists, update_lists = sum(bi.BASE_LISTS.values()), sum(bi.UPDATE_LISTS.values())
    temp = bi.CATS_STEPS[2][bi.CATS_DELETED][0]
    # APT_CHILD holds APT_BAD's waste in the same layers: counted once; the base's lists, hidden
    # in both APT_GOOD and APT_BAD, once too
    once = reclaimable_once(inv, [bi.CATS, bi.APT_BAD, bi.APT_GOOD, bi.APT_CHILD])
    assert once["reclaimable_bytes"] == temp + base_lists + update_lists
    assert once["reclaimable_bytes_sum_of_images"] == temp + 2 * (base_lists + update_lists) + base_lists
    p = _cli("summary", str(daemon.data_root), "--json")
    data = json.loads(p.stdout)
    assert data["totals"]["reclaimable_bytes"] == temp + base_lists + update_lists
    assert data["totals"]["reclaimable_bytes_sum_of_images"] == sum(im["reclaimable_bytes"] for im in data["images"])
    # the first build of REBUILT lost its tag: dangling, as docker itself says, and pruning frees its layer
    docker_says = daemon.docker("images", "-f", "dangling=true", "-q", "--no-trunc").stdout.split()
    assert docker_says == [built["dangling"]]
    flagged = [im for im in data["images"] if im["dangling"]]
    assert [im["image_id"] for im in flagged] == [built["dangling"]]
    assert flagged[0]["prunable_bytes"] == data["totals"]["prunable_bytes"] == sum(bi.REBUILT_FIRST.values())
    assert dangling(inv).attrs["dangling_images"] == 1
    text = _cli("summary", str(daemon.data_root), "--sort", "reclaimable", "--top", "3").stdout
    lines = text.splitlines()
    assert lines[2].startswith(bi.APT_BAD) or lines[2].startswith(bi.APT_CHILD)
    assert "... " in text and "docker image prune` would free 50 kB" in text
    assert "WASTE BY DOCKERFILE LINE" in text and "RUN rm -rf /var/lib/apt/lists/*" in text
    csv = _cli("summary", str(daemon.data_root), "--format", "csv", "--sort", "name").stdout.splitlines()
    assert csv[0].startswith("name,image_id") and len(csv) == 1 + len(data["images"])


def test_diff_of_a_rebuild_ranks_content_over_mtimes(bloat_live):
    from layerlab.analyses import diff_images
    from layerlab.analyses.diff.diff_rank import ranked

    daemon, built, inv = bloat_live
    d = diff_images(inv, bi.CERTS_V1, bi.CERTS_V2, progress=False).set_index("path")
    path, size = bi.PKGCACHE
    assert d.loc[path, "content_changed"] == True  # noqa: E712 - same size, new bytes (hashed from the root)
    assert all(d.loc[c, "changes"] == "mtime" and d.loc[c, "content_changed"] == False for c in bi.CERTS)  # noqa: E712
    r = ranked(d.reset_index())
    assert r.iloc[0]["path"] == path and r.iloc[0]["bytes"] == size
    group = r[r["grouped"]].set_index("path")
    assert group.loc["/etc/ssl/certs", "paths"] == len(bi.CERTS) and group.loc["/etc/ssl/certs",
                                                                               "changes"] == "mtime only"
    text = _cli("diff", str(daemon.data_root), bi.CERTS_V1, bi.CERTS_V2).stdout
    rows = text[text.index("STATUS"):].splitlines()
    assert path in rows[1] and f"{len(bi.CERTS)} paths under /etc/ssl/certs" in text
    v1 = int(inv.images.set_index("image_id").loc[built["images"][bi.CERTS_V1], "size"])
    v2 = int(inv.images.set_index("image_id").loc[built["images"][bi.CERTS_V2], "size"])
    assert v1 == v2 and "image size: " in text and "(0 B)" in text
    data = json.loads(_cli("diff", str(daemon.data_root), bi.CERTS_V1, bi.CERTS_V2, "--json").stdout)
    assert data["ranked"][0]["path"] == path and data["image_size"]["delta"] == 0
    # one layer each side, with its command
    assert [layer["in"] for layer in data["image_size"]["layers"]] in (["a", "b"], ["b", "a"])
    assert all("touch -d" in layer["created_by"] for layer in data["image_size"]["layers"])


def test_bloat_chart(bloat_live):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from layerlab import plots

    daemon, built, inv = bloat_live
    fig, ax = plt.subplots()
    plots.bloat_categories(inv, bi.CATS, ax=ax)
    widths = sum(p.get_width() for p in ax.patches)
    assert widths == sum(_expected_cats().values())
    assert "apparent size" in ax.get_xlabel() and "(kB)" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_yticklabels()][0] == "apt-lists"
    plt.close(fig)


def test_notebook_bloat_section(bloat_live, tmp_path):
    from layerlab import reports

    daemon, built, inv = bloat_live
    out = reports.render(reports.notebooks_dir() / "02-layers-and-waste.ipynb", tmp_path / "02.html", keep_ipynb=False,
                         source=str(daemon.data_root), image=bi.CATS)
    page = out.read_text(encoding="utf-8")
    assert "Bloat: files the image shows but rarely needs" in page
    assert "apt-lists" in page and "rm -rf /var/lib/apt/lists/*" in page
    assert "/var/cache/apt/archives/tool_1.0_amd64.deb" in page


def test_diff_across_two_snapshots(bloat_live, tmp_path):
    """Two scans of one host: the old image in the first, the new one in the second."""
    daemon, built, inv = bloat_live
    root = str(daemon.data_root)
    first, second = tmp_path / "monday.layerlab", tmp_path / "tuesday.layerlab"
    for snap in (first, second):
        p = _cli("scan", root, "-o", str(snap), "-q")
        assert p.returncode == 0, p.stderr
    p = _cli("diff", str(first), bi.CERTS_V1, bi.CERTS_V2, "--against", str(second), "--json")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert (data["a"]["snapshot"], data["b"]["snapshot"]) == (str(first), str(second))
    assert data["ranked"][0]["path"] == bi.PKGCACHE[0]
    assert {r["path"]: r["paths"] for r in data["ranked"] if r["grouped"]} == {"/etc/ssl/certs": len(bi.CERTS)}
    text = _cli("diff", str(first), bi.CERTS_V1, bi.CERTS_V2, "--against", str(second)).stdout
    first_line = text.split("\nimage size:")[0].replace("\n  ", " ")  # wrapped to the width: unwrapped here
    assert first_line.endswith(f"in {second}")
