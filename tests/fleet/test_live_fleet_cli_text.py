"""Live tier: `layerlab fleet` text speaks as the other commands do (issue 27): a file stored in several layers
of one host's images is one row, lines fit the width, counts agree with --json."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.live


def _cli(*args):
    env = {**os.environ, "COLUMNS": "100"}
    out = subprocess.run([sys.executable, "-m", "layerlab.cli", "fleet", *args], capture_output=True, text=True,
                         timeout=300, env=env)
    assert out.returncode in (0, 1), out.stderr
    return out


def test_fleet_find_prints_each_file_once_per_host(fleet_dir):
    hosts = str(fleet_dir / "hosts")
    data = json.loads(_cli("find", hosts, "--path", "/data/big.bin", "--json").stdout)
    per_layer = len(data["matches"])
    text = _cli("find", hosts, "--path", "/data/big.bin").stdout.splitlines()
    rows = [line for line in text[1:] if line and not line.startswith(tuple("0123456789"))]
    assert len(rows) == len(set(rows)), rows  # no row printed twice
    assert len(rows) < per_layer  # the file is in several layers of one host's images
    assert {r.split()[0] for r in rows} == set(data["hosts"])
    assert text[-1].startswith(f"{len(data['hosts'])} of ")
    assert all(len(line) <= 100 for line in text)


def test_fleet_summary_text_fits_and_counts_as_json(fleet_dir):
    hosts = str(fleet_dir / "hosts")
    data = json.loads(_cli("summary", hosts, "--json").stdout)
    text = _cli("summary", hosts).stdout
    assert all(len(line) <= 100 for line in text.splitlines())
    flat = text.replace("\n  ", " ")
    assert f"{data['hosts']:,} hosts, {data['images']:,} distinct images" in flat
