"""``layerlab diff``: two images compared path by path and layer by layer."""

from __future__ import annotations

import json
import sys

from ..display import human_bytes as _human
from ..errors import LayerlabError
from .arguments import add_common, add_json, add_source, only_image, open_source_arg, skipped_json, top_count
from .output import count, echo, line_width, middle, path_cut, safe
from .output import signed as _signed


def _open_hashed(args, source: str):
    """A source opened so that equal-sized files can be compared by content: an image read from its
    layer tars (archive, layout, registry) hashes every regular file as the tars stream (its files
    cannot be read again later); a data root's files are hashed in place when they are compared."""
    from ..sources.transports import is_transport, sniff

    streamed = source.startswith(STREAMED) or (not is_transport(source) and source != "sample"
                                                  and not source.startswith("sample:") and sniff(source) is not None)
    if not streamed:
        return open_source_arg(args, source)
    inv = open_source_arg(args, source, hash_files=True)
    inv.meta["hashed"] = int(inv.files["sha256"].notna().sum())  # as `scan --hash` records it
    return inv


#: Sources read from layer tars, whose files are hashed as they stream.
STREAMED = ("docker-archive:", "oci:", "oci-archive:", "docker://")


def cmd_diff(args) -> int:
    import pandas as pd

    from ..analyses import diff_images, diff_layers
    from ..analyses.diff.diff_rank import ranked, size_split
    from ..display import command_label
    from .arguments import progress_of

    quiet = progress_of(args)
    inv = _open_hashed(args, args.source)
    inv_b = inv if args.against is None else _open_hashed(args, args.against)
    if args.image_a is None:  # docker://A --against docker://B: each source's one image
        args.image_a = only_image(inv, args.source)
    if args.image_b is None:
        if args.against is None:
            raise LayerlabError("diff needs two images: name them (SOURCE IMAGE_A IMAGE_B), or give --against "
                                "SOURCE_B whose one image is compared with the source's")
        args.image_b = only_image(inv_b, args.against)
    paths = diff_images(inv, args.image_a, args.image_b, progress=quiet, source_b=inv_b)
    layers = diff_layers(inv, args.image_a, args.image_b, source_b=inv_b)
    split = size_split(inv, args.image_a, args.image_b, source_b=inv_b)
    order = ranked(paths)
    ia, ib = inv.image_id(args.image_a), inv_b.image_id(args.image_b)
    from ..analyses.packages import diff_packages

    pkgs = diff_packages(inv, ia, ib, source_b=inv_b)
    totals = {
        status: {"paths": int((paths["status"] == status).sum()),
                 "bytes": int(paths.loc[paths["status"] == status, "size_delta"].sum())}
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
            "image_size": {"a": split["size_a"], "b": split["size_b"], "delta": split["delta"],
                           "layers": split["layers"]},
            "skipped": skipped_json(inv, inv_b),
            "ranked": [
                {"status": r.status, "path": r.path, "changes": r.changes.split(",") if r.changes else [],
                 "bytes": int(r.bytes), "size_delta": int(r.size_delta), "paths": int(r.paths),
                 "grouped": bool(r.grouped)}
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
    width = line_width()
    name_a, name_b = safe(args.image_a), safe(args.image_b)
    where_b = f" in {safe(inv_b.meta.get('snapshot') or inv_b.source)}" if args.against is not None else ""
    echo(f"{name_a} ({ia[7:19]}) -> {name_b} ({ib[7:19]}){where_b}", indent="  ")
    print(f"image size: {_human(split['size_a'])} -> {_human(split['size_b'])} ({_signed(split['delta'])})")
    echo(f"layers: {count(len(shared), 'shared layer')} ({_human(shared['size'].sum())}), "
         f"{int((layers['in'] == 'a').sum()):,} only in {name_a}, "
         f"{int((layers['in'] == 'b').sum()):,} only in {name_b}",
         indent="  ")
    for layer in split["layers"][: args.top]:
        who = middle(args.image_a if layer["in"] == "a" else args.image_b, 30)
        head = f"  {_signed(layer['bytes']):>10}  layer {layer['position']} of {who}: "
        print(head + safe(command_label(layer["created_by"], max(width - len(head), 8))))
    if len(split["layers"]) > args.top:
        print(f"  ... {count(len(split['layers']) - args.top, 'more layer')} (--json for all)")
    if len(pkgs):
        print("packages:")
        for status in ("added", "removed", "changed"):
            part = pkgs[pkgs["status"] == status]
            if len(part):
                print(f"  {status:<8} {len(part):>7,} packages  {_signed(part['bytes_delta'].sum())}")
        top = pkgs.reindex(pkgs["bytes_delta"].abs().sort_values(ascending=False, kind="stable").index).head(args.top)
        for r in top.itertuples(index=False):
            versions = r.version_b if r.status == "added" else r.version_a if r.status == "removed" else \
                f"{r.version_a} -> {r.version_b}"
            head = f"  {r.status:<8} {_signed(r.bytes_delta):>10}  {r.ecosystem:<9} "
            print(head + middle(safe(f"{r.name} {versions}"), max(width - len(head), 8)))
        if len(pkgs) > len(top):
            print(f"  ... {count(len(pkgs) - len(top), 'more package')} (--json for all)")
    print("paths:")
    for status in ("added", "removed", "changed"):
        t = totals[status]
        print(f"  {status:<8} {t['paths']:>7,} paths  {_signed(t['bytes'])}")
    print(f"  file content {_signed(int(paths['size_delta'].sum()))} in total")
    if len(order):
        shown = order.head(args.top)
        change_w = min(22, max(width - 70, 8))  # narrower on a narrow terminal, so the path keeps room
        path_w = max(width - 33 - change_w, 10)
        print(f"\n{'STATUS':<8} {'SIZE':>9} {'DELTA':>10}  {'CHANGES':<{change_w}} PATH")
        for r in shown.itertuples(index=False):
            changes = middle(r.changes or "", change_w)
            if r.grouped:
                under = path_cut(r.path, path_w - 18)
                print(f"{r.status:<8} {'':>9} {'':>10}  {changes:<{change_w}} {r.paths:,} paths under {under}")
            else:
                print(f"{r.status:<8} {_human(r.bytes):>9} {_signed(r.size_delta):>10}  {changes:<{change_w}} "
                      f"{path_cut(r.path, path_w)}")
        if len(order) > len(shown):
            print(f"... {count(len(order) - len(shown), 'more row')} (--top N, or --json for all)")
    return 0


def add_parser(subparsers) -> None:
    s = subparsers.add_parser("diff", help="compare two images path by path (added, removed, changed; shared layers)")
    add_source(s)
    s.add_argument("image_a", nargs="?",
                   help="the old image: tag, ID or ID prefix (optional when the source holds one)")
    s.add_argument("image_b", nargs="?", help="the new image: tag, ID or ID prefix (optional with --against a source "
                                              "holding one)")
    add_common(s)
    s.add_argument("--top", type=top_count, default=30,
                   help="rows listed (content changes by size first, then metadata-only changes "
                   "grouped per directory; default 30)")
    s.add_argument("--against", metavar="SOURCE_B", help="look image_b up in another source (a later snapshot of the "
                                                         "same host, a registry image against an archive)")
    add_json(s, "machine-readable output, every path")
    s.set_defaults(func=cmd_diff)
