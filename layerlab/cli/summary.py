"""``layerlab summary``: its arguments, and its output (the text table fitted to the terminal, CSV,
ordering). The figures themselves come from ``layerlab.analyses.summary`` (the same for the text,
``--json`` and the report)."""

from __future__ import annotations

import math
import sys

from ..display import command_label, human_bytes, short_name
from .arguments import add_common, add_json, add_source, open_source_arg, progress_of, top_count
from .output import count, echo, line_width, middle, safe

#: Stores of a host, with dangling images to prune (an archive, a layout, a registry have none).
LOCAL_STORES = ("graphdriver", "containerd", "containers-storage")

#: --sort keys: JSON field, and whether larger comes first.
SORT_KEYS = {
    "size": ("size", True),
    "shared": ("shared_size", True),
    "unique": ("unique_size", True),
    "reclaimable": ("reclaimable_bytes", True),
    "wasted": ("dive_wasted_bytes", True),
    "efficiency": ("dive_efficiency", False),
    "layers": ("layer_count", True),
    "containers": ("container_count", True),
    "name": ("name", False),
}
CSV_COLUMNS = [
    "name", "image_id", "tags", "size", "shared_size", "unique_size", "reclaimable_bytes", "dive_efficiency",
    "dive_wasted_bytes", "dive_user_wasted_percent", "base_image", "layer_count", "container_count", "dangling",
    "prunable_bytes",
]


def _name(im: dict) -> str:
    """An image's display name (``display.short_name``, the one rule every view uses)."""
    return short_name(im["tags"], im["image_id"])


def ordered(images: list[dict], sort: str = "size", top: int | None = None) -> list[dict]:
    """Images ordered by a ``SORT_KEYS`` key (ties by name), the first ``top`` of them."""
    if top is not None and top < 1:
        from ..errors import LayerlabError

        raise LayerlabError(f"--top takes a number of images, 1 or more (got {top})")
    field, descending = SORT_KEYS[sort]

    def key(im):
        value = _name(im) if field == "name" else im.get(field)
        missing = value is None or (isinstance(value, float) and value != value)
        if field == "name":
            return (0, value, im["image_id"])
        return (missing, -value if (descending and not missing) else (value if not missing else 0), _name(im))

    out = sorted(images, key=key)
    return out[:top] if top else out


def to_csv(data: dict, images: list[dict], out=None) -> None:
    """One CSV row per image (tags joined with spaces; sizes in bytes)."""
    rows = [{**im, "name": _name(im), "tags": " ".join(im["tags"])} for im in images]
    import pandas as pd

    pd.DataFrame(rows, columns=CSV_COLUMNS).to_csv(out or sys.stdout, index=False)


def waste_lines(inv, image_ids, top: int = 5, progress: bool | None = None):
    """The largest (writing layer, hiding layer) pairs over ``image_ids``, each pair once."""
    import pandas as pd
    from ..analyses.dive.attribution import waste_by_line
    from ..display import progress_bar

    bar = progress_bar(list(image_ids), desc="waste by Dockerfile line", unit="image", leave=False, progress=progress,
                       skip=len(image_ids) <= 3)
    parts = [waste_by_line(inv, i) for i in bar]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame()
    lines = pd.concat(parts, ignore_index=True)
    pairs = lines.groupby(["layer_id", "by_layer_id", "reason"], sort=False, observed=True)["image_id"]
    images = pairs.agg(lambda s: list(dict.fromkeys(s)))
    lines = lines.drop_duplicates(["layer_id", "by_layer_id", "reason"]).copy()
    lines["images"] = [images[(a, b, r)] for a, b, r in zip(lines["layer_id"], lines["by_layer_id"], lines["reason"])]
    return lines.sort_values("bytes", ascending=False, kind="stable").head(top).reset_index(drop=True)


