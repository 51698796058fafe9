"""What ``layerlab check`` shows besides the rules: dive's "Inefficient Files" table, waste by
Dockerfile line and the bloat findings, as text and as JSON."""

from __future__ import annotations

import sys

from ..display import command_label, human_bytes
from .summary import terminal_width


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
    from .bloat import print_findings

    out = out or sys.stdout
    width = terminal_width(out) or 160
    top = found["top"]
    ineff = found["inefficient"]
    print("Inefficient Files (dive's list: paths stored in two or more layers, every copy counted):", file=out)
    if ineff.empty:
        print("  none", file=out)
    else:
        print(f"  {'Count':>5}  {'Wasted Space':>12}  File Path", file=out)
        for r in ineff.head(top).itertuples(index=False):
            print(f"  {r.count:>5}  {human_bytes(r.size_bytes):>12}  {r.path}", file=out)
        if len(ineff) > top:
            print(f"  ... {len(ineff) - top} more (--top N, or --json for all)", file=out)
    lines = found["lines"]
    print("\nWaste by Dockerfile line (bytes a layer stores that a later layer hides):", file=out)
    if lines.empty:
        print("  none", file=out)
    cmd_w = max(width - 30, 30)
    for r in lines.head(top).itertuples(index=False):
        print(f"  {human_bytes(r.bytes):>9}  {r.paths} path(s) {r.reason.replace('_', '-')}", file=out)
        print(f"             written by layer {r.position}: {command_label(r.created_by, cmd_w)}", file=out)
        print(f"             hidden by  layer {r.by_position}: {command_label(r.by_created_by, cmd_w)}", file=out)
    b = found["bloat"]
    print(f"\nBloat (visible files an image rarely needs): {human_bytes(int(b['bytes'].sum()))}", file=out)
    print_findings(b.head(top), indent="  ", out=out)
