"""``layerlab fleet``: many hosts' snapshots as one dataset (summary, find, report), on Dask."""

from __future__ import annotations

import json
import sys

from ..display import human_bytes, short_name
from .output import count, echo, line_width, middle, path_cut, safe


def _open(args):
    from ..fleet import fleet

    # Progress bars go to stderr when it is a terminal (so --json output stays clean either way).
    f = fleet(args.paths, client=args.scheduler)
    if f.dashboard_link:  # while the fleet computes: task stream, worker memory, progress
        print(f"Dask dashboard: {f.dashboard_link}", file=sys.stderr)
    return f


def _report_skipped(f) -> None:
    """One line for the snapshots skipped, by kind (damaged, unreadable, other format), then each
    with its reason when there are at most ten (``--json``'s ``skipped`` lists them all)."""
    from ..fleet.snapshots import skip_kind

    if f.skipped.empty:
        return
    kinds = f.skipped["reason"].map(skip_kind).value_counts()
    total = len(f.skipped) + len(f.hosts) + len(f.superseded)
    echo(f"warning: skipped {len(f.skipped):,} of {total:,} snapshots: "
         + ", ".join(f"{n:,} {kind}" for kind, n in kinds.items())
         + (" (--json's skipped lists each with its reason)" if len(f.skipped) > 10 else ""),
         out=sys.stderr, indent="  ")
    if len(f.skipped) <= 10:
        for r in f.skipped.itertuples(index=False):
            echo(f"skipped {safe(r.snapshot)}: {safe(r.reason)}", out=sys.stderr, indent="    ")


def _report_choices(f) -> None:
    """Skipped and superseded snapshots go to stderr: never silently dropped."""
    _report_skipped(f)
    if len(f.superseded) > 10:  # HOST/DATE.layerlab series: one note, not a line per night and host
        echo(f"note: {len(f.superseded):,} older scans of {f.superseded['host'].nunique():,} hosts replaced by each "
             "host's newest (`layerlab fleet trend` reads them as a time series)", out=sys.stderr, indent="  ")
        return
    for r in f.superseded.itertuples(index=False):
        echo(f"note: {safe(r.host)}: {safe(r.snapshot)} (scanned {r.scanned_at}) replaced by newer {safe(r.kept)} "
             f"(scanned {r.kept_scanned_at})", out=sys.stderr, indent="  ")


def cmd_fleet_summary(args) -> int:
    with _open(args) as f:
        _report_choices(f)
        data = f.summary()
        if args.json:
            json.dump(data, sys.stdout, indent=2, default=str)
            print()
            return 0
        print(f"{'HOST':<28} {'IMAGES':>6} {'LAYERS':>6} {'STORED':>9} {'RECLAIM':>9} {'CTRS':>4} {'RW':>9} "
              f"{'FILES':>8}")
        for h in data["per_host"]:
            print(f"{middle(h['host'], 28):<28} {h['images']:>6,} {h['layers']:>6,} "
                  f"{human_bytes(h['physical_size']):>9} "
                  f"{human_bytes(h['reclaimable_bytes']):>9} {h['containers']:>4,} {human_bytes(h['rw_bytes']):>9} "
                  f"{h['files']:>8,}")
        echo(f"\n{count(data['hosts'], 'host')}, {count(data['images'], 'distinct image')} "
             f"({count(data['image_instances'], 'host-image pair')}), {count(data['layers'], 'distinct layer')}, "
             f"{count(data['files'], 'files row')}.", indent="  ")
        echo(f"Stored on the hosts: {human_bytes(data['size_bytes'])}; distinct layers: "
             f"{human_bytes(data['unique_layer_bytes'])} (what one shared layer store would hold); reclaimable: "
             f"{human_bytes(data['reclaimable_bytes'])} (apparent bytes; docs/glossary.md).", indent="  ")
        top = f.top_images(5)
        if len(top):
            print(f"\n{'TOP IMAGES BY FLEET-WIDE SAVINGS':<48} {'HOSTS':>5} {'RECLAIM':>9} {'FLEET':>9}")
            for r in top.itertuples(index=False):
                # one tag can name different images on different hosts: the short ID tells them apart
                name = short_name(r.tags, r.image_id) + (f" ({r.image_id[7:15]})" if len(r.tags) else "")
                print(f"{middle(name, 48):<48} {r.hosts:>5,} {human_bytes(r.reclaimable_bytes):>9} "
                      f"{human_bytes(r.fleet_reclaimable_bytes):>9}")
    return 0


