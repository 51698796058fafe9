"""Helpers every chart shares: getting frames from a source, byte axes, readable image names."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import FuncFormatter, MaxNLocator

from ..display import UNITS, human_bytes, unit_for  # noqa: F401 - re-exported for the charts

#: What a byte count measures; every byte axis names one of these.
SIZE_KINDS = {
    "apparent": "apparent size",
    "disk": "on-disk size",
    "compressed": "compressed size",
    "content": "file content (apparent)",
}

#: One colour per reason bytes sit in an image, shared by every chart and widget.
REASON_COLORS = {
    "kept": "#4c78a8",
    "overwritten": "#e45756",
    "deleted": "#f58518",
    "metadata_only": "#b279a2",
    "duplicate_content": "#9d755d",
}
REASON_LABELS = {
    "kept": "kept (visible in the image)",
    "overwritten": "overwritten by a later layer",
    "deleted": "deleted by a later layer",
    "metadata_only": "metadata-only copy",
    "duplicate_content": "duplicate content",
}


def inventory(source):
    """The Inventory for ``source`` (anything ``layerlab.open_source`` takes)."""
    from ..frames.inventory import Inventory

    if isinstance(source, Inventory):
        return source
    import layerlab

    return layerlab.open_source(source)


def get_ax(ax):
    return ax if ax is not None else plt.gca()


def bytes_axis(ax, axis: str, kind: str, max_bytes: float | None = None) -> str:
    """Format ``axis`` ("x" or "y") of ``ax`` in one readable unit and label it with what it measures.

    ``kind`` is a key of SIZE_KINDS or a free description; returns the unit chosen.
    """
    if max_bytes is None:
        lo, hi = (ax.get_xlim() if axis == "x" else ax.get_ylim())
        max_bytes = max(abs(lo), abs(hi))
    unit, factor = unit_for(max_bytes)
    fmt = FuncFormatter(lambda v, _pos: f"{v / factor:g}")
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_formatter(fmt)
    target.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    label = f"{SIZE_KINDS.get(kind, kind)} ({unit})"
    (ax.set_xlabel if axis == "x" else ax.set_ylabel)(label)
    return unit


def shorten(text: str, width: int = 36) -> str:
    """Shorten ``text`` in the middle so its start and its end (the tag) stay readable."""
    text = str(text)
    if len(text) <= width:
        return text
    tail = max(width * 2 // 3, 1)
    head = max(width - tail - 1, 0)
    return text[:head] + "…" + text[-tail:]


def image_names(images: pd.DataFrame, width: int | None = None) -> pd.Series:
    """A display name per image ID: its shortest tag (local before registry names), else
    ``<none> <short id>``; shortened to ``width`` characters when given."""

    def name(row) -> str:
        tags = list(row.tags) if row.tags is not None else []
        if tags:
            # Prefer a tag without a registry host: the one people type.
            tag = sorted(tags, key=lambda t: (_has_registry_host(t), len(t), t))[0]
        else:
            tag = f"<none> {row.image_id.removeprefix('sha256:')[:12]}"
        return shorten(tag, width) if width else tag

    return pd.Series([name(r) for r in images.itertuples(index=False)], index=images["image_id"].to_numpy(), dtype=object)


def _has_registry_host(ref: str) -> bool:
    first, sep, _ = ref.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost")


def command_label(created_by, width: int = 40) -> str:
    """A Dockerfile-like label for a history ``created_by`` (``/bin/sh -c #(nop) COPY ...`` -> ``COPY ...``)."""
    if created_by is None or (not isinstance(created_by, str) and pd.isna(created_by)) or not str(created_by).strip():
        return "(imported)"
    text = " ".join(str(created_by).split())
    for prefix in ("/bin/sh -c #(nop) ", "/bin/sh -c "):
        if text.startswith(prefix):
            text = text[len(prefix):]
            if prefix == "/bin/sh -c ":
                text = "RUN " + text
            break
    return text if len(text) <= width else text[: width - 1] + "…"


def resolve_image(inv, image=None) -> str:
    """The image ID ``image`` names, or for None the tagged image with the most layers, then bytes."""
    if image is not None and str(image).strip():
        return inv.image_id(str(image))
    images = inv.images
    tagged = images[images["tags"].map(len) > 0]
    pool = tagged if len(tagged) else images
    if pool.empty:
        from ..errors import ImageNotFound

        raise ImageNotFound(f"{inv.source or 'this source'} holds no images", ref=None)
    best = pool.sort_values(["layer_count", "size", "image_id"], ascending=[False, False, True]).iloc[0]
    return best["image_id"]


def pick_two(inv, a=None, b=None) -> tuple[str, str]:
    """Two image IDs to compare: ``a`` and ``b`` when given, else the two largest tagged images."""
    images = inv.images[inv.images["tags"].map(len) > 0].sort_values(["size", "image_id"], ascending=[False, True])
    ids = list(images["image_id"]) or list(inv.images["image_id"])
    first = inv.image_id(a) if a else (ids[0] if ids else None)
    rest = [i for i in ids if i != first]
    second = inv.image_id(b) if b else (rest[0] if rest else first)
    if first is None:
        from ..errors import ImageNotFound

        raise ImageNotFound(f"{inv.source or 'this source'} holds no images to compare", ref=None)
    return first, second


def no_data(ax, message: str):
    """Draw ``message`` in an empty Axes: a chart with nothing to show still says why."""
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, wrap=True, color="0.35")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax
