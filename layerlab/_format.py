"""Byte counts for people: decimal units, as ``docker images`` and ``docker system df`` print them.

Kept apart from plots/ so the command line can use it without importing matplotlib.
"""

from __future__ import annotations

import math

import pandas as pd

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
    if n is None or n is pd.NA or (isinstance(n, float) and math.isnan(n)):
        return "-"
    name, factor = unit_for(float(n))
    return f"{int(n)} B" if factor == 1 else f"{float(n) / factor:.3g} {name}"


def command_text(created_by, width: int = 60) -> str:
    """A Dockerfile-like, shortened form of a layer's history ``created_by``.

    ``/bin/sh -c #(nop) COPY file:<64 hex> in /x`` -> ``COPY file:2174286787de… in /x``;
    ``/bin/sh -c apt-get ...`` -> ``RUN apt-get ...``; cut to ``width`` characters with "…".
    """
    import re

    if created_by is None or (not isinstance(created_by, str) and pd.isna(created_by)) or not str(created_by).strip():
        return "(imported)"
    text = " ".join(str(created_by).split())
    for prefix in ("/bin/sh -c #(nop) ", "/bin/sh -c "):
        if text.startswith(prefix):
            text = text[len(prefix):]
            if prefix == "/bin/sh -c ":
                text = "RUN " + text
            break
    text = re.sub(r"\b([0-9a-f]{12})[0-9a-f]{20,}\b", r"\1…", text)  # content digests of COPY/ADD sources
    return text if len(text) <= width else text[: max(width - 1, 1)] + "…"
