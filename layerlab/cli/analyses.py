"""``layerlab diff`` and ``layerlab check``: the analyses on the command line."""

from __future__ import annotations

import json
import math
import sys

from ..display import human_bytes as _human
from ..errors import LayerlabError


def _num(x):
    if x is None:
        return None
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _printable(path: str) -> str:
    # A newline or other control character in a file name would break the line it is printed on.
    return path if path.isprintable() else path.encode("unicode_escape", "backslashreplace").decode("ascii")


def cmd_diff(args) -> int:
    import pandas as pd

    from ..analyses import diff_images, diff_layers
    from ..analyses.diff.diff_rank import ranked, size_split
    from ..display import command_label
    from ..sources import open_source

    quiet = False if args.json else None
    inv = open_source(args.source, driver=args.driver, progress=quiet, platform=args.platform)
    inv_b = inv if args.against is None else open_source(args.against, driver=args.driver, progress=quiet, platform=args.platform)
    paths = diff_images(inv, args.image_a, args.image_b, progress=quiet, source_b=inv_b)
    layers = diff_layers(inv, args.image_a, args.image_b, source_b=inv_b)
    split = size_split(inv, args.image_a, args.image_b, source_b=inv_b)
    order = ranked(paths)
    ia, ib = inv.image_id(args.image_a), inv_b.image_id(args.image_b)
    from ..analyses.packages import diff_packages

    pkgs = diff_packages(inv, ia, ib, source_b=inv_b)
    totals = {
        status: {"paths": int((paths["status"] == status).sum()), "bytes": int(paths.loc[paths["status"] == status, "size_delta"].sum())}
        for status in ("added", "removed", "changed")
    }
    if args.json:
        data = {
            "a": {"image_id": ia, "ref": args.image_a, "source": inv.source, "snapshot": inv.meta.get("snapshot")},
            "b": {"image_id": ib, "ref": args.image_b, "source": inv_b.source, "snapshot": inv_b.meta.get("snapshot")},
            "shared_layers": [lid for lid, where in zip(layers["layer_id"], layers["in"]) if where == "both"],
            "only_a_layers": [lid for lid, where in zip(layers["layer_id"], layers["in"]) if where == "a"],
            "only_b_layers": [lid for lid, where in zip(layers["layer_id"], layers["in"]) if where == "b"],
            "totals": totals,
            "packages": [
                {"status": r.status, "ecosystem": r.ecosystem, "name": r.name,
                 "version_a": None if pd.isna(r.version_a) else r.version_a,
                 "version_b": None if pd.isna(r.version_b) else r.version_b,
                 "bytes_a": int(r.bytes_a), "bytes_b": int(r.bytes_b), "bytes_delta": int(r.bytes_delta)}
                for r in pkgs.itertuples(index=False)
            ],
            "size_delta": int(paths["size_delta"].sum()),
            "image_size": {"a": split["size_a"], "b": split["size_b"], "delta": split["delta"], "layers": split["layers"]},
            "ranked": [
                {"status": r.status, "path": r.path, "changes": r.changes.split(",") if r.changes else [],
                 "bytes": int(r.bytes), "size_delta": int(r.size_delta), "paths": int(r.paths), "grouped": bool(r.grouped)}
                for r in order.itertuples(index=False)
            ],
            "paths": [
                {
                    "path": r.path,
                    "status": r.status,
                    "changes": r.changes.split(",") if isinstance(r.changes, str) and r.changes else [],
                    "kind_a": r.kind_a,
                    "kind_b": r.kind_b,
                    "size_a": int(r.size_a),
                    "size_b": int(r.size_b),
                    "size_delta": int(r.size_delta),
                    "content_changed": None if pd.isna(r.content_changed) else bool(r.content_changed),
                }
                for r in paths.itertuples(index=False)
            ],
        }
        json.dump(data, sys.stdout, indent=2)
        print()
        return 0
    shared = layers[layers["in"] == "both"]
    where_b = f" in {inv_b.meta.get('snapshot') or inv_b.source}" if args.against is not None else ""
    print(f"{args.image_a} ({ia[7:19]}) -> {args.image_b} ({ib[7:19]}){where_b}")
    print(f"image size: {_human(split['size_a'])} -> {_human(split['size_b'])} ({_signed(split['delta'])})")
    print(f"layers: {len(shared)} shared ({_human(shared['size'].sum())}), "
          f"{int((layers['in'] == 'a').sum())} only in {args.image_a}, {int((layers['in'] == 'b').sum())} only in {args.image_b}")
    for layer in split["layers"][: args.top]:
        who = args.image_a if layer["in"] == "a" else args.image_b
        print(f"  {_signed(layer['bytes']):>10}  layer {layer['position']} of {who}: {command_label(layer['created_by'], 70)}")
    if len(split["layers"]) > args.top:
        print(f"  ... {len(split['layers']) - args.top} more layers (--json for all)")
    if len(pkgs):
        print("packages:")
        for status in ("added", "removed", "changed"):
            part = pkgs[pkgs["status"] == status]
            if len(part):
                print(f"  {status:<8} {len(part):>7} packages  {_signed(part['bytes_delta'].sum())}")
        top = pkgs.reindex(pkgs["bytes_delta"].abs().sort_values(ascending=False, kind="stable").index).head(args.top)
        for r in top.itertuples(index=False):
            versions = r.version_b if r.status == "added" else r.version_a if r.status == "removed" else \
                f"{r.version_a} -> {r.version_b}"
            print(f"  {r.status:<8} {_signed(r.bytes_delta):>10}  {r.ecosystem:<9} {_printable(r.name)} {_printable(str(versions))}")
        if len(pkgs) > len(top):
            print(f"  ... {len(pkgs) - len(top)} more packages (--json for all)")
    print("paths:")
    for status in ("added", "removed", "changed"):
        t = totals[status]
        print(f"  {status:<8} {t['paths']:>7} paths  {_signed(t['bytes'])}")
    print(f"  file content {_signed(int(paths['size_delta'].sum()))} in total")
    if len(order):
        shown = order.head(args.top)
        print(f"\n{'STATUS':<8} {'SIZE':>9} {'DELTA':>10}  {'CHANGES':<22} PATH")
        for r in shown.itertuples(index=False):
            if r.grouped:
                print(f"{r.status:<8} {'':>9} {'':>10}  {(r.changes or '')[:22]:<22} {r.paths} paths under {_printable(r.path)}")
            else:
                print(f"{r.status:<8} {_human(r.bytes):>9} {_signed(r.size_delta):>10}  {(r.changes or '')[:22]:<22} {_printable(r.path)}")
        if len(order) > len(shown):
            print(f"... {len(order) - len(shown)} more rows (--top N, or --json for all)")
    return 0


