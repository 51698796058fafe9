"""Byte counts for people: decimal units, as ``docker images`` and ``docker system df`` print them.

Kept apart from plots/ so the command line can use it without importing matplotlib.
"""

from __future__ import annotations

import math

UNITS = (("B", 1), ("kB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12))


def unit_for(max_bytes: float) -> tuple[str, float]:
    """The largest decimal unit that keeps ``max_bytes`` at 1 or more (B, kB, MB, GB, TB)."""
    chosen = UNITS[0]
    for unit in UNITS:
        if abs(max_bytes) >= unit[1]:
            chosen = unit
    return chosen


def human_bytes(n) -> str:
    """``1234567`` -> ``'1.23 MB'``; ``'-'`` for missing."""
    try:
        value = float(n)
    except TypeError:  # None, pandas.NA
        return "-"
    if math.isnan(value):
        return "-"
    name, factor = unit_for(value)
    return f"{int(value)} B" if factor == 1 else f"{value / factor:.3g} {name}"
