"""``layerlab check``: dive's CI rules on an image (exit 1 when one is broken), and what it shows
besides the rules: dive's "Inefficient Files" table, waste by Dockerfile line and the bloat findings,
as text and as JSON."""

from __future__ import annotations

import json
import math
import sys

from ..display import command_label, human_bytes
from .arguments import (add_common, add_image, add_json, add_source, only_image, open_source_arg, skipped_json,
                        top_count)
from .output import echo, line_width, path_cut, safe


def _num(x):
    if x is None:
        return None
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def gather(inv, image_id: str, *, bloat_rules=None, top: int = 10) -> dict:
    """The frames ``check`` prints: ``inefficient`` (dive's table), ``lines`` (waste by line), ``bloat``."""
    from ..analyses.dive.attribution import waste_by_line
    from ..analyses.hygiene.bloat import bloat
    from ..analyses.dive.waste import dive_analysis

    return {
        "inefficient": dive_analysis(inv, image_id),
        "lines": waste_by_line(inv, image_id),
        "bloat": bloat(inv, image_id, rules=bloat_rules),
        "top": top,
    }


def to_json(found: dict) -> dict:
    """``inefficient_files``, ``waste_by_line`` and ``bloat`` for ``check --json`` (all rows)."""
    from ..analyses.hygiene.bloat import bloat_json

    return {
        "inefficient_files": [
            {"path": r.path, "count": int(r.count), "wasted_bytes": int(r.size_bytes)}
            for r in found["inefficient"].itertuples(index=False)
        ],
        "waste_by_line": [
            {"bytes": int(r.bytes), "paths": int(r.paths), "reason": r.reason, "layer": int(r.position),
             "created_by": r.created_by, "hidden_by_layer": int(r.by_position), "hidden_by": r.by_created_by}
            for r in found["lines"].itertuples(index=False)
        ],
        "bloat": bloat_json(found["bloat"]),
    }


def print_text(found: dict, out=None) -> None:
    """dive's "Inefficient Files" table, then waste by Dockerfile line, then the bloat findings."""
    from .bloat import print_findings  # bloat's table, as `layerlab bloat` prints it

    out = out or sys.stdout
    width = line_width(out)
    top = found["top"]
    ineff = found["inefficient"]
    echo("Inefficient Files (dive's list: paths stored in two or more layers, every copy counted):", out=out)
    if ineff.empty:
        print("  none", file=out)
    else:
        print(f"  {'Count':>5}  {'Wasted Space':>12}  File Path", file=out)
        for r in ineff.head(top).itertuples(index=False):
            print(f"  {r.count:>5}  {human_bytes(r.size_bytes):>12}  {path_cut(r.path, width - 23)}", file=out)
        if len(ineff) > top:
            print(f"  ... {len(ineff) - top} more (--top N, or --json for all)", file=out)
    lines = found["lines"]
    echo("\nWaste by Dockerfile line (bytes a layer stores that a later layer hides):", out=out)
    if lines.empty:
        print("  none", file=out)
    cmd_w = max(width - 36, 20)
    for r in lines.head(top).itertuples(index=False):
        print(f"  {human_bytes(r.bytes):>9}  {r.paths} path(s) {r.reason.replace('_', '-')}", file=out)
        print(f"             written by layer {r.position}: {safe(command_label(r.created_by, cmd_w))}", file=out)
        print(f"             hidden by  layer {r.by_position}: {safe(command_label(r.by_created_by, cmd_w))}", file=out)
    b = found["bloat"]
    print(f"\nBloat (visible files an image rarely needs): {human_bytes(int(b['bytes'].sum()))}", file=out)
    print_findings(b.head(top), indent="  ", out=out)