def _signed(n) -> str:
    """``+1.05 MB`` / ``-262 kB`` / ``0 B``."""
    n = int(n)
    return ("+" if n > 0 else "-" if n < 0 else "") + _human(abs(n))


def only_image(inv, source: str) -> str:
    """The name of a source's one image (docker://REF, an archive of one, containers-storage:REF), for
    commands whose image argument may then be left out."""
    if len(inv.images) != 1:
        raise LayerlabError(f"{source} holds {len(inv.images)} images; name one (tag, ID or ID prefix)")
    return inv.images["tags"].iloc[0][0] if len(inv.images["tags"].iloc[0]) else inv.images["image_id"].iloc[0]


def cmd_check(args) -> int:
    from ..analyses.dive.check import check, default_rules_file
    from ..sources import open_source

    rules = args.rules or default_rules_file()
    inv = open_source(args.source, driver=args.driver, progress=False, platform=args.platform)
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
    from . import findings as cli_findings

    found = cli_findings.gather(inv, result.attrs["image_id"], bloat_rules=args.bloat_rules, top=args.top)
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
                **cli_findings.to_json(found),
            },
            sys.stdout,
            indent=2,
        )
        print()
    else:
        where = f" (rules from {rules})" if rules else " (dive's default rules)" if not any(
            v is not None for v in (args.min_efficiency, args.max_wasted_bytes, args.max_wasted_percent, args.max_reclaimable_bytes,
                                    args.max_reclaimable_bytes_excluding_base, args.max_bloat_bytes)) else ""
        base = ", base image excluded" if args.exclude_base else ""
        print(f"{args.image} ({result.attrs['image_id'][7:19]}){where}{base}")
        cli_findings.print_text(found)
        print("\nRules:")
        for r in result.itertuples(index=False):
            print(f"  {r.status.upper():<8} {r.rule}: {r.message}")
        print("PASS" if failed.empty else f"FAIL: {len(failed)} rule(s) broken")
    return 0 if failed.empty else 1


