"""The report's index page and the "where and when was this read" line every page starts with."""

from __future__ import annotations

import contextlib
import datetime as _dt
import html
from pathlib import Path


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
        "images": len(inv.tagged),
        "all_images": len(inv.images),
        "containers": len(inv.containers),
        "skipped": len(inv.skipped),
    }


def about_html(inv) -> str:
    """One paragraph that says where and when the source was scanned, for the top of every page."""
    a = about(inv)
    when = a["scanned_at"] or "an unknown time"
    with contextlib.suppress(ValueError, TypeError):
        when = _dt.datetime.fromisoformat(str(a["scanned_at"])).strftime("%Y-%m-%d %H:%M:%S UTC")
    skipped = (f' <b style="color:#c0392b">{a["skipped"]} item(s) could not be read</b> (see the <code>skipped</code> frame).'
               if a["skipped"] else "")
    return (f'<p class="layerlab-about">Source <code>{html.escape(str(a["source"]))}</code> '
            f'({html.escape(str(a["image_store"]))}, {html.escape(str(a["driver"]))} driver), scanned on host '
            f'<b>{html.escape(str(a["host"]))}</b> at <b>{html.escape(when)}</b>: {a["images"]} tagged images '
            f'({a["all_images"]} with untagged), {a["containers"]} containers.{skipped}</p>')


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


_INDEX_CSS = """body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}
.error{background:#fde8e8;border:2px solid #c0392b;padding:1em}.ok{color:#2e7d32}.failed{color:#c0392b}
li{margin:.4em 0}code{background:#f4f4f4;padding:0 .2em}"""


def write_index(out_dir: Path, *, about_block: str, entries: list[dict], error: str | None = None,
                 params: dict | None = None, seconds: float | None = None) -> Path:
    items = []
    for e in entries:
        if e.get("error"):
            items.append(f'<li><a href="{e["html"]}">{html.escape(e["title"])}</a> <span class="failed">failed</span>: '
                         f'{html.escape(e["error"])} (executed notebook: <a href="{e["ipynb"]}">{e["ipynb"]}</a>)</li>')
        else:
            items.append(f'<li><a href="{e["html"]}">{html.escape(e["title"])}</a> <span class="ok">✓</span></li>')
    body = []
    if error:
        body.append(f'<div class="error"><h2>The source could not be read</h2><p>{html.escape(error)}</p>'
                    "<p>No notebook was run. Fix the source (or run <code>layerlab report sample</code> to see "
                    "the bundled sample) and make the report again.</p></div>")
    body.append(about_block)
    if params:
        body.append("<p>Parameters: " + ", ".join(f"<code>{html.escape(k)}={html.escape(repr(v))}</code>" for k, v in params.items()) + "</p>")
    if items:
        body.append("<ol>" + "".join(items) + "</ol>")
    made = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    body.append(f'<p style="color:#777">Made by layerlab at {made}' + (f" in {seconds:.1f}s" if seconds else "") + ".</p>")
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>layerlab report</title>'
            f"<style>{_INDEX_CSS}</style></head><body><h1>layerlab report</h1>{''.join(body)}</body></html>")
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index

