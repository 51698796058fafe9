"""A FIFO (or a device) wherever a file is expected never makes layerlab wait or read for ever: it
is refused before a byte is read (``layerlab._files.open_file``, opened O_NONBLOCK and checked with
fstat), with one `layerlab: error:` line saying what it is. Each case runs the real CLI in a child
bounded by a timeout, so a hang fails the test instead of stalling the suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import layerlab as ll

TIMEOUT = 30


def _cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([sys.executable, "-m", "layerlab.cli", *args], capture_output=True, text=True,
                              timeout=TIMEOUT, env={**os.environ, **(env or {})}, cwd=cwd)
    except subprocess.TimeoutExpired:
        pytest.fail(f"layerlab {' '.join(args)} hung for {TIMEOUT} s")


def _refused(proc: subprocess.CompletedProcess, what: str = "a FIFO") -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-800:])
    assert proc.stderr.startswith("layerlab: error:") and "Traceback" not in proc.stderr, proc.stderr[-800:]
    assert what in proc.stderr, proc.stderr[-800:]


@pytest.fixture(scope="module")
def tag():
    return next(t[0] for t in ll.sample().images["tags"] if len(t))


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("form", ["{}", "docker-archive:{}", "oci-archive:{}"])
def test_a_fifo_as_the_source_is_refused(fifo, form):
    _refused(_cli("summary", form.format(fifo)))


def test_a_character_device_as_an_archive_is_refused():
    _refused(_cli("summary", "docker-archive:/dev/zero"), "a character device")


@pytest.mark.parametrize("command", ["check", "bloat"])
def test_a_fifo_as_rules_is_refused(fifo, tag, command):
    _refused(_cli(command, "sample", tag, "--rules", str(fifo)))


@pytest.mark.parametrize("device", ["fifo", "/dev/zero"])
def test_a_fifo_or_device_as_the_registry_config_is_refused(fifo, device):
    path = fifo if device == "fifo" else device
    _refused(_cli("registry", "storage", "--config", str(path)), "a FIFO" if device == "fifo" else "a character device")


def test_a_fifo_as_docker_config_json_is_refused(tmp_path):
    os.mkfifo(tmp_path / "config.json")
    # Nothing listens on port 9 of loopback: the config is read before any connection is tried.
    _refused(_cli("summary", "docker://127.0.0.1:9/x/y:1", env={"DOCKER_CONFIG": str(tmp_path)}))


def test_a_fifo_as_a_snapshot_meta_json_is_refused(tmp_path):
    snap = Path(ll.open_source("sample").save(tmp_path / "s.layerlab"))
    (snap / "meta.json").unlink()
    os.mkfifo(snap / "meta.json")
    proc = _cli("summary", str(snap))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-800:]


def test_a_fifo_as_a_snapshot_meta_json_in_a_fleet_is_refused(tmp_path):
    from layerlab.fleet.snapshots import inspect

    snap = Path(ll.open_source("sample").save(tmp_path / "s.layerlab"))
    (snap / "meta.json").unlink()
    os.mkfifo(snap / "meta.json")
    got = inspect(str(snap))
    assert "FIFO" in got["reason"]


def test_a_fifo_as_an_oci_index_json_is_refused(tmp_path):
    from harness.tiers import missing, require

    require(missing(programs=("umoci",)))
    lay = tmp_path / "layout"
    subprocess.run(["umoci", "init", "--layout", str(lay)], check=True, capture_output=True)
    subprocess.run(["umoci", "new", "--image", f"{lay}:t"], check=True, capture_output=True)
    (lay / "index.json").unlink()
    os.mkfifo(lay / "index.json")
    _refused(_cli("summary", f"oci:{lay}"))


def test_a_fifo_as_an_image_config_of_a_data_root_is_refused(root_copy):
    config = sorted((root_copy / "image/overlay2/imagedb/content/sha256").iterdir())[0]
    config.unlink()
    os.mkfifo(config)
    proc = _cli("summary", "--json", str(root_copy))
    assert proc.returncode in (0, 2) and "Traceback" not in proc.stderr, proc.stderr[-800:]
    assert "FIFO" in proc.stdout + proc.stderr