def add_parser(subparsers) -> None:
    s = subparsers.add_parser("diff", help="compare two images path by path (added, removed, changed; shared layers)")
    s.add_argument("source", help="data root, .layerlab snapshot, docker-archive:PATH, oci:DIR[:REF], oci-archive:PATH[:REF], docker://REF, containers-storage:[REF], or 'sample'")
    s.add_argument("image_a", help="the old image: tag, ID or ID prefix")
    s.add_argument("image_b", help="the new image: tag, ID or ID prefix")
    s.add_argument("--driver", help="storage driver, when the root holds several image stores")
    s.add_argument("--top", type=int, default=30, help="rows listed (content changes by size first, then metadata-only changes "
                   "grouped per directory; default 30)")
    s.add_argument("--against", metavar="SOURCE_B", help="look image_b up in another source (a later snapshot of the same host, a registry image against an archive)")
    s.add_argument("--platform", help="os/arch[/variant] to read from a docker:// index (default: this host's) or an OCI layout (default: all)")
    s.add_argument("--json", action="store_true", help="machine-readable output, every path")
    s.set_defaults(func=cmd_diff)

    s = subparsers.add_parser(
        "check",
        help="fail (exit 1) when an image breaks efficiency limits: dive's CI rules, without docker save",
        description="Evaluate dive's CI rules on an image. Limits come from the options, else from --rules "
        "(a .dive-ci file; ./.dive-ci is read if present, as dive does), else dive's defaults "
        "(efficiency >= 0.9, user wasted <= 10%%). Exit 0: pass; 1: a limit is broken; 2: error.",
    )
    s.add_argument("source", help="data root, .layerlab snapshot, docker-archive:PATH, oci:DIR[:REF], oci-archive:PATH[:REF], docker://REF, containers-storage:[REF], or 'sample'")
    s.add_argument("image", nargs="?", help="tag, ID or ID prefix (optional when the source holds one image, e.g. docker://REF)")
    s.add_argument("--driver", help="storage driver, when the root holds several image stores")
    s.add_argument("--platform", help="os/arch[/variant] to read from a docker:// index (default: this host's) or an OCI layout (default: all)")
    s.add_argument("--min-efficiency", metavar="F", help="lowest dive efficiency: ratio (0.9) or percent (90%%)")
    s.add_argument("--max-wasted-bytes", metavar="N", help="most dive wasted bytes: 20MB, 1GiB, 1048576")
    s.add_argument("--max-wasted-percent", metavar="P", help="most wasted / bytes above the first layer: ratio (0.1) or percent (10%%)")
    s.add_argument("--exclude-base", action="store_true", help="judge the image with its base image's layers squashed into one")
    s.add_argument("--rules", metavar="FILE", help="dive's .dive-ci rules file (lowestEfficiency, highestWastedBytes, highestUserWastedPercent; "
                   "and layerlab's highestReclaimableBytes, highestReclaimableBytesExcludingBase, highestBloatBytes)")
    s.add_argument("--max-reclaimable-bytes", metavar="N", help="most bytes the layers store that the final filesystem hides")
    s.add_argument("--max-reclaimable-bytes-excluding-base", metavar="N",
                   help="the same, in the layers above the base only (what rebuilding this image can fix)")
    s.add_argument("--max-bloat-bytes", metavar="N", help="most visible bytes matching the bloat rules (see `layerlab bloat`)")
    s.add_argument("--bloat-rules", metavar="FILE", help="CSV of extra bloat rules (as `layerlab bloat --rules`)")
    s.add_argument("--top", type=int, default=10, help="rows of each table in the text output (default 10)")
    s.add_argument("--json", action="store_true", help="machine-readable result")
    s.set_defaults(func=cmd_check)
