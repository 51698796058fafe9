"""Offline tier: the commands speak as one tool (issue 27), on the bundled samples (every store kind they hold):
the same counts in text and --json and across commands, text that fits the width it is given,
control characters escaped, warnings once per kind, clear errors for bad arguments."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings

import pytest

import layerlab as ll
from layerlab.cli.output import path_cut, report_warnings, safe

SAMPLES = ["sample", "sample:vfs", "sample:containerd"]


def cli(*args, columns: int = 100, env=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": str(columns), **(env or {})}
    return subprocess.run([sys.executable, "-m", "layerlab.cli", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def ok(*args, **kw) -> subprocess.CompletedProcess:
    out = cli(*args, **kw)
    assert out.returncode in (0, 1), (args, out.stderr)
    assert "Traceback" not in out.stderr and "Warning:" not in out.stderr, out.stderr
    return out


@pytest.mark.parametrize("source", SAMPLES)
def test_summary_and_scan_count_images_and_layers_alike(source, tmp_path):
    data = json.loads(ok("summary", source, "--json").stdout)
    text = ok("summary", source).stdout
    t = data["totals"]
    images = "image" if t["images"] == 1 else "images"
    assert f"\n{t['images']:,} {images}, {t['layers']:,} distinct layers:" in text
    assert f"layer dedup {t['dedup_ratio']:.2f}x" in text.replace("\n  ", " ")
    assert len(data["images"]) == t["images"]
    scanned = ok("scan", source, "-o", str(tmp_path / "again.layerlab"), "-q").stdout.replace("\n  ", " ")
    assert f": {t['images']:,} {images} ({t['tagged_images']:,} tagged), {t['layers']:,} distinct layers" in scanned
    again = json.loads(ok("summary", str(tmp_path / "again.layerlab"), "--json").stdout)
    assert again["totals"] == t


@pytest.mark.parametrize("source", SAMPLES)
def test_check_bloat_and_diff_agree_with_their_json(source):
    inv = ll.sample(source.partition(":")[2] or "overlay2")
    tagged = sorted(t for tags in inv.listed["tags"] for t in tags if t.startswith("layerlab/") and "multi" not in t)
    a, b = tagged[0], tagged[-1]
    check = json.loads(ok("check", source, b, "--json").stdout)
    text = ok("check", source, b).stdout
    assert ("PASS" in text) == check["pass"]
    assert f"({check['image_id'][7:19]})" in text
    bloat = json.loads(ok("bloat", source, b, "--json").stdout)
    assert ll.display.human_bytes(sum(f["bytes"] for f in bloat["findings"])) in ok("bloat", source, b).stdout
    diff = json.loads(ok("diff", source, a, b, "--json").stdout)
    text = ok("diff", source, a, b).stdout
    for status in ("added", "removed", "changed"):
        n = diff["totals"][status]["paths"]
        assert re.search(rf"^  {status} +{n:,} paths", text, re.M), (status, text)
    shared = len(diff["shared_layers"])
    assert f"layers: {shared} shared layer" in text


@pytest.mark.parametrize("columns", [60, 80, 100, 132])
def test_text_fits_the_width_it_is_given(columns):
    for args in (("summary", "sample"), ("check", "sample", "layerlab/tree:1"), ("bloat", "sample", "layerlab/app:1"),
                 ("diff", "sample", "layerlab/tree:1", "layerlab/app:1"), ("summary", "sample:containerd")):
        out = ok(*args, columns=columns)
        for line in (out.stdout + out.stderr).splitlines():
            assert len(line) <= columns, (args, columns, line)


def test_piped_text_fits_100_columns_and_draws_no_progress_bar():
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    out = subprocess.run([sys.executable, "-m", "layerlab.cli", "summary", "sample"], capture_output=True, text=True,
                         env=env, timeout=600)
    assert out.returncode == 0
    assert max(len(line) for line in out.stdout.splitlines()) <= 100
    assert "\r" not in out.stderr and "it/s" not in out.stderr


def test_control_characters_from_input_are_escaped(tmp_path):
    """A tag and a container name carrying an ESC sequence (a hostile store) print as escapes."""
    inv = ll.sample()
    hostile = "evil\x1b]0;pwned\x07/app:1"
    images = inv.images.copy()
    first = images.index[images["tags"].map(len) > 0][0]
    images.at[first, "tags"] = [hostile]
    inv._frames["images"] = images
    containers = inv.containers.copy()
    containers.loc[containers.index[0], "name"] = "ctr\x1b[2J"
    inv._frames["containers"] = containers
    snap = inv.save(tmp_path / "hostile.layerlab")
    for args in (("summary", snap), ("summary", snap, "--sort", "name")):
        out = ok(*args).stdout
        assert "\x1b" not in out and "\x07" not in out
        assert "\\x1b" in out
    assert safe("a\x1b[31mb\x9bc\x7f") == "a\\x1b[31mb\\x9bc\\x7f"


def test_paths_are_cut_in_the_middle_keeping_their_file_name():
    cut = path_cut("/usr/lib/python3/dist-packages/some/very/deep/package/module_name.py", 40)
    assert len(cut) == 40 and cut.endswith("/module_name.py") and "…" in cut
    assert path_cut("/short", 40) == "/short"


def test_warnings_once_per_kind_all_with_verbose_none_with_quiet(capsys):
    from layerlab.sources._reader import Skipped

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        skipped = Skipped()
        for n in range(30):
            skipped.add("layer", f"sha256:{n:064x}", f"/root/layers/{n}", "its directory vanished")
        skipped.add("image", "sha256:" + "f" * 64, "/root/img", "a layer could not be read", names=["app:1"])
    assert len(caught) == 31
    report_warnings(caught, out=sys.stdout)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("warning: 30 layers skipped: its directory vanished; --verbose lists each")
    assert any(line.startswith("warning: 1 image skipped: a layer could not be read") for line in lines)
    assert not any("UserWarning" in line or "_reader.py" in line for line in lines)
    report_warnings(caught, out=sys.stdout, verbose=True)
    assert capsys.readouterr().out.count("warning: skipped layer ") == 30
    report_warnings(caught, out=sys.stdout, quiet=True)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("args, says", [
    (("summary", "ftp://example.com/x"), "does not read ftp:// sources"),
    (("summary", "--top", "0"), "1 or more"),
    (("registry", "storage"), "neither a storage root nor --config"),
    (("diff", "sample"), "holds 6 images; name one"),
    (("check", "sample"), "holds 6 images; name one"),
])
def test_bad_arguments_get_a_message_not_a_traceback(args, says):
    out = cli(*args)
    assert out.returncode == 2, out
    assert says in out.stderr.replace("\n", " ") and "Traceback" not in out.stderr, out.stderr


def test_help_texts_read_right():
    for command in ("summary", "scan", "report", "diff", "check", "bloat"):
        text = re.sub(r"\s+", " ", cli(command, "--help", columns=200).stdout).replace("- ", "-")  # argparse wraps
        assert "%%" not in text and "an image an image" not in text
        for form in ("docker-archive:PATH", "oci:DIR[:REF]", "oci-archive:PATH[:REF]", "docker://REF",
                     "containers-storage:[REF]", "'sample'", ".layerlab snapshot"):
            assert form in text, (command, form)
        if command != "notebooks":
            assert "--insecure" in text, command


def test_every_cli_module_imports():
    import importlib
    import pkgutil

    import layerlab.cli as cli_package

    for module in pkgutil.iter_modules(cli_package.__path__):
        if module.name != "__main__":
            importlib.import_module(f"layerlab.cli.{module.name}")
    for name in cli_package.COMMANDS:
        assert hasattr(importlib.import_module(f"layerlab.cli.{name}"), "add_parser")


def test_one_plain_http_rule_for_every_registry_access(monkeypatch):
    import argparse

    from layerlab.cli.arguments import allow_insecure
    from layerlab.sources.registry import RegistryClient
    from layerlab.sources.registry.client import INSECURE_ENV

    monkeypatch.setenv(INSECURE_ENV, "")  # restored after the test: allow_insecure sets it below
    with RegistryClient(docker_config=False, cache_dir=False) as client:
        assert client.plain_http_allowed("127.0.0.1:5000") and client.plain_http_allowed("localhost:5000")
        assert not client.plain_http_allowed("registry.internal:5000")
    allow_insecure(argparse.Namespace(insecure=["registry.internal:5000"]))  # what --insecure does
    assert os.environ[INSECURE_ENV] == "registry.internal:5000"
    with RegistryClient(docker_config=False, cache_dir=False) as client:  # any client of the process
        assert client.plain_http_allowed("registry.internal:5000")
        assert not client.plain_http_allowed("other.internal:5000")
