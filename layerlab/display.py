"""Things shown to people: byte counts in decimal units (as ``docker images`` and ``docker system df``
print them), image names, and Dockerfile-like labels for layer commands.

Shared by the CLI, tables, charts and widgets; imports neither pandas nor matplotlib at load time, so
the command line starts at once.
"""

from __future__ import annotations

import math
import re

#: Set to "1" in a report's kernels: widgets then show static snapshots (no callbacks run in HTML).
REPORT_ENV = "LAYERLAB_REPORT"

UNITS = (("B", 1), ("kB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12))

#: A content digest in a COPY/ADD source (``file:<64 hex>``): shown by its first 12 hex digits.
_LONG_DIGEST = re.compile(r"\b([0-9a-f]{12})[0-9a-f]{20,}\b")


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


def shorten(text: str, width: int = 36) -> str:
    """Shorten ``text`` in the middle so its start and its end (the tag) stay readable."""
    text = str(text)
    if len(text) <= width:
        return text
    tail = max(width * 2 // 3, 1)
    head = max(width - tail - 1, 0)
    return text[:head] + "…" + text[-tail:]


def image_names(images, width: int | None = None):
    """A display name per image ID: its shortest tag (local before registry names), else
    ``<none> <short id>``; shortened to ``width`` characters when given."""

    def name(row) -> str:
        tag = short_name(row.tags, row.image_id)
        return shorten(tag, width) if width else tag

    import pandas as pd

    return pd.Series([name(r) for r in images.itertuples(index=False)], index=images["image_id"].to_numpy(),
                     dtype=object)


def short_name(tags, image_id: str) -> str:
    """The name people type for an image: its shortest tag without a registry host, else
    ``<none> <short id>``."""
    tags = list(tags) if tags is not None else []
    if not tags:
        return f"<none> {image_id.removeprefix('sha256:')[:12]}"
    return sorted(tags, key=lambda t: (_has_registry_host(t), len(t), t))[0]


def _has_registry_host(ref: str) -> bool:
    first, sep, _ = ref.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost")


def command_label(created_by, width: int = 40) -> str:
    """A Dockerfile-like, shortened label for a history ``created_by``:
    ``/bin/sh -c #(nop) COPY file:<64 hex> in /x`` -> ``COPY file:2174286787de… in /x``;
    ``/bin/sh -c apt-get ...`` -> ``RUN apt-get ...``; cut to ``width`` characters with "…"."""
    if not isinstance(created_by, str) or not created_by.strip():  # None, NaN, NA: nothing recorded
        return "(imported)"
    text = " ".join(str(created_by).split())
    for prefix in ("/bin/sh -c #(nop) ", "/bin/sh -c "):
        if text.startswith(prefix):
            text = text[len(prefix):]
            if prefix == "/bin/sh -c ":
                text = "RUN " + text
            break
    text = _LONG_DIGEST.sub(r"\1…", text)
    return text if len(text) <= width else text[: max(width - 1, 1)] + "…"


def progress_bar(iterable=None, *, progress: bool | None = None, skip: bool = False, **kwargs):
    """A tqdm bar by the one rule every long step follows: ``progress`` True draws it, False never,
    None only on a terminal (never into a pipe or a file; tqdm's ``disable=None``). ``skip``: nothing
    to show. In Jupyter it is a widget that leaves its last text behind when it ends, so a saved
    notebook shows text instead of "Error displaying widget: model not found"."""
    import sys

    disable = True if (progress is False or skip) else (False if progress else None)
    if disable:  # tqdm.auto imports asyncio: a tenth of a second of a quiet scan, for a bar never drawn
        return _NoBar(iterable, kwargs.get("total"))
    from tqdm.auto import tqdm

    notebook = sys.modules.get("tqdm.notebook")
    if notebook is not None and issubclass(tqdm, notebook.tqdm) and not disable:
        return _notebook_bar_class(tqdm)(iterable, **kwargs)
    return tqdm(iterable, disable=disable, **kwargs)


class _NoBar:
    """What a bar that is never drawn does (tqdm's with ``disable=True``): iterates, counts nothing."""

    def __init__(self, iterable, total):
        self.iterable, self.total, self.n, self.disable = iterable, total, 0, True

    def __iter__(self):
        return iter(self.iterable)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n=1):
        pass

    def refresh(self, *args, **kwargs):
        pass

    def set_postfix_str(self, *args, **kwargs):
        pass

    def set_description(self, *args, **kwargs):
        pass

    def close(self):
        pass


def _notebook_bar_class(base):
    """tqdm's notebook bar shown through a display handle, its widget replaced by text when it closes."""

    class TextWhenDone(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, display=False, **kwargs)
            from IPython.display import display

            self._handle = display(self.container, display_id=True) if hasattr(self, "container") else None

        def close(self):
            if getattr(self, "_handle", None) is None or self.disable:
                return super().close()
            text = str(self)
            super().close()
            # a saved notebook keeps the last output of the handle: plain text, no widget model needed
            self._handle.update({"text/plain": "" if not self.leave else text}, raw=True)

    return TextWhenDone
