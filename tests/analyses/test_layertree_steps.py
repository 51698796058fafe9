"""The layer tree's per-layer steps done in numpy (a pandas Series a layer cost more than the rest of a
small layer's work) give what pandas gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from layerlab.analyses.dive.layertree import _followed_by_same


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=12), max_size=40))
def test_followed_by_same_is_duplicated_keep_last(values):
    codes = np.array(values, dtype=np.int64)
    expected = pd.Series(codes).duplicated(keep="last").to_numpy()
    got = _followed_by_same(codes)
    assert got.dtype == bool and got.tolist() == expected.tolist()
