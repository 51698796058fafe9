"""What pyproject declares, the CI's minimums (.ci/constraints-min.txt) and environment.yml stay in
step, and the analyses keep None (not pandas 3's NaN) for missing text."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None

REPO = Path(__file__).resolve().parents[2]


def _bounds(specs) -> dict[str, str]:
    out = {}
    for spec in specs:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[a-z,]+\])?\s*>=\s*([0-9][0-9.]*)", spec.strip())  # extras allowed
        assert m, f"{spec!r}: declare each dependency as name>=minimum"
        out[m.group(1).lower()] = m.group(2)
    return out


def _pyproject() -> dict:
    if tomllib is None:
        pytest.skip("reading pyproject.toml needs Python 3.11's tomllib")
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _runtime() -> dict[str, str]:
    return _bounds(_pyproject()["project"]["dependencies"])


def test_constraints_pin_every_declared_minimum():
    pins = {}
    for line in (REPO / ".ci" / "constraints-min.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    runtime = _runtime()
    assert set(pins) == set(runtime)
    for name, minimum in runtime.items():  # 2.2 and 2.2.0 are the same release
        assert re.sub(r"(\.0)+$", "", pins[name]) == re.sub(r"(\.0)+$", "", minimum), name


def test_environment_yml_has_the_runtime_dependencies_and_jupyterlab():
    text = (REPO / "environment.yml").read_text()
    entries = dict(re.findall(r"^\s*-\s*([A-Za-z0-9_.-]+)\s*>=\s*([0-9][0-9.]*)\s*$", text, re.M))
    entries = {k.lower(): v for k, v in entries.items()}
    for name, minimum in _runtime().items():
        assert entries.get(name.lower()) == minimum, f"environment.yml: {name}>={minimum}"
    lab = _bounds(_pyproject()["project"]["optional-dependencies"]["lab"])
    for name, minimum in lab.items():
        assert entries.get(name) == minimum


def _text_nulls(df: pd.DataFrame) -> list[str]:
    """Columns holding text where a missing value is a float NaN (what pandas 3's str dtype makes of None)."""
    bad = []
    for col in df.columns:
        values = df[col].tolist()
        has_text = any(isinstance(v, str) for v in values)
        if has_text and any(isinstance(v, float) and math.isnan(v) for v in values):
            bad.append(col)
    return bad


def test_simulate_writes_keeps_none_for_the_created_step():
    from layerlab.analyses.drivers.cow_model import IMAGE, WORKLOADS, simulate_writes

    out = simulate_writes("sample", IMAGE, next(name for name, writes in WORKLOADS.items() if writes))
    first = out.iloc[0]
    assert first["step"] == 0 and first["op"] is None and first["path"] is None
    assert out["op"].iloc[1:].map(lambda v: isinstance(v, str)).all()
    assert _text_nulls(out) == []


@pytest.mark.parametrize("driver", ["overlay2", "containerd"])
def test_analyses_have_no_nan_for_missing_text(driver):
    import layerlab as ll
    from layerlab import analyses as A

    inv = ll.sample(driver)
    tags = dict(zip(inv.images["image_id"], inv.images["tags"].map(list)))
    app = next(i for i, t in tags.items() if "layerlab/app:1" in t)
    bloat = next(i for i, t in tags.items() if "layerlab/bloat:1" in t)
    frames = {
        "base_images": A.base_images(inv), "check": A.check(inv, app), "content_dedup": A.content_dedup(inv),
        "diff_layers": A.diff_layers(inv, bloat, app), "dive_analysis": A.dive_analysis(inv, app),
        "efficiency": A.efficiency(inv, all=True), "layer_dedup": A.layer_dedup(inv),
        "merged_view": A.merged_view(inv, app),
        "sharing": A.sharing(inv, all=True), "waste": A.waste(inv, bloat),
        **{f"copy_ups {c}": A.copy_ups(inv, c) for c in inv.containers["name"]},
    }
    assert {name: _text_nulls(df) for name, df in frames.items() if _text_nulls(df)} == {}
