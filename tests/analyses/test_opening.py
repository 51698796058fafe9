"""Offline tier: a public analysis opens its source once, and says in one text what a source may be."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import layerlab as ll
from layerlab import analyses
from layerlab._docstrings import PIECES
from layerlab.analyses import opening
from layerlab.analyses.summary import summary_dict


def _public_analyses():
    """Every public function of layerlab.analyses whose first parameter is ``source``."""
    for info in pkgutil.walk_packages(analyses.__path__, "layerlab.analyses."):
        module = importlib.import_module(info.name)
        for name, fn in vars(module).items():
            if (inspect.isfunction(fn) and not name.startswith("_") and fn.__module__ == module.__name__
                    and list(inspect.signature(fn).parameters)[:1] == ["source"]):
                yield f"{info.name}.{name}", fn


PUBLIC = dict(_public_analyses())


def test_the_public_analyses_are_found():
    assert {"layerlab.analyses.dive.waste.efficiency", "layerlab.analyses.dive.totals.dangling",
            "layerlab.analyses.dedup.base.base_images"} <= set(PUBLIC)


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_each_takes_a_source_through_analysis_and_describes_it_once(name):
    fn = PUBLIC[name]
    # @analysis: the arguments' check (errors.expects) around the opening around the function
    assert getattr(fn, "__wrapped__", fn).__code__.co_name == "opening", f"{name} is not decorated with @analysis"
    assert "{source}" not in (fn.__doc__ or "")
    if "Parameters\n" in (fn.__doc__ or ""):
        assert PIECES["source"] in fn.__doc__, f"{name} documents source in its own words"


@pytest.fixture
def opened(monkeypatch):
    """How many times the analyses open a source (the real open_source, counted)."""
    calls = []
    real = opening.open_source

    def counting(source, *args, **kwargs):
        calls.append(source)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(opening, "open_source", counting)
    return calls


def test_a_source_is_opened_once_and_an_inventory_never(opened):
    eff = analyses.efficiency("sample")  # efficiency asks base_images with the Inventory it opened
    assert opened == ["sample"] and len(eff)
    inv = ll.sample()
    summary_dict(inv)  # efficiency, base images, dangling images and totals, one Inventory throughout
    analyses.check(inv, "layerlab/bloat:1")
    assert opened == ["sample"]


def test_arguments_are_still_checked_before_opening(opened):
    with pytest.raises(ll.ArgumentError, match="efficiency"):
        analyses.efficiency(5)
    with pytest.raises(TypeError, match="image"):
        analyses.waste("sample")  # Python's own message for a missing argument
    assert opened == []
