"""Every public function given an argument of the wrong type: an ArgumentError (a LayerlabError and
a TypeError) raised by layerlab's own check, naming the function and the parameter, never a
traceback from deep inside.

Each parameter of each function in ``layerlab.__all__``, ``layerlab.analyses.__all__``,
``layerlab.plots.__all__`` and ``layerlab.widgets.__all__`` is given, in turn, values no parameter
takes (an object of no meaning, a complex number), the others being valid; the check runs before
the function does anything.
"""

from __future__ import annotations

import inspect
import os

import pandas as pd
import pytest

import layerlab as ll
from layerlab import analyses, plots, tables, widgets
from layerlab.errors import ArgumentError


class _Meaningless:
    def __repr__(self):
        return "<meaningless>"


WRONG = [_Meaningless(), 3 + 4j]
#: layerlab.tables' functions of an Inventory or a frame (the registry ones take results of their own kinds).
TABLES = ["base_table", "bloat_table", "bytes_columns", "containers_table", "copy_ups_table", "diff_table",
          "distribution_table", "efficiency_table", "frame_overview", "images_table", "layers_table",
          "markers_table", "model_table", "readable", "table_html", "waste_table", "registry_summary",
          "audit_summary", "measured_layers_table", "store_images_table", "btrfs_du_table"]


def _valid(inv) -> dict:
    """A valid value for each required parameter, by name (the checks are all that runs)."""
    tag = inv.tagged["tags"].iloc[0][0] if "tags" in inv.tagged.columns else inv.images["image_id"].iloc[0]
    return {"source": inv, "inv": inv, "image": tag, "a": tag, "b": tag, "writes": "noop", "kind": "files",
            "path": "/nonexistent", "value": "1MB", "root": "sample", "out": "/nonexistent/x.layerlab",
            "paths": "/nonexistent", "blobs": pd.DataFrame({"digest": [], "size": []}), "sources": {"sample": inv},
            "df": pd.DataFrame(), "findings": pd.DataFrame(), "ups": pd.DataFrame(),
            "diff": pd.DataFrame(), "comparison": pd.DataFrame(), "waste": pd.DataFrame(),
            "measurements": pd.DataFrame(), "sizes": pd.DataFrame(), "du": pd.DataFrame(),
            "source_or_ref": "localhost:5000/app:1", "repository": "localhost:5000/app",
            "frames": None, "audit": None}  # the last two: only ever the parameter under test


def _public():
    """(name, callable, signature) of every public function and widget."""
    out = []
    for name in ll.__all__:
        obj = getattr(ll, name)
        if name == "fleet":
            from layerlab.fleet.core import fleet

            out.append(("fleet", obj, inspect.signature(fleet)))
        elif callable(obj) and not isinstance(obj, type):
            out.append((name, obj, inspect.signature(obj)))
    for name in analyses.__all__:
        out.append((f"analyses.{name}", getattr(analyses, name), inspect.signature(getattr(analyses, name))))
    for name in plots.__all__:
        out.append((f"plots.{name}", getattr(plots, name), inspect.signature(getattr(plots, name))))
    for name in TABLES:
        out.append((f"tables.{name}", getattr(tables, name), inspect.signature(getattr(tables, name))))
    for name in widgets.__all__:
        obj = getattr(widgets, name)  # a widget class, or a function that builds one
        out.append((f"widgets.{name}", obj, inspect.signature(obj.__init__ if isinstance(obj, type) else obj)))
    return out


