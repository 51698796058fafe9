"""Property: ``waste(duplicates=False)`` stacks only the rows that can be hidden or hide
(``waste.stacking_rows``); for generated layer stacks it finds every reclaimable row the full
stacking finds, with the same reason, layer, bytes and changes."""

from __future__ import annotations

import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_layertree_properties import _inventory, _rows, layer

from layerlab.analyses.dive.waste import stacking_rows, waste_of_files
from layerlab.analyses.stacking import chain_files


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(layer, min_size=1, max_size=5), st.integers(0, 3))
def test_stacking_the_rows_that_matter_finds_the_same_waste(layers_ops, untouched):
    layers = {f"sha256:{n + 1:064x}": _rows(ops) for n, ops in enumerate(layers_ops)}
    # files no later layer touches, in the base: the rows stacking_rows leaves out
    base = next(iter(layers.values()))
    for i in range(untouched):
        base[f"/keep/k{i}"] = ("file", 10 + i, None)
    base.setdefault("/keep", ("dir", 0, None))
    inv = _inventory({"sha256:" + "e" * 64: list(layers)}, layers)
    image = "sha256:" + "e" * 64
    files = chain_files(inv, inv.chain(image))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = waste_of_files(inv, image, files, hash=False)  # duplicates: every row stacked
        quick = waste_of_files(inv, image, files, hash=False, duplicates=False)
    full = full[full["reason"] != "duplicate_content"].reset_index(drop=True)
    assert quick.equals(full)
    assert list(quick.dtypes) == list(full.dtypes)
    if untouched:
        assert not stacking_rows(files).all()  # the untouched files were left out of the stacking
