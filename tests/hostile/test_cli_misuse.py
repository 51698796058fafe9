"""CLI misuse: exit 2 with a `layerlab: error:` line, never a traceback."""

from __future__ import annotations

import os

import pytest

import layerlab as ll
from layerlab.cli import main


@pytest.fixture(scope="module")
def tag():
    return next(t[0] for t in ll.sample().images["tags"] if len(t))


@pytest.fixture
def rules(tmp_path):
    (tmp_path / "binary").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "list").write_text("rules:\n  lowestEfficiency: [1, 2]\n")
    (tmp_path / "folder").mkdir()
    return tmp_path


@pytest.mark.parametrize("extra", [
    ["--rules", "{rules}/binary"], ["--rules", "{rules}/list"], ["--rules", "{rules}/folder"],
    ["--rules", "{rules}/missing"], ["--min-efficiency", "abc"], ["--max-wasted-bytes", "-5"],
])
def test_check_misuse_exits_2(tag, rules, capsys, extra):
    args = ["check", "sample", tag] + [a.format(rules=rules) for a in extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("layerlab: error:") and "Traceback" not in err


@pytest.mark.parametrize("args", [["summary", "/dev/zero"], ["summary", "/proc/self/status"],
                                  ["diff", "sample", "no-such:1", "no-such:2"]])
def test_other_misuse_exits_2(capsys, args):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("layerlab: error:") and "Traceback" not in err
    assert os.path.exists("/dev/zero")