def print_table(inv, data: dict, images: list[dict], *, out=None, progress: bool | None = None) -> None:
    """The text form of ``summary``: images, containers, waste by Dockerfile line, totals.

    RECLAIM is layerlab's ``reclaimable_bytes``; WASTED and EFF are dive's wasted bytes and
    efficiency (as ``dive --ci`` prints them)."""
    from ..analyses.dive.totals import prune_command

    out = out or sys.stdout
    width = line_width(out)
    names = {im["image_id"]: _name(im) + (" (dangling)" if im.get("dangling") else "") for im in images}
    longest = max((len(n) for n in names.values()), default=5)

    def pct(v):
        # rounded down: 100.0% only when nothing is wasted (99.96% is not shown as 100.0%)
        return f"{math.floor(v * 1000) / 10:.1f}%" if isinstance(v, float) and math.isfinite(v) else "-"

    # (header, width, value); on a narrow terminal the columns at the end of DROP go first.
    columns = [
        ("ID", -12, lambda im: im["image_id"][7:19]),
        ("SIZE", 9, lambda im: human_bytes(im["size"])),
        ("SHARED", 9, lambda im: human_bytes(im["shared_size"])),
        ("UNIQUE", 9, lambda im: human_bytes(im["unique_size"])),
        ("RECLAIM", 9, lambda im: human_bytes(im["reclaimable_bytes"])),
        ("WASTED", 9, lambda im: human_bytes(im.get("dive_wasted_bytes"))),
        ("EFF", 6, lambda im: pct(im.get("dive_efficiency"))),
        ("LAYERS", 6, lambda im: str(im["layer_count"])),
        ("CTRS", 4, lambda im: str(im["container_count"])),
    ]
    drop = ["CTRS", "SHARED", "WASTED", "LAYERS", "ID", "UNIQUE"]
    min_name = min(longest, 24)
    while drop and min_name + sum(abs(w) + 1 for _, w, _ in columns) > width:
        gone = drop.pop(0)
        columns = [c for c in columns if c[0] != gone]
    fixed = sum(abs(w) + 1 for _, w, _ in columns)
    name_w = max(min(longest, width - fixed), 5)

    def cell(text, w):
        return f"{text:<{-w}}" if w < 0 else f"{text:>{w}}"

    print(f"{'IMAGE':<{name_w}} " + " ".join(cell(h, w) for h, w, _ in columns), file=out)
    for im in images:
        cells = " ".join(cell(f(im), w) for _, w, f in columns)
        print(f"{middle(names[im['image_id']], name_w):<{name_w}} " + cells, file=out)
    hidden = len(data["images"]) - len(images)
    if hidden:
        print(f"... {count(hidden, 'more image')} (--top N to change, --format json for all)", file=out)
    if data["containers"]:
        print(f"\n{'CONTAINER':<24} {'ID':<12} {'RW SIZE':>9}", file=out)
        for c in data["containers"]:
            print(f"{middle(c['name'], 24):<24} {c['container_id'][:12]:<12} {human_bytes(c['rw_size']):>9}", file=out)
    lines = waste_lines(inv, [im["image_id"] for im in images if im["reclaimable_bytes"]], progress=progress)
    if len(lines):
        by_id = {im["image_id"]: _name(im) for im in data["images"]}
        cmd_w = max(width - 36, 20)
        echo("\nWASTE BY DOCKERFILE LINE (bytes a layer stores that a later layer hides; each pair of layers once)",
             out=out)
        for r in lines.itertuples(index=False):
            who = ", ".join(by_id.get(i, i[7:19]) for i in r.images)
            print(f"{human_bytes(r.bytes):>9}  {r.reason.replace('_', '-')} in {middle(who, width - 30)}", file=out)
            print(f"{'':>11}written by  layer {r.position}: {safe(command_label(r.created_by, cmd_w))}", file=out)
            print(f"{'':>11}hidden by   layer {r.by_position}: {safe(command_label(r.by_created_by, cmd_w))}", file=out)
    if any((im.get("reclaimable_bytes") or 0) > (im.get("dive_wasted_bytes") or 0) for im in images):
        echo("\nRECLAIM can exceed dive's WASTED (and EFF be near 100%): dive does not count bytes an opaque "
             "directory hides, nor a copy made by chmod, chown or ln (docs/glossary.md)", out=out, indent="  ")
    t = data["totals"]
    ratio = f"; layer dedup {t['dedup_ratio']:.2f}x" if t.get("dedup_ratio") else ""
    echo(f"\n{count(t['images'], 'image')}, {count(t['layers'], 'distinct layer')}: {human_bytes(t['logical_size'])} "
         f"if every image were stored alone, {human_bytes(t['physical_size'])} stored (apparent bytes{ratio})",
         out=out, indent="  ")
    if "reclaimable_bytes" in t:
        echo(f"reclaimable: {human_bytes(t['reclaimable_bytes'])} stored in layers but hidden by later ones (each "
             f"layer's bytes once; the per-image figures add up to {human_bytes(t['reclaimable_bytes_sum_of_images'])}"
             "; not docker system df's RECLAIMABLE, see docs/glossary.md)", out=out, indent="  ")
        if data.get("image_store") in LOCAL_STORES:  # an archive, layout or registry has nothing to prune
            echo(f"dangling: {count(t['dangling_images'], 'image')} with no tag, child or container; "
                 f"`{prune_command(data.get('image_store'))}` would free {human_bytes(t['prunable_bytes'])}",
                 out=out, indent="  ")
    # what could not be read is said on stderr once the command ends (cli.main), --json lists each


def cmd_summary(args) -> int:
    import json

    from ..analyses.summary import summary_dict

    fmt = "json" if args.json else (args.format or "table")
    args.json = fmt != "table"  # no progress bar under JSON or CSV
    inv = open_source_arg(args, foreign_layers=args.foreign_layers)
    data = summary_dict(inv)
    images = ordered(data["images"], args.sort, args.top)
    if fmt == "json":
        json.dump({**data, "images": images}, sys.stdout, indent=2)
        print()
        return 0
    if fmt == "csv":
        to_csv(data, images)
        return 0
    where = data["source"]
    if inv.meta.get("snapshot"):
        where = (f"{inv.meta['snapshot']}  (scanned from {where} on {inv.meta.get('host')} at "
                 f"{inv.meta.get('scanned_at')})")
    store = ", ".join(str(v) for v in (data["image_store"], data["driver"]) if v)  # an archive has no driver
    echo(f"{safe(where)}  ({store})", indent="  ")
    print_table(inv, data, images, progress=progress_of(args))
    return 0


def add_parser(sub) -> None:
    """Add ``summary`` to the ``layerlab`` command's subparsers."""
    s = sub.add_parser("summary", help="images, containers and totals of a source")
    add_source(s, default_sample=True)
    add_common(s)
    add_json(s)
    s.add_argument("--foreign-layers", choices=("fetch", "skip"), default="fetch",
                   help="a foreign layer (blob only at its urls, e.g. Windows base images): fetch it from them, "
                        "checked and without credentials (default), or skip it (listed as skipped)")
    s.add_argument("--sort", choices=sorted(SORT_KEYS), default="size", help="order of the images (default: size)")
    s.add_argument("--top", type=top_count, metavar="N", help="show only the first N images")
    s.add_argument("--format", choices=("table", "json", "csv"), default=None,
                   help="output format (default table; --json = --format json)")
    s.set_defaults(func=cmd_summary)
