"""The report's index page and the "where and when was this read" line every page starts with."""

from __future__ import annotations

import contextlib
import datetime as _dt
import html
from pathlib import Path

from ..analyses.summary import image_counts
from ..analyses.dive.totals import prune_command
from ..display import human_bytes, short_name
from .page import GENERATOR, write_own


def about(inv) -> dict:
    """Where and when a source was read: source, driver, image store, host, scanned_at, counts."""
    m = inv.meta
    return {
        "source": m.get("source") or "",
        "driver": m.get("driver"),
        "image_store": m.get("image_store"),
        "host": m.get("host"),
        "scanned_at": m.get("scanned_at"),
        "snapshot": m.get("snapshot"),
        "layerlab_version": m.get("layerlab_version"),
        **image_counts(inv),
        "containers": len(inv.containers),
        "skipped": len(inv.skipped),
    }


def about_html(inv) -> str:
    """One paragraph that says where and when the source was scanned, for the top of every page."""
    a = about(inv)
    when = a["scanned_at"] or "an unknown time"
    with contextlib.suppress(ValueError, TypeError):
        when = _dt.datetime.fromisoformat(str(a["scanned_at"])).strftime("%Y-%m-%d %H:%M:%S UTC")
    skipped = (f' <b style="color:#c0392b">{a["skipped"]} item(s) could not be read</b> (see the <code>skipped</code> '
               'frame).'
               if a["skipped"] else "")
    return (f'<p class="layerlab-about">Source <code>{html.escape(str(a["source"]))}</code> '
            f'({html.escape(str(a["image_store"]))}'
            + (f', {html.escape(str(a["driver"]))} driver' if a["driver"] else "")
            + '), scanned on host '
            f'<b>{html.escape(str(a["host"]))}</b> at <b>{html.escape(when)}</b>: {a["images"]} images '
            f'({a["tagged_images"]} tagged; {a["all_images"]} with intermediate build images), {a["containers"]} '
            f'containers.{skipped}</p>')


def note(text: str):
    """A sentence a notebook shows instead of a result it cannot give (rendered as text, not a repr)."""
    from IPython.display import Markdown

    return Markdown(f"*{text}*")


class About:
    """Displays ``about_html`` in a notebook: ``reports.About(inv)`` as a cell's last line."""

    def __init__(self, inv):
        self.inv = inv

    def _repr_html_(self):
        return about_html(self.inv)

    def __repr__(self):
        return about_html(self.inv)


_INDEX_CSS = """body{font-family:system-ui,sans-serif;max-width:64em;margin:2em auto;padding:0 1em;color:#222}
.error{background:#fde8e8;border:2px solid #c0392b;padding:1em}.ok{color:#2e7d32}.failed{color:#c0392b}
li{margin:.6em 0}code{background:#f4f4f4;padding:0 .2em}.q{color:#555}.fig{font-weight:600}
.cards{display:flex;flex-wrap:wrap;gap:.8em;margin:1em 0}
.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;min-width:11em}
.card b{display:block;font-size:1.5em}.card span{color:#555;font-size:.9em}
table.top{border-collapse:collapse;margin:.5em 0 1.5em}table.top td{padding:.15em .6em;font-size:.95em}
.bar{background:#e45756;height:.8em;display:inline-block}"""


def headline(summary: dict) -> dict:
    """The figures the index leads with, from ``layerlab summary``'s dict (so they agree with
    ``summary --json``): image counts, distinct layers and their bytes, dedup, reclaimable bytes, the
    images that would save the most, containers' read-write bytes."""
    t = summary["totals"]
    images = summary["images"]
    top = sorted((i for i in images if i["reclaimable_bytes"]), key=lambda i: -i["reclaimable_bytes"])[:5]
    return {
        **{k: t[k]
           for k in ("images", "tagged_images", "all_images", "layers", "logical_size", "physical_size",
                     "dedup_ratio")},
        # Each (layer, path) once, however many images show it; and the per-image figures added up.
        "reclaimable_bytes": t["reclaimable_bytes"],
        "reclaimable_bytes_sum_of_images": t["reclaimable_bytes_sum_of_images"],
        "dangling_images": t["dangling_images"],
        "prunable_bytes": t["prunable_bytes"],
        "prune_command": prune_command(summary.get("image_store")),
        "top": [{"name": short_name(i["tags"], i["image_id"]), "reclaimable_bytes": i["reclaimable_bytes"],
                 "size": i["size"]} for i in top],
        "containers": len(summary["containers"]),
        "rw_bytes": sum(c["rw_size"] or 0 for c in summary["containers"]),
    }


