"""Helpers the registry tests import (a plain module: test files must not import conftest)."""

from __future__ import annotations

import json
import subprocess


def skopeo_json(*args: str) -> dict:
    out = subprocess.run(["skopeo", "inspect", *args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)