CASES = [(name, param) for name, _, sig in _public() for param, p in sig.parameters.items()
         if param != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


@pytest.fixture(scope="module")
def inv():
    return ll.sample()


def _assert_own_check(error: BaseException, name: str, param: str):
    assert isinstance(error, ll.LayerlabError) and isinstance(error, TypeError), repr(error)
    assert f" {param} must be " in str(error), f"{name}: the message does not name {param!r}: {error}"
    tb = error.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    where = tb.tb_frame.f_code.co_filename
    assert where.endswith(os.path.join("layerlab", "errors.py")), f"{name}({param}=...) raised from {where}"


@pytest.mark.parametrize("name,param", CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_a_wrong_type_is_refused_by_name(inv, name, param):
    fn, sig = next((f, s) for n, f, s in _public() if n == name)
    valid = _valid(inv)
    required = {p: valid[p] for p, spec in sig.parameters.items()
                if p != "self" and spec.default is inspect.Parameter.empty
                and spec.kind not in (spec.VAR_KEYWORD, spec.VAR_POSITIONAL)}
    for wrong in WRONG:
        with pytest.raises(ArgumentError) as caught:
            fn(**{**required, param: wrong})
        _assert_own_check(caught.value, name, param)


def test_every_public_function_is_covered():
    """So a new public function (or parameter) gets its check, or this suite says so."""
    assert len(CASES) >= 80
    names = {n for n, _ in CASES}
    assert {f"analyses.{n}" for n in analyses.__all__} <= names
    assert {f"widgets.{n}" for n in widgets.__all__} <= names
    assert {f"plots.{n}" for n in plots.__all__} <= names


def test_the_cases_the_issue_names(inv):
    with pytest.raises(ArgumentError, match=r"open_source\(\): source must be"):
        ll.open_source(123)
    with pytest.raises(ArgumentError, match=r"waste\(\): image must be an image tag"):
        analyses.waste(inv, image=5)
    with pytest.raises(ArgumentError, match=r"LayerExplorer.__init__\(\): inv must be an Inventory"):
        widgets.LayerExplorer(inv.files)
    with pytest.raises(ArgumentError, match=r"efficiency\(\): source must be"):
        analyses.efficiency(inv.files)
    with pytest.raises(ArgumentError, match=r"efficiency\(\): images must be"):
        analyses.efficiency(inv, images=[1, 2])
    # a string is a valid source: one that names nothing is a clear error naming it
    with pytest.raises(ll.NotADataRoot, match="not an inventory"):
        analyses.efficiency("not an inventory")
    # valid values still work
    assert isinstance(analyses.efficiency(inv, images=list(inv.tagged["image_id"][:1])), pd.DataFrame)


def test_audits_compared_are_audits():
    with pytest.raises(ArgumentError, match=r"audit_comparison\(\): s3 must be a storage audit"):
        tables.audit_comparison(filesystem=None, s3="s3://bucket/registry")


@pytest.mark.parametrize("method, args", [
    ("inspect", {"ref": "localhost:5000/app:1", "platform": None}),
    ("get_manifest", {"ref": "localhost:5000/app:1"}),
    ("tags", {"repository": "localhost:5000/app", "page_size": None}),
    ("catalog", {"host": "localhost:5000", "page_size": None}),
    ("ping", {"host": "localhost:5000"}),
])
def test_the_registry_clients_methods_check_their_arguments_before_any_request(method, args):
    from layerlab.sources.registry.client import RegistryClient

    with RegistryClient(docker_config=False, cache_dir=False) as client:
        for name in args:
            for bad in WRONG:
                with pytest.raises(ArgumentError, match=rf"RegistryClient\.{method}\(\): {name} must be"):
                    getattr(client, method)(**{**args, name: bad})


def test_a_storage_audit_checks_its_arguments_before_reading(tmp_path):
    from layerlab.sources.registry import audit_storage

    for name in ("root", "config", "progress"):
        for bad in WRONG:
            with pytest.raises(ArgumentError, match=rf"audit_storage\(\): {name} must be"):
                audit_storage(**{"root": str(tmp_path), name: bad})
    with pytest.raises(ArgumentError, match=r"audit_storage\(\): needs a root"):
        audit_storage()
    # a valid root that is no registry's storage still reaches the reading, and says so
    with pytest.raises(ll.NotADataRoot):
        audit_storage(tmp_path)
