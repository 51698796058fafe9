"""layerlab deletes or overwrites only what it can prove it wrote: cache blobs named by their digest
(and the temp files of its own killed downloads), snapshots checked by content, report pages and
notebooks it made; never through a symbolic link, never a user's file of the same name without
--force, never in ``/`` or an unnamed (empty) folder."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import layerlab as ll
from layerlab.errors import OutputError

HEX = hashlib.sha256(b"a blob").hexdigest()


def _cli(*args: str, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "layerlab.cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def _exit2(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-400:], proc.stderr[-800:])
    assert proc.stderr.startswith("layerlab: error:") and "Traceback" not in proc.stderr, proc.stderr[-800:]


# -- cache clear -----------------------------------------------------------------------------------

def test_cache_clear_removes_only_blobs_named_by_their_digest(tmp_path):
    cache = tmp_path / "X"
    (cache / "Documents").mkdir(parents=True)
    (cache / "Documents" / "thesis.tex").write_text("years of work")
    (cache / "sha256").mkdir()
    (cache / "sha256" / HEX).write_bytes(b"a blob")
    (cache / "sha256" / "notes.txt").write_text("mine")
    (cache / "sha256" / (HEX + ".bak")).write_text("mine too")
    (cache / "sha256" / HEX[:40]).write_text("too short for a sha256")
    (cache / "sha256" / ("ab" * 32 + "x")).mkdir()
    proc = _cli("cache", "clear", "--dir", str(cache))
    assert proc.returncode == 0, proc.stderr
    assert "removed 1 layer blob" in proc.stdout
    assert not (cache / "sha256" / HEX).exists()
    left = sorted(str(p.relative_to(cache)) for p in cache.rglob("*"))
    assert left == sorted(["Documents", "Documents/thesis.tex", "sha256", "sha256/notes.txt", f"sha256/{HEX}.bak",
                           f"sha256/{HEX[:40]}", "sha256/" + "ab" * 32 + "x"])


def test_cache_clear_never_follows_a_symlinked_subfolder(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / HEX).write_bytes(b"someone else's file named like a digest")
    cache = tmp_path / "X"
    cache.mkdir()
    (cache / "sha256").symlink_to(elsewhere)
    proc = _cli("cache", "clear", "--dir", str(cache))
    assert proc.returncode == 0 and "removed 0 layer blob" in proc.stdout, proc.stdout + proc.stderr
    assert (elsewhere / HEX).read_bytes().startswith(b"someone else's")


def _blobs(n: int) -> str:
    return f"{n:,} layer blob" + ("" if n == 1 else "s")


def test_a_killed_download_leaves_temp_files_the_cache_counts_and_clears(tmp_path):
    """A real docker:// read killed (SIGKILL) mid-blob: its temp file is counted by `cache info`
    and removed by `cache clear`, while a live download's temp file is left alone."""
    from harness.scripted import Scripted
    from test_network_deadlines import _image, _registry_dripping_its_blob

    manifest, config, blob = _image()
    cache = tmp_path / "cache" / "layerlab" / "layers"
    with Scripted("127.0.0.1") as server:
        _registry_dripping_its_blob(server, manifest, config, blob)
        child = subprocess.Popen([sys.executable, "-m", "layerlab.cli", "summary", f"docker://{server.host}/app:1"],
                                 env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while not list(cache.glob("sha256/.*")) and time.monotonic() < deadline:
                time.sleep(0.2)
            temps = list(cache.glob("sha256/.*"))
            assert temps, "the download never started its temp file"
            info = _cli("cache", "info", "--dir", str(cache))
            assert " 0 layer blobs," in info.stdout, info.stdout  # a live download is not counted
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
    assert [p.exists() for p in temps] == [True] * len(temps)  # what a killed read leaves behind
    info = _cli("cache", "info", "--dir", str(cache))
    assert f" {_blobs(len(temps))}," in info.stdout, info.stdout
    clear = _cli("cache", "clear", "--dir", str(cache))
    assert f"removed {_blobs(len(temps))}," in clear.stdout, clear.stdout
    assert not any(p.exists() for p in temps)


def test_the_cache_bound_counts_stale_temp_files(tmp_path):
    from layerlab.sources.registry.image import LayerCache

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "sha256").mkdir()
    stale = tmp_path / "sha256" / f".{HEX}.{dead.pid}.1"
    stale.write_bytes(b"x" * 1000)
    cache = LayerCache(tmp_path, max_bytes=100)
    assert cache.usage() == (1, 1000)
    cache.prune()
    assert not stale.exists()


# -- scan -o ---------------------------------------------------------------------------------------

def _snapshot_lookalike(path: Path) -> Path:
    path.mkdir()
    (path / "meta.json").write_text(json.dumps({"format_version": 3}))
    return path


def test_scan_o_keeps_a_folder_whose_files_parquet_is_a_directory(tmp_path):
    trap = _snapshot_lookalike(tmp_path / "trap.layerlab")
    (trap / "files.parquet").mkdir()
    (trap / "files.parquet" / "thesis.tex").write_text("years of work")
    _exit2(_cli("scan", "sample", "-o", str(trap)))
    assert (trap / "files.parquet" / "thesis.tex").read_text() == "years of work"


