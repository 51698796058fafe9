"""``layerlab fleet``: many hosts' snapshots as one dataset (summary, find, report), on Dask."""

from __future__ import annotations

import json
import sys

from ..display import human_bytes


def _open(args):
    from ..fleet import fleet

    # Progress bars go to stderr when it is a terminal (so --json output stays clean either way).
    f = fleet(args.paths, client=args.scheduler)
    if f.dashboard_link:  # while the fleet computes: task stream, worker memory, progress
        print(f"Dask dashboard: {f.dashboard_link}", file=sys.stderr)
    return f


def _report_choices(f) -> None:
    """Skipped and superseded snapshots go to stderr: never silently dropped."""
    for r in f.skipped.itertuples(index=False):
        print(f"warning: skipped {r.snapshot}: {r.reason}", file=sys.stderr)
    for r in f.superseded.itertuples(index=False):
        print(f"note: {r.host}: {r.snapshot} (scanned {r.scanned_at}) replaced by newer {r.kept} (scanned {r.kept_scanned_at})",
              file=sys.stderr)


def cmd_summary(args) -> int:
    with _open(args) as f:
        _report_choices(f)
        data = f.summary()
        if args.json:
            json.dump(data, sys.stdout, indent=2, default=str)
            print()
            return 0
        print(f"{'HOST':<28} {'IMAGES':>6} {'LAYERS':>6} {'STORED':>9} {'RECLAIM':>9} {'CTRS':>4} {'RW':>9} {'FILES':>8}")
        for h in data["per_host"]:
            print(f"{str(h['host'])[:28]:<28} {h['images']:>6} {h['layers']:>6} {human_bytes(h['physical_size']):>9} "
                  f"{human_bytes(h['reclaimable_bytes']):>9} {h['containers']:>4} {human_bytes(h['rw_bytes']):>9} {h['files']:>8}")
        print(
            f"\n{data['hosts']} hosts, {data['images']} distinct images ({data['image_instances']} host-image pairs), "
            f"{data['layers']} distinct layers, {data['files']} files rows.\n"
            f"Stored on the hosts: {human_bytes(data['size_bytes'])}; distinct layers: {human_bytes(data['unique_layer_bytes'])} "
            f"(what one shared layer store would hold); reclaimable: {human_bytes(data['reclaimable_bytes'])} (apparent bytes)."
        )
        top = f.top_images(5)
        if len(top):
            print(f"\n{'TOP IMAGES BY FLEET-WIDE SAVINGS':<48} {'HOSTS':>5} {'RECLAIM':>9} {'FLEET':>9}")
            for r in top.itertuples(index=False):
                # one tag can name different images on different hosts: the short ID tells them apart
                name = f"{min(r.tags, key=len)} ({r.image_id[7:15]})" if len(r.tags) else r.image_id[7:19]
                print(f"{name[:48]:<48} {r.hosts:>5} {human_bytes(r.reclaimable_bytes):>9} {human_bytes(r.fleet_reclaimable_bytes):>9}")
    return 0


def cmd_find(args) -> int:
    import pandas as pd

    with _open(args) as f:
        _report_choices(f)
        hits = f.find(args.path, sha256=args.sha256, size=args.size)
        if args.json:
            rows = [{"host": r.host, "path": r.path, "kind": r.kind, "size": int(r.size),
                     "sha256": None if pd.isna(r.sha256) else r.sha256, "layer_id": r.layer_id, "images": list(r.images)}
                    for r in hits.itertuples(index=False)]
            json.dump({"hosts": sorted(set(hits["host"])), "matches": rows}, sys.stdout, indent=2)
            print()
            return 0
        if hits.empty:
            print(f"no host of {len(f.hosts)} carries it")
            return 1
        print(f"{'HOST':<28} {'SIZE':>9} {'PATH':<40} IMAGES")
        for r in hits.itertuples(index=False):
            where = ", ".join(r.images) or r.layer_id
            print(f"{str(r.host)[:28]:<28} {human_bytes(r.size):>9} {r.path[:40]:<40} {where}")
        print(f"\n{hits['host'].nunique()} of {len(f.hosts)} hosts carry it")
    return 0


def cmd_report(args) -> int:
    from ..fleet.report import render_fleet

    index = render_fleet(args.paths, args.output, scheduler=args.scheduler)
    print(f"report written: {index}")
    return 0


def _byte_count(text: str) -> int:
    import argparse

    from ..untrusted import parse_size

    try:
        return parse_size(text, "--size", units=False)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_parser(sub) -> None:
    p = sub.add_parser("fleet", help="many hosts' snapshots as one dataset, on Dask (summary, find, report)")
    fsub = p.add_subparsers(dest="fleet_command", required=True)

    def common(s):
        s.add_argument("paths", nargs="+", help="snapshot folders, folders of snapshots, globs, or URLs (s3://bucket/prefix/)")
        s.add_argument("--scheduler", metavar="ADDR", help="Dask scheduler address (default: a LocalCluster on this machine)")

    s = fsub.add_parser("summary", help="per-host and fleet-wide totals, top images by fleet-wide savings")
    common(s)
    s.add_argument("--json", action="store_true", help="machine-readable output (stable interface)")
    s.set_defaults(func=cmd_summary)

    s = fsub.add_parser("find", help="which hosts carry a path (or glob), a sha256 or a file size")
    common(s)
    what = s.add_mutually_exclusive_group(required=True)
    what.add_argument("--path", help="absolute path inside the images, or a glob such as '*/libssl.so*'")
    what.add_argument("--sha256", help="content hash (recorded by `layerlab scan --hash`)")
    what.add_argument("--size", type=_byte_count, help="file size in bytes")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_find)

    s = fsub.add_parser("report", help="render the fleet notebook to HTML")
    common(s)
    s.add_argument("-o", "--output", default="fleet-report", help="output directory (default: fleet-report/)")
    s.set_defaults(func=cmd_report)
