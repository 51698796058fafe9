"""Live tier: bloat findings, the new check rules, honest totals and dangling images on images
built for the purpose with known bytes in every category (layerlab/testing/bloat_images.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict

import pytest

import layerlab as ll
from layerlab.analyses.bloat import bloat, bloat_files
from layerlab.testing import bloat_images as bi
from layerlab.testing.daemon import Daemon, dockerd_missing
from layerlab.testing.tiers import require

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
    return subprocess.run([sys.executable, "-m", "layerlab.cli", *args], capture_output=True, text=True, cwd=cwd)


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
    assert findings.set_index("category").loc["apt-cache", "examples"][0] == "/var/cache/apt/archives/tool_1.0_amd64.deb"


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