#: Each page's own headline figure, from the index's headline (pages not named here have none).
PAGE_FIGURES = {
    "01-tour": lambda h: f"{h['images']} images, {h['layers']} distinct layers, {human_bytes(h['physical_size'])} "
                         "stored",
    "02-layers-and-waste": lambda h: f"{human_bytes(h['reclaimable_bytes'])} reclaimable (each byte once)",
    "03-sharing-and-dedup": lambda h: (f"layer dedup {h['dedup_ratio']:.2f}×: {human_bytes(h['logical_size'])} as "
                                       f"separate images, {human_bytes(h['physical_size'])} stored") if h["dedup_ratio"]
                                       else "",
    "04-storage-drivers": lambda h: f"{h['containers']} containers, {human_bytes(h['rw_bytes'])} in read-write layers",
}


def _dashboard(h: dict) -> str:
    cards = [
        (f"{h['images']}", f"images ({h['tagged_images']} tagged, {h['all_images']} with intermediate)"),
        (f"{h['layers']}", f"distinct layers, {human_bytes(h['physical_size'])} stored (apparent)"),
        (human_bytes(h["reclaimable_bytes"]), f"reclaimable: in layers, never seen by containers (each byte once; the "
                                              "images' own figures add up to "
                                              f"{human_bytes(h['reclaimable_bytes_sum_of_images'])})"),
        (f"{h['dedup_ratio']:.2f}×" if h["dedup_ratio"] else "—", "layer dedup: separate images ÷ stored"),
        (f"{h['containers']}", f"containers, {human_bytes(h['rw_bytes'])} in read-write layers"),
        (f"{h['dangling_images']}",
         f"dangling images: {h.get('prune_command', 'docker image prune')} would free "
         f"{human_bytes(h['prunable_bytes'])}"),
    ]
    out = ['<h2>What the audit found</h2><div class="cards">']
    out += [f'<div class="card"><b>{html.escape(v)}</b><span>{html.escape(k)}</span></div>' for v, k in cards]
    out.append("</div>")
    if h["top"]:
        most = max(t["reclaimable_bytes"] for t in h["top"])
        rows = "".join(
            f'<tr><td>{html.escape(t["name"])}</td><td><span class="bar" '
            f'style="width:{max(2, 160 * t["reclaimable_bytes"] // most)}px">'
            f'</span></td><td>{human_bytes(t["reclaimable_bytes"])} of {human_bytes(t["size"])}</td></tr>'
            for t in h["top"])
        out.append(f"<h3>The images that would save the most</h3><table class=\"top\">{rows}</table>")
    return "".join(out)


def write_index(out_dir: Path, *, about_block: str, entries: list[dict], error: str | None = None,
                params: dict | None = None, seconds: float | None = None, summary: dict | None = None) -> Path:
    """The report's first page: where the source came from, what the audit found (``summary``), and
    one line per page saying what it answers, with its own figure; failures marked."""
    h = headline(summary) if summary else None
    items = []
    for e in entries:
        question = f'<br><span class="q">{html.escape(e["question"])}</span>' if e.get("question") else ""
        if e.get("error"):
            items.append(f'<li><a href="{e["html"]}">{html.escape(e["title"])}</a> <span class="failed">failed</span>: '
                         f'{html.escape(e["error"])} (executed notebook: <a '
                         f'href="{e["ipynb"]}">{e["ipynb"]}</a>){question}</li>')
        else:
            figure = PAGE_FIGURES.get(Path(e["html"]).stem, lambda _h: "")(h) if h else ""
            figure = f' — <span class="fig">{html.escape(figure)}</span>' if figure else ""
            items.append(f'<li><a href="{e["html"]}">{html.escape(e["title"])}</a> <span '
                         f'class="ok">✓</span>{figure}{question}</li>')
    body = []
    if error:
        body.append(f'<div class="error"><h2>The source could not be read</h2><p>{html.escape(error)}</p>'
                    "<p>No notebook was run. Fix the source (or run <code>layerlab report sample</code> to see "
                    "the bundled sample) and make the report again.</p></div>")
    body.append(about_block)
    if params:
        body.append("<p>Inputs: "
                    + ", ".join(f"<code>{html.escape(k)} = {html.escape(str(v))}</code>" for k, v in params.items())
                    + "</p>")
    if h:
        body.append(_dashboard(h))
    if items:
        body.append("<h2>The pages</h2><ol>" + "".join(items) + "</ol>")
    made = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    body.append(f'<p style="color:#777">Made by layerlab at {made}' + (f" in {seconds:.1f}s" if seconds else "")
                + ".</p>")
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">{GENERATOR}<title>layerlab report</title>'
            f"<style>{_INDEX_CSS}</style></head><body><h1>layerlab report</h1>{''.join(body)}</body></html>")
    return write_own(out_dir / "index.html", page)
