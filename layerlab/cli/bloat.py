"""``layerlab bloat``: files an image's final filesystem carries that it rarely needs, with the fix."""

from __future__ import annotations

import json
import sys

from ..display import command_label, human_bytes
from .arguments import add_common, add_image, add_json, add_source, only_image, open_source_arg, skipped_json
from .output import echo, line_width, middle, safe


def print_findings(findings, *, indent: str = "", out=None) -> None:
    """The findings of ``analyses.bloat`` as text: one line per category and layer, then the fix."""
    out = out or sys.stdout
    width = line_width(out)
    if findings.empty:
        print(f"{indent}no bloat found (no visible file matches a bloat rule)", file=out)
        return
    print(f"{indent}{'CATEGORY':<16} {'BYTES':>9} {'PATHS':>6} {'LAYER':>5}  COMMAND", file=out)
    for r in findings.itertuples(index=False):
        cmd = safe(command_label(r.created_by, max(width - len(indent) - 42, 20)))
        print(f"{indent}{r.category:<16} {human_bytes(r.bytes):>9} {r.paths:>6} {r.position:>5}  {cmd}", file=out)
        ex = ", ".join(r.examples)
        print(f"{indent}    e.g. {middle(ex, max(width - len(indent) - 10, 20))}", file=out)
        if r.fix:
            echo(f"{indent}    fix: {safe(r.fix)}" + (f" ({safe(r.see)})" if r.see else ""), out=out,
                 indent=indent + " " * 9)


def cmd_bloat(args) -> int:
    from ..analyses.hygiene.bloat import bloat, bloat_json, by_category

    inv = open_source_arg(args)
    if args.image is None:
        args.image = only_image(inv, args.source)
    findings = bloat(inv, args.image, rules=args.rules)
    if args.json:
        json.dump({**bloat_json(findings), "skipped": skipped_json(inv)}, sys.stdout, indent=2)
        print()
        return 0
    image_id = findings.attrs["image_id"]
    size = int(inv.images.set_index("image_id").loc[image_id, "size"])
    total = findings.attrs["total_bytes"]
    share = f" ({total / size:.1%} of the image's {human_bytes(size)})" if size else ""
    echo(f"{safe(args.image)} ({image_id[7:19]}): {human_bytes(total)} of files an image rarely needs{share}",
         indent="  ")
    if len(findings):
        cats = by_category(findings)
        echo("  " + ", ".join(f"{safe(r.category)} {human_bytes(r.bytes)}" for r in cats.itertuples(index=False)),
             indent="  ")
        print()
    print_findings(findings)
    return 0


def add_parser(subparsers) -> None:
    s = subparsers.add_parser(
        "bloat",
        help="files an image rarely needs (package caches, apt lists, bytecode, tests, docs, .git, ...) and the fix",
        description="List the visible files of an image that match bloat rules (package manager caches and lists, "
        "Python bytecode and test suites, docs, VCS directories, temporary files, logs), by category and by the layer "
        "(Dockerfile command) that wrote them, with the Dockerfile change that avoids them.",
    )
    add_source(s)
    add_image(s)
    add_common(s)
    s.add_argument("--rules", metavar="FILE", help="CSV of extra bloat rules (category,pattern,fix,see); "
                   "a category it names replaces the bundled rules of that category")
    add_json(s, "machine-readable output")
    s.set_defaults(func=cmd_bloat)