def cmd_check(args) -> int:
    from ..analyses.dive.check import check, default_rules_file

    rules = args.rules or default_rules_file()
    inv = open_source_arg(args, progress=False)
    if args.image is None:
        args.image = only_image(inv, args.source)
    result = check(
        inv,
        args.image,
        min_efficiency=args.min_efficiency,
        max_wasted_bytes=args.max_wasted_bytes,
        max_wasted_percent=args.max_wasted_percent,
        exclude_base=args.exclude_base,
        rules=rules,
        max_reclaimable_bytes=args.max_reclaimable_bytes,
        max_reclaimable_bytes_excluding_base=args.max_reclaimable_bytes_excluding_base,
        max_bloat_bytes=args.max_bloat_bytes,
        bloat_rules=args.bloat_rules,
    )
    found = gather(inv, result.attrs["image_id"], bloat_rules=args.bloat_rules, top=args.top)
    failed = result[result["status"] == "fail"]
    if args.json:
        json.dump(
            {
                "image_id": result.attrs["image_id"],
                "exclude_base": args.exclude_base,
                "rules_file": rules,
                "pass": failed.empty,
                "rules": [
                    {"rule": r.rule, "limit": r.limit, "value": _num(r.value), "status": r.status, "message": r.message}
                    for r in result.itertuples(index=False)
                ],
                **to_json(found),
                "skipped": skipped_json(inv),
            },
            sys.stdout,
            indent=2,
        )
        print()
    else:
        where = f" (rules from {rules})" if rules else " (dive's default rules)" if not any(
            v is not None for v in (args.min_efficiency, args.max_wasted_bytes, args.max_wasted_percent,
                                    args.max_reclaimable_bytes,
                                    args.max_reclaimable_bytes_excluding_base, args.max_bloat_bytes)) else ""
        base = ", base image excluded" if args.exclude_base else ""
        echo(f"{safe(args.image)} ({result.attrs['image_id'][7:19]}){safe(where)}{base}", indent="  ")
        print_text(found)
        print("\nRules:")
        for r in result.itertuples(index=False):
            echo(f"  {r.status.upper():<8} {r.rule}: {safe(r.message)}", indent=" " * 11)
        print("PASS" if failed.empty else f"FAIL: {len(failed)} rule(s) broken")
    return 0 if failed.empty else 1


def add_parser(subparsers) -> None:
    s = subparsers.add_parser(
        "check",
        help="fail (exit 1) when an image breaks efficiency limits: dive's CI rules, without docker save",
        description="Evaluate dive's CI rules on an image. Limits come from the options, else from --rules "
        "(a .dive-ci file; ./.dive-ci is read if present, as dive does), else dive's defaults "
        "(efficiency >= 0.9, user wasted <= 10%). Exit 0: pass; 1: a limit is broken; 2: error.",
    )
    add_source(s)
    add_image(s)
    add_common(s)
    s.add_argument("--min-efficiency", metavar="F", help="lowest dive efficiency: ratio (0.9) or percent (90%%)")
    s.add_argument("--max-wasted-bytes", metavar="N", help="most dive wasted bytes: 20MB, 1GiB, 1048576")
    s.add_argument("--max-wasted-percent", metavar="P",
                   help="most wasted / bytes above the first layer: ratio (0.1) or percent (10%%)")
    s.add_argument("--exclude-base", action="store_true",
                   help="judge the image with its base image's layers squashed into one")
    s.add_argument("--rules", metavar="FILE",
                   help="dive's .dive-ci rules file (lowestEfficiency, highestWastedBytes, highestUserWastedPercent; "
                   "and layerlab's highestReclaimableBytes, highestReclaimableBytesExcludingBase, highestBloatBytes)")
    s.add_argument("--max-reclaimable-bytes", metavar="N",
                   help="most bytes the layers store that the final filesystem hides")
    s.add_argument("--max-reclaimable-bytes-excluding-base", metavar="N",
                   help="the same, in the layers above the base only (what rebuilding this image can fix)")
    s.add_argument("--max-bloat-bytes", metavar="N",
                   help="most visible bytes matching the bloat rules (see `layerlab bloat`)")
    s.add_argument("--bloat-rules", metavar="FILE", help="CSV of extra bloat rules (as `layerlab bloat --rules`)")
    s.add_argument("--top", type=top_count, default=10, help="rows of each table in the text output (default 10)")
    add_json(s, "machine-readable result")
    s.set_defaults(func=cmd_check)
