"""The ``layerlab`` command ends without tearing Python down (``cli.run``): its exit codes and its
output must be exactly what ``main`` gives, whole, to a pipe or a file."""

from __future__ import annotations

import json
import subprocess
import sys


def _layerlab(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "layerlab.cli", *args], capture_output=True, text=True, timeout=300,
                          **kw)


def test_output_to_a_pipe_is_whole_and_the_exit_code_kept():
    done = _layerlab("summary", "--json", "sample")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)  # every byte reached the pipe before the process ended
    assert data["driver"] == "overlay2" and data["totals"]["images"] > 0


def test_an_error_keeps_exit_code_2_and_its_message():
    done = _layerlab("summary", "/nonexistent/root")
    assert done.returncode == 2
    assert done.stderr.startswith("layerlab: error: /nonexistent/root does not exist")


def test_a_snapshot_written_by_scan_is_complete(tmp_path):
    from harness.captures import unpack_capture
    from harness.tiers import require_root

    import layerlab as ll

    require_root("tar")
    root = unpack_capture("vfs", tmp_path / "root")
    out = tmp_path / "s.layerlab"
    done = _layerlab("scan", str(root), "--driver", "vfs", "-o", str(out), "-q")
    assert done.returncode == 0, done.stderr
    back = ll.load(out)  # every Parquet file and meta.json whole
    assert len(back.files) == len(ll.sample("vfs").files) > 0


def test_output_to_a_file_is_whole(tmp_path):
    target = tmp_path / "out.json"
    with open(target, "w") as f:
        done = subprocess.run([sys.executable, "-m", "layerlab.cli", "summary", "--json", "sample"], stdout=f,
                              stderr=subprocess.PIPE, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(target.read_text())["totals"]["images"] > 0
