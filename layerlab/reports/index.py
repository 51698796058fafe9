"""The report's index page and the "where and when was this read" line every page starts with."""

from __future__ import annotations

import contextlib
import datetime as _dt
import html
from pathlib import Path

from ..analyses.summary import image_counts
from ..analyses.dive.totals import prune_command
from ..display import human_bytes, short_name, shorten
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


def is_sample(source) -> bool:
    """Whether a notebook's ``source`` is the bundled sample (``"sample"`` or ``"sample:<driver>"``)."""
    return isinstance(source, str) and (source == "sample" or source.startswith("sample:"))


def bundled_note(source, what: str, why: str):
    """A plain label, on a page about another source, that a section shows the bundled sample:
    ``what`` it shows and ``why`` (nothing of the reader's was given); nothing on the sample's own pages."""
    if is_sample(source):
        return None
    from IPython.display import HTML

    return HTML('<div class="layerlab-bundled" '
                'style="border-left:4px solid #f58518;background:#fff4e5;padding:.4em .8em">'
                f"<b>The bundled sample, not your data:</b> {html.escape(what)} ({html.escape(why)})</div>")


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
.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;min-width:11em;flex:1 1 14em;max-width:22em}
.card b{display:block;font-size:1.5em}.card span{color:#555;font-size:.9em}
table.top{border-collapse:collapse;margin:.5em 0 1.5em}table.top td{padding:.15em .6em;font-size:.95em}
.bar{background:#e45756;height:.8em;display:inline-block}
table.top th{text-align:left;font-weight:600;padding:.15em .6em}
td.num{text-align:right;white-space:nowrap}table.fix td{vertical-align:top}"""


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


def disk_figures(inv) -> dict:
    """What the images take on disk: ``apparent`` and ``on_disk`` (allocated blocks) of every distinct
    image layer (intermediate build images included, as ``du`` counts them), and the containers'
    read-write layers; ``on_disk`` is None when the source did not record blocks (an archive)."""
    layers = inv.layers[inv.layers["kind"] == "image"]
    disk = layers["disk_usage"]
    rw = inv.layers[inv.layers["kind"] == "container"] if "kind" in inv.layers else inv.layers.iloc[0:0]
    return {"apparent": int(layers["size"].sum()),
            "on_disk": int(disk.sum()) if len(disk) and disk.notna().all() else None,
            "containers_apparent": int(rw["size"].sum()) if len(rw) else 0}


def _h(text) -> str:
    return html.escape(str(text))


def _size_bar(value: int, most: int, color: str = "#e45756") -> str:
    return f'<span class="bar" style="width:{max(2, 160 * value // max(most, 1))}px;background:{color}"></span>'


def _cards(h: dict, disk: dict | None, findings) -> str:
    cards = []
    if disk:
        on_disk = human_bytes(disk["on_disk"]) if disk["on_disk"] is not None else "unknown"
        cards.append((human_bytes(disk["apparent"]), f"image layers, apparent (their files' sizes); {on_disk} on disk "
                                                     "(allocated blocks)"))
    else:
        cards.append((human_bytes(h["physical_size"]), "image layers stored (apparent)"))
    if findings is not None:
        a = findings.attrs
        cards.append((human_bytes(a["total_bytes"]),
                      f"could be freed: {human_bytes(a['hidden_bytes'])} hidden by later layers + "
                      f"{human_bytes(a['bloat_bytes'])} bloat (each byte once)"))
    else:
        cards.append((human_bytes(h["reclaimable_bytes"]), "hidden by later layers (each byte once)"))
    cards += [
        (f"{h['images']}", f"images, as {h['prune_command'].split()[0]} images lists them "
                           f"({h['tagged_images']} tagged; {h['all_images']} with intermediate build images)"),
        (f"{h['dangling_images']}", f"dangling images: {h['prune_command']} frees {human_bytes(h['prunable_bytes'])}"),
        (f"{h['containers']}", f"containers, {human_bytes(h['rw_bytes'])} in read-write layers"),
    ]
    out = ['<div class="cards">']
    out += [f'<div class="card"><b>{_h(v)}</b><span>{_h(k)}</span></div>' for v, k in cards]
    out.append("</div>")
    return "".join(out)


def _fix_first(findings, top: int = 10) -> str:
    """The ranked list: image, what, bytes, the layer's command and the change that avoids it."""
    if findings is None or findings.empty:
        return "<h2>2. What to fix first</h2><p>Nothing to free: no hidden bytes and no bloat in these images.</p>"
    rows = findings.head(top)
    most = int(rows["bytes"].max())
    what = {"hidden": "hidden by a later layer"}
    first_with: dict = {}
    fixes = []
    for i, fix in enumerate(rows["fix"], 1):  # a fix said once, then referred to
        fixes.append(_h(fix) if fix not in first_with else f'<span class="q">as #{first_with[fix]}</span>')
        first_with.setdefault(fix, i)
    body = "".join(
        f'<tr><td>{i}</td><td>{_h(r.image)}'
        + (f' <span class="q">(+{r.images - 1} more)</span>' if r.images > 1 else "")
        + f'</td><td>{_h(what.get(r.what, r.what))}</td><td class="num">{human_bytes(r.bytes)}</td>'
        f'<td>{_size_bar(r.bytes, most)}</td><td>layer {r.position}: <code>{_h(r.command)}</code>'
        f'<br><span class="q">{_h(shorten(r.examples[0], 70)) if r.examples else ""}'
        + (f" and {r.paths - 1:,} more" if r.paths > 1 else "") + f'</span></td><td>{fix}</td></tr>'
        for i, (r, fix) in enumerate(zip(rows.itertuples(index=False), fixes), 1))
    a = findings.attrs
    rest = len(findings) - len(rows)
    more = (f'<p class="q">{rest:,} smaller findings ({human_bytes(int(findings["bytes"].iloc[top:].sum()))}) are on '
            'page 02 and in <code>layerlab bloat</code>.</p>') if rest > 0 else ""
    return (f"<h2>2. What to fix first: {human_bytes(a['total_bytes'])} could be freed</h2>"
            f"<p>{human_bytes(a['hidden_bytes'])} are hidden: written by one layer, overwritten or deleted by a "
            "later one, "
            f"yet stored and pulled. {human_bytes(a['bloat_bytes'])} are bloat: visible, but caches, bytecode, test "
            "suites, docs. Each (layer, path) is counted once however many images share the layer; a row names the "
            "image that made the layer (its Dockerfile is the one to change) and how many more use it.</p>"
            '<table class="top fix"><tr><th>#</th><th>image</th><th>what</th><th>bytes</th><th></th><th>where</th>'
            f"<th>fix (Dockerfile change)</th></tr>{body}</table>{more}")


def _largest(summary: dict, top: int = 10) -> str:
    images = sorted(summary["images"], key=lambda i: (-i["size"], i["image_id"]))
    if not images:
        return ""
    most = images[0]["size"]
    body = "".join(
        f'<tr><td>{_h(short_name(i["tags"], i["image_id"]))}</td><td class="num">{human_bytes(i["size"])}</td>'
        f'<td>{_size_bar(i["size"], most, "#4c78a8")}</td><td class="num">{human_bytes(i["unique_size"])}</td>'
        f'<td class="num">{i["layer_count"]}</td><td class="num">{i["container_count"]}</td></tr>'
        for i in images[:top])
    rest = images[top:]
    more = (f'<tr><td class="q">{len(rest):,} more images</td>'
            f'<td class="num">{human_bytes(sum(i["size"] for i in rest))}'
            "</td><td></td><td></td><td></td><td></td></tr>") if rest else ""
    return ("<h2>3. The largest images</h2><p>Apparent size; <i>unique</i> is what removing the image alone frees "
            "(layers no other image uses).</p>"
            '<table class="top"><tr><th>image</th><th>size</th><th></th><th>unique</th><th>layers</th>'
            '<th>containers</th>'
            f"</tr>{body}{more}</table>")


def _dangling(h: dict, summary: dict) -> str:
    gone = [i for i in summary["images"] if i.get("dangling")]
    if not gone:
        return "<h2>4. Dangling images</h2><p>None: no untagged image without a child or a container.</p>"
    names = ", ".join(_h(short_name(i["tags"], i["image_id"])) for i in gone[:8])
    names += f" and {len(gone) - 8} more" if len(gone) > 8 else ""
    return (f"<h2>4. Dangling images: {len(gone)}</h2><p>{names}. <code>{_h(h['prune_command'])}</code> removes them "
            f"and frees {human_bytes(h['prunable_bytes'])} (layers no other image uses).</p>")


def _next_steps(h: dict, findings, source: str = "SOURCE") -> str:
    steps = []
    if findings is not None and not findings.empty:
        top = findings.iloc[0]
        steps.append(f"<code>layerlab bloat {_h(source)} {_h(top['image'])}</code>: every bloat finding of the "
                     "image with "
                     "the most to free, with its fix")
        steps.append(f"<code>layerlab check {_h(source)} {_h(top['image'])}</code>: dive's CI limits, to keep it fixed")
    if h["dangling_images"]:
        steps.append(f"<code>{_h(h['prune_command'])}</code>: frees {human_bytes(h['prunable_bytes'])}")
    steps.append(f"<code>layerlab diff {_h(source)} OLD NEW</code>: what a rebuild changed, path by path")
    return "<h2>What to do next</h2><ul>" + "".join(f"<li>{s}</li>" for s in steps) + "</ul>"


def _dashboard(h: dict, summary: dict | None = None, findings=None, disk: dict | None = None,
               source: str = "SOURCE") -> str:
    out = ["<h2>1. Disk</h2>", _cards(h, disk, findings), _fix_first(findings)]
    if summary is not None:
        out += [_largest(summary), _dangling(h, summary)]
    out.append(_next_steps(h, findings, source))
    return "".join(out)


def write_index(out_dir: Path, *, about_block: str, entries: list[dict], error: str | None = None,
                params: dict | None = None, seconds: float | None = None, summary: dict | None = None,
                findings=None, disk: dict | None = None, source: str = "SOURCE") -> Path:
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
        body.append(_dashboard(h, summary, findings, disk, source))
    if items:
        body.append("<h2>The pages</h2><ol>" + "".join(items) + "</ol>")
    made = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    body.append(f'<p style="color:#777">Made by layerlab at {made}' + (f" in {seconds:.1f}s" if seconds else "")
                + ".</p>")
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">{GENERATOR}<title>layerlab report</title>'
            f"<style>{_INDEX_CSS}</style></head><body><h1>layerlab report</h1>{''.join(body)}</body></html>")
    return write_own(out_dir / "index.html", page)
