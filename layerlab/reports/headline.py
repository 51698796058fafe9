"""The report index's headline figures: totals over every image that count each stored byte once."""

from __future__ import annotations

import html

from .._format import human_bytes


def totals(inv) -> dict:
    """Reclaimable bytes (each (layer, path) once, and the per-image sum), dangling images and
    what ``docker image prune`` would free, over the images ``docker images`` lists."""
    from ..analyses.totals import dangling, reclaimable_once

    once = reclaimable_once(inv)
    d = dangling(inv)
    return {**once, "dangling_images": int(d.attrs["dangling_images"]), "prunable_bytes": int(d.attrs["prunable_bytes"])}


def totals_html(inv) -> str:
    """One paragraph with ``totals``; empty when the source holds no images."""
    if inv.images.empty:
        return ""
    t = totals(inv)
    return (f'<p class="layerlab-totals">Reclaimable: <b>{html.escape(human_bytes(t["reclaimable_bytes"]))}</b> stored in '
            f"layers but hidden by later layers, each layer's bytes counted once (the {t['images']} images' own figures "
            f'add up to {html.escape(human_bytes(t["reclaimable_bytes_sum_of_images"]))}, as images share layers). '
            f'Dangling: {t["dangling_images"]} image(s) with no tag, child image or container; '
            f'<code>docker image prune</code> would free {html.escape(human_bytes(t["prunable_bytes"]))}.</p>')