def cmd_fleet_find(args) -> int:
    import pandas as pd

    with _open(args) as f:
        _report_choices(f)
        hits = f.find(args.path, sha256=args.sha256, size=args.size)
        if args.json:
            rows = [{"host": r.host, "path": r.path, "kind": r.kind, "size": int(r.size),
                     "sha256": None if pd.isna(r.sha256) else r.sha256, "layer_id": r.layer_id,
                     "images": list(r.images)}
                    for r in hits.itertuples(index=False)]
            json.dump({"hosts": sorted(set(hits["host"])), "matches": rows}, sys.stdout, indent=2)
            print()
            return 0
        if hits.empty:
            print(f"no host of {len(f.hosts):,} carries it")
            return 1
        print(f"{'HOST':<28} {'SIZE':>9} {'PATH':<40} IMAGES")
        # one row per host, path, size and images: the same file in several layers of one host's
        # images is one line (--json keeps each layer)
        rows: dict = {}
        for r in hits.itertuples(index=False):
            key = (str(r.host), r.path, int(r.size), ", ".join(r.images) or r.layer_id)
            rows[key] = rows.get(key, 0) + 1
        room = max(line_width() - 80, 12)  # what the IMAGES column has left of the width
        for (host, path, size, where), layers in rows.items():
            more = f" ({layers} layers)" if layers > 1 else ""
            images = middle(where, max(room - len(more), 8)) + more
            print(f"{middle(host, 28):<28} {human_bytes(size):>9} {path_cut(path, 40):<40} {images}")
        print(f"\n{hits['host'].nunique()} of {len(f.hosts)} hosts carry it")
    return 0


def cmd_fleet_trend(args) -> int:
    with _open(args) as f:
        _report_skipped(f)  # superseded scans are the time series here, not replaced
        per = f.trend()
        days = f.trend(by="date")

        def when(t):
            return None if t is None or t != t else t.isoformat()

        if args.json:
            keys = ("images", "size_bytes", "reclaimable_bytes", "dangling_images")
            data = {
                "snapshots": [{"host": r["host"], "time": when(r["time"]), **{k: int(r[k]) for k in keys}}
                              for r in per.to_dict("records")],
                "fleet": [{"date": r["date"].date().isoformat(), "hosts": int(r["hosts"]),
                           "hosts_scanned": int(r["hosts_scanned"]), "image_instances": int(r["image_instances"]),
                           **{k: int(r[k]) for k in keys}} for r in days.to_dict("records")],
            }
            json.dump(data, sys.stdout, indent=2)
            print()
            return 0
        print(f"{'HOST':<28} {'SCANNED':<20} {'IMAGES':>6} {'STORED':>9} {'RECLAIM':>9} {'DANGLING':>8}")
        for r in per.itertuples(index=False):
            t = r.time.strftime("%Y-%m-%d %H:%M") if r.time == r.time else "unknown"
            print(f"{middle(r.host, 28):<28} {t:<20} {r.images:>6} {human_bytes(r.size_bytes):>9} "
                  f"{human_bytes(r.reclaimable_bytes):>9} {r.dangling_images:>8}")
        print(f"\n{'FLEET ON':<12} {'HOSTS':>5} {'SCANNED':>7} {'IMAGES':>6} {'STORED':>9} {'RECLAIM':>9} "
              f"{'DANGLING':>8}")
        for r in days.itertuples(index=False):
            print(f"{r.date.strftime('%Y-%m-%d'):<12} {r.hosts:>5} {r.hosts_scanned:>7} {r.images:>6} "
                  f"{human_bytes(r.size_bytes):>9} {human_bytes(r.reclaimable_bytes):>9} {r.dangling_images:>8}")
    return 0


def cmd_fleet_report(args) -> int:
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
    p = sub.add_parser("fleet", help="many hosts' snapshots as one dataset, on Dask (summary, find, trend, report)")
    fsub = p.add_subparsers(dest="fleet_command", required=True)

    def common(s):
        s.add_argument("paths", nargs="+", help="snapshot folders, folders of snapshots, globs, or URLs (s3://bucket/prefix/)")
        s.add_argument("--scheduler", metavar="ADDR",
                       help="Dask scheduler address (default: a LocalCluster on this machine)")

    s = fsub.add_parser("summary", help="per-host and fleet-wide totals, top images by fleet-wide savings")
    common(s)
    s.add_argument("--json", action="store_true", help="machine-readable output (stable interface)")
    s.set_defaults(func=cmd_fleet_summary)

    s = fsub.add_parser("find", help="which hosts carry a path (or glob), a sha256 or a file size")
    common(s)
    what = s.add_mutually_exclusive_group(required=True)
    what.add_argument("--path", help="absolute path inside the images, or a glob such as '*/libssl.so*'")
    what.add_argument("--sha256", help="content hash (recorded by `layerlab scan --hash`)")
    what.add_argument("--size", type=_byte_count, help="file size in bytes")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_fleet_find)

    s = fsub.add_parser("trend", help="each host's snapshots over time (HOST/DATE.layerlab) and the fleet per day")
    common(s)
    s.add_argument("--json", action="store_true", help="machine-readable output (stable interface)")
    s.set_defaults(func=cmd_fleet_trend)

    s = fsub.add_parser("report", help="render the fleet notebook to HTML")
    common(s)
    s.add_argument("-o", "--output", default="fleet-report", help="output directory (default: fleet-report/)")
    s.set_defaults(func=cmd_fleet_report)
