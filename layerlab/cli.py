"""The ``layerlab`` command: scan, summary, report (and registry, diff, check as they land)."""

from __future__ import annotations

import argparse
import json
import sys

import pandas as pd

from . import __version__
from ._format import human_bytes
from .errors import LayerlabError


def summary_dict(inv) -> dict:
    """The stable machine interface of ``layerlab summary --json``."""
    from .analyses.waste import summary_fields

    images = inv.images[~inv.images["intermediate"]]
    chain = inv.image_layers[inv.image_layers["image_id"].isin(images["image_id"])]
    distinct = chain.drop_duplicates("layer_id")
    logical = int(images["size"].sum())
    physical = int(distinct["size"].sum())
    return {
        "source": inv.source,
        "driver": inv.meta.get("driver"),
        "image_store": inv.meta.get("image_store"),
        "images": [
            {
                "image_id": r.image_id,
                "tags": list(r.tags),
                "size": int(r.size),
                "layer_count": int(r.layer_count),
                "shared_size": int(r.shared_size),
                "unique_size": int(r.unique_size),
                "container_count": int(r.container_count),
                **summary_fields(inv, r.image_id),
            }
            for r in images.itertuples(index=False)
        ],
        "containers": [
            {
                "container_id": r.container_id,
                "name": r.name,
                "image_id": r.image_id,
                "rw_size": None if pd.isna(r.rw_size) else int(r.rw_size),
            }
            for r in inv.containers.itertuples(index=False)
        ],
        "totals": {
            "images": len(images),
            "layers": len(distinct),
            "logical_size": logical,
            "physical_size": physical,
            "dedup_ratio": round(logical / physical, 4) if physical else None,
        },
    }


def cmd_scan(args) -> int:
    from . import scan

    out = scan(args.root, args.output, driver=args.driver, files=args.files, hash=args.hash, progress=not args.quiet)
    from .frames.snapshot import load

    snap = load(out)
    skipped = snap.skipped
    print(f"wrote {out}: {len(snap.images)} images, {len(snap.layers)} layers, {len(snap.files)} files")
    if len(skipped):
        print(f"warning: {len(skipped)} item(s) could not be read and are recorded in the snapshot's `skipped` frame:", file=sys.stderr)
        for r in skipped.head(10).itertuples(index=False):
            print(f"  {r.what} {r.id}: {r.reason}", file=sys.stderr)
    return 0


def cmd_summary(args) -> int:
    from .sources import open_source

    inv = open_source(args.source, driver=args.driver, progress=False if args.json else None)
    data = summary_dict(inv)
    if args.json:
        json.dump(data, sys.stdout, indent=2)
        print()
        return 0
    where = data["source"]
    if inv.meta.get("snapshot"):
        where = f"{inv.meta['snapshot']}  (scanned from {where} on {inv.meta.get('host')} at {inv.meta.get('scanned_at')})"
    print(f"{where}  ({data['image_store']}, {data['driver']})")
    print(f"{'IMAGE':<40} {'ID':<12} {'SIZE':>9} {'SHARED':>9} {'UNIQUE':>9} {'LAYERS':>6} {'CTRS':>4}")
    for im in sorted(data["images"], key=lambda i: -i["size"]):
        name = ", ".join(im["tags"]) or "<none>"
        print(
            f"{name[:40]:<40} {im['image_id'][7:19]:<12} {human_bytes(im['size']):>9} {human_bytes(im['shared_size']):>9} "
            f"{human_bytes(im['unique_size']):>9} {im['layer_count']:>6} {im['container_count']:>4}"
        )
    if data["containers"]:
        print(f"\n{'CONTAINER':<24} {'ID':<12} {'RW SIZE':>9}")
        for c in data["containers"]:
            print(f"{c['name'][:24]:<24} {c['container_id'][:12]:<12} {human_bytes(c['rw_size']):>9}")
    t = data["totals"]
    print(
        f"\n{t['images']} images, {t['layers']} distinct layers: {human_bytes(t['logical_size'])} if every image were stored "
        f"alone, {human_bytes(t['physical_size'])} stored (layer dedup {t['dedup_ratio']}x; apparent bytes)"
    )
    return 0


def cmd_report(args) -> int:
    from .reports import render_all

    params = {}
    for item in args.param or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise LayerlabError(f"--param takes key=value, got {item!r}")
        params[key] = value
    index = render_all(args.source, args.output, params=params, driver=args.driver)
    print(f"report written: {index}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="layerlab", description="Look inside Docker image storage.")
    p.add_argument("--version", action="version", version=f"layerlab {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("scan", help="read a data root (as root) into a .layerlab snapshot")
    s.add_argument("root", help="Docker data root, e.g. /var/lib/docker")
    s.add_argument("-o", "--output", required=True, help="snapshot to write, e.g. host.layerlab")
    s.add_argument("--driver", help="storage driver, when the root holds several image stores")
    s.add_argument("--files", choices=("auto", "walk", "tar-split"), default="auto", help="where image layers' files are read from")
    s.add_argument("--hash", action="store_true", help="record sha256 of files that have an identical twin (reads only files sharing a size)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_scan)

    s = sub.add_parser("summary", help="images, containers and totals of a data root or snapshot")
    s.add_argument("source", nargs="?", default="sample", help="data root, .layerlab snapshot, or 'sample' (default)")
    s.add_argument("--driver", help="storage driver, when the root holds several image stores")
    s.add_argument("--json", action="store_true", help="machine-readable output (stable interface)")
    s.set_defaults(func=cmd_summary)

    s = sub.add_parser("report", help="run the notebooks on a source and render them to HTML")
    s.add_argument("source", nargs="?", default="sample", help="data root, .layerlab snapshot, or 'sample' (default)")
    s.add_argument("-o", "--output", default="reports", help="output directory (default: reports/)")
    s.add_argument("--driver", help="storage driver, when the root holds several image stores")
    s.add_argument("--param", action="append", metavar="KEY=VALUE", help="notebook parameter (repeatable)")
    s.set_defaults(func=cmd_report)

    for name in ("cli_registry", "cli_analyses", "cli_fleet"):
        try:
            module = __import__(f"layerlab.{name}", fromlist=["add_parser"])
        except ModuleNotFoundError as e:
            if e.name != f"layerlab.{name}":
                raise
            continue
        module.add_parser(sub)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except LayerlabError as e:
        print(f"layerlab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into head and the like
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