@pytest.mark.parametrize("damage", ["not parquet", "a symlink", "meta without a number", "meta not json"])
def test_scan_o_proves_a_snapshot_by_content_not_names(tmp_path, damage):
    trap = _snapshot_lookalike(tmp_path / "trap.layerlab")
    if damage == "not parquet":
        (trap / "images.parquet").write_text("my notes, named oddly")
    elif damage == "a symlink":
        (tmp_path / "mine.txt").write_text("mine")
        (trap / "images.parquet").symlink_to(tmp_path / "mine.txt")
    elif damage == "meta without a number":
        (trap / "meta.json").write_text(json.dumps({"format_version": "3"}))
    else:
        (trap / "meta.json").write_text("format_version")
    before = sorted((p.name, p.is_symlink()) for p in trap.iterdir())
    with pytest.raises(OutputError, match="not a layerlab snapshot"):
        ll.open_source("sample").save(trap)
    assert sorted((p.name, p.is_symlink()) for p in trap.iterdir()) == before
    if damage == "a symlink":
        assert (tmp_path / "mine.txt").read_text() == "mine"


def test_scan_o_replaces_a_snapshot_it_wrote(tmp_path):
    inv = ll.open_source("sample")
    path = Path(inv.save(tmp_path / "host.layerlab"))
    first = (path / "meta.json").stat().st_mtime_ns
    time.sleep(0.01)
    inv.save(path)
    assert (path / "meta.json").stat().st_mtime_ns != first


# -- report -o and notebooks ---------------------------------------------------------------------

def test_report_keeps_a_users_own_index_html(tmp_path):
    out = tmp_path / "site"
    out.mkdir()
    (out / "index.html").write_text("<html>my home page</html>")
    proc = _cli("report", "sample", "-o", str(out))
    _exit2(proc)
    assert "--force" in proc.stderr
    assert (out / "index.html").read_text() == "<html>my home page</html>"


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_report_never_writes_through_a_symlink(tmp_path, force):
    outside = tmp_path / "outside.html"
    outside.write_text("not yours")
    out = tmp_path / "site"
    out.mkdir()
    (out / "index.html").symlink_to(outside)
    proc = _cli("report", "sample", "-o", str(out), *force)
    _exit2(proc)
    assert "symbolic link" in proc.stderr
    assert outside.read_text() == "not yours"


@pytest.mark.parametrize("where", ["/", ""])
def test_report_and_notebooks_refuse_the_root_and_an_empty_path(tmp_path, where):
    before = set(os.listdir("/"))
    for args in (["report", "sample", "-o", where], ["notebooks", where], ["notebooks", where, "--force"]):
        _exit2(_cli(*args, cwd=tmp_path))
    assert set(os.listdir("/")) == before
    assert not list(tmp_path.iterdir())  # nothing written into the current folder either


def test_notebooks_force_never_writes_through_a_symlink(tmp_path):
    from layerlab.reports.params import notebooks

    outside = tmp_path / "outside.txt"
    outside.write_text("not yours")
    target = tmp_path / "nbs"
    target.mkdir()
    first = notebooks()[0].name
    (target / first).symlink_to(outside)
    _exit2(_cli("notebooks", str(target), "--force"))
    assert outside.read_text() == "not yours"
    assert [p.name for p in target.iterdir()] == [first]  # nothing copied beside it either


def test_notebooks_force_overwrites_regular_files(tmp_path):
    from layerlab.reports.params import notebooks

    target = tmp_path / "nbs"
    target.mkdir()
    first = notebooks()[0]
    (target / first.name).write_text("edited")
    _exit2(_cli("notebooks", str(target)))  # without --force: kept
    assert (target / first.name).read_text() == "edited"
    proc = _cli("notebooks", str(target), "--force")
    assert proc.returncode == 0, proc.stderr
    assert (target / first.name).read_bytes() == first.read_bytes()


def test_pages_a_report_wrote_are_its_own_and_a_users_are_not(tmp_path):
    """The content check that lets a report be made again into its folder: real pages (nbconvert's
    HTML of a notebook, the index, the executed notebook) pass, a user's files of those names not."""
    import nbformat

    from layerlab.frames.output import prepare_dir
    from layerlab.reports.index import write_index
    from layerlab.reports.page import made_by_layerlab, to_html, write_notebook

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A page")])
    out = tmp_path / "site"
    out.mkdir()
    to_html(nb, out / "01-tour.html")
    write_notebook(nb, out / "01-tour.ipynb")
    write_index(out, about_block="<p>x</p>", entries=[])
    names = ["index.html", "01-tour.html", "01-tour.ipynb"]
    assert all(made_by_layerlab(out / n) for n in names)
    prepare_dir(out, names=names, owned=made_by_layerlab)  # no error: all its own
    (out / "01-tour.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4}))
    with pytest.raises(OutputError, match="01-tour.ipynb"):
        prepare_dir(out, names=names, owned=made_by_layerlab)
