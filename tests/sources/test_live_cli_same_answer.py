"""Live tier: the command line gives one answer for one pair of images wherever they are read from:
a data root, their `docker save` archive, an OCI layout skopeo made of them, and a registry they
were pushed to (issue 27). The pair differs in one file of equal size, so only a content comparison
sees it; each command's shared figures agree between --json and text."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness.archives import daemon_to_layout
from harness.tiers import missing, require

pytestmark = pytest.mark.live


def cli(*args, columns: int = 100) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run([sys.executable, "-m", "layerlab.cli", *args], capture_output=True, text=True, env=env,
                          timeout=600)


@pytest.fixture(scope="module")
def zapps(overlay2_daemon, sample_registry, tmp_path_factory):
    """Two images on the sample's base, /app "hello" and "world" (5 bytes each), everywhere."""
    daemon, built = overlay2_daemon
    require(missing(programs=("skopeo",)))
    work = tmp_path_factory.mktemp("zapps")
    local, remote = [], []
    for n, text in ((1, "hello"), (2, "world")):
        ctx = work / f"ctx{n}"
        ctx.mkdir()
        (ctx / "app").write_text(text)
        (ctx / "Dockerfile").write_text(f"FROM {built['roles']['base']}\nCOPY app /app\n")
        ref = f"layerlab/zapp{n}:1"
        daemon.docker("build", "--network", "none", "-q", "-t", ref, str(ctx), timeout=600)
        pushed = f"{sample_registry.host}/voice/zapp{n}:1"
        daemon.docker("tag", ref, pushed)
        daemon.docker("push", "-q", pushed, timeout=600)
        local.append(ref)
        remote.append(pushed)
    archive = work / "zapps.tar"
    daemon.docker("save", "-o", str(archive), *local)
    layout = daemon_to_layout(daemon, local, work / "layout")
    sources = {
        "data root": [str(daemon.data_root), *local],
        "archive": [f"docker-archive:{archive}", *local],
        "bare archive": [str(archive), *local],
        "layout": [f"oci:{layout}", *local],
        "registry": [f"docker://{remote[0]}", "--against", f"docker://{remote[1]}"],
    }
    yield sources
    # the session's daemon and registry are shared: leave the daemon's image list as it was
    daemon.docker("rmi", *local, *remote)


def _changed(data: dict) -> dict:
    return {p["path"]: (p["status"], p["content_changed"], p["size_delta"]) for p in data["paths"]
            if p["status"] != "unchanged"}


def test_diff_sees_the_same_content_change_on_every_source(zapps):
    answers = {}
    for kind, args in zapps.items():
        out = cli("diff", *args, "--json")
        assert out.returncode == 0, (kind, out.stderr)
        assert "UserWarning" not in out.stderr and "None store" not in out.stderr, (kind, out.stderr)
        data = json.loads(out.stdout)
        answers[kind] = (_changed(data), data["totals"], data["size_delta"])
        assert data["totals"]["changed"]["paths"] >= 1, (kind, data["totals"])
        assert _changed(data)["/app"] == ("changed", True, 0), kind
        text = cli("diff", *args)
        assert text.returncode == 0, (kind, text.stderr)
        # the text says what the JSON says
        changed = data["totals"]["changed"]["paths"]
        assert any(line.split()[:2] == ["changed", f"{changed:,}"] for line in text.stdout.splitlines()), text.stdout
        assert "/app" in text.stdout
    first = answers.pop("data root")
    for kind, answer in answers.items():
        assert answer == first, kind


def test_one_image_sources_need_no_image_name(zapps):
    image = zapps["registry"][0]
    for command in ("bloat", "check"):
        out = cli(command, image, "--json")
        assert out.returncode in (0, 1), (command, out.stderr)
        json.loads(out.stdout)
    inspect = cli("registry", "inspect", image, "--json")  # docker:// taken as summary takes it
    assert inspect.returncode == 0, inspect.stderr
    assert json.loads(inspect.stdout)["reference"].endswith("voice/zapp1:1")


def test_summary_and_report_take_a_registry_image(zapps, tmp_path):
    image = zapps["registry"][0]
    data = json.loads(cli("summary", image, "--json").stdout)
    assert data["totals"]["images"] == 1 and data["image_store"] == "registry"
    text = cli("summary", image).stdout
    assert "dangling" not in text and "CONTAINER" not in text  # a registry has neither: no line for them
    out = cli("report", image, "-o", str(tmp_path / "report"), "-j", "2")
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "report" / "index.html").exists()


def _summary_sources(zapps):
    """(kind, source, name of zapp2 there) for summary, check and bloat."""
    local = zapps["data root"][2]
    remote = zapps["registry"][2].removeprefix("docker://")
    return [("data root", zapps["data root"][0], local), ("archive", zapps["archive"][0], local),
            ("layout", zapps["layout"][0], local), ("registry", zapps["registry"][2], remote)]


def test_every_command_gives_one_figure_per_image_on_every_source(zapps):
    figures, ids = {}, {}
    for kind, source, name in _summary_sources(zapps):
        data = json.loads(cli("summary", source, "--json").stdout)
        text = cli("summary", source).stdout
        t = data["totals"]
        assert f"{t['images']:,} image" in text and f"{t['layers']:,} distinct layer" in text, (kind, text)
        (image,) = [im for im in data["images"] if name in im["tags"]]
        check = json.loads(cli("check", source, name, "--json").stdout)
        check_text = cli("check", source, name).stdout
        assert ("PASS" in check_text.splitlines()[-1]) == check["pass"], kind
        bloat = json.loads(cli("bloat", source, name, "--json").stdout)
        assert bloat["image_id"] == image["image_id"] == check["image_id"], kind
        ids[kind] = image["image_id"]
        figures[kind] = ({k: image[k] for k in ("size", "layer_count", "reclaimable_bytes", "dive_wasted_bytes",
                                                  "dive_efficiency")},
                         [(r["rule"], r["status"]) for r in check["rules"]], bloat["total_bytes"])
    # docker save and docker push keep the config (the image ID); skopeo's OCI layout rewrites it as
    # an OCI config, so there only the figures are compared
    assert ids["archive"] == ids["registry"] == ids["data root"]
    first = figures.pop("data root")
    for kind, answer in figures.items():
        assert answer == first, kind
