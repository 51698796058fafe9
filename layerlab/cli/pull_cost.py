"""``layerlab pull-cost``: how long a pull takes, layer by layer; and ``layerlab registry churn``: what
each release of a repository makes a host download (analyses/pullcost.py)."""

from __future__ import annotations

import argparse
import json

from ..display import human_bytes
from .arguments import add_registry_client, registry_client


def _client(args):
    return registry_client(args)  # the registry options every command shares (cli/arguments.py)


def cmd_churn(args) -> int:
    from ..analyses.pullcost import release_cost, release_cost_json

    with _client(args) as client:
        frame = release_cost(args.repository, client, platform=args.platform, hosts=args.hosts)
    data = release_cost_json(frame)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    fleet = "  FLEET" if args.hosts is not None else ""
    print(f"{data['repository']}\n{'TAG':<20} {'CREATED':<20} {'NEW BYTES':>12} {'NEW':>4} {'FIRST':>5}{fleet}  "
          "FIRST CHANGED LAYER MADE BY")
    for t in data["tags"]:
        first = "-" if t["first_changed_position"] is None else t["first_changed_position"]
        extra = f"  {human_bytes(t['fleet_bytes']):>8}" if "fleet_bytes" in t else ""
        print(f"{t['tag'][:20]:<20} {(t['created'] or '')[:19]:<20} {human_bytes(t['new_bytes']):>12} "
              f"{t['new_layers']:>4} {first!s:>5}{extra}  {(t['created_by'] or '')[:70]}")
    return 0


def client_options(p: argparse.ArgumentParser) -> None:
    add_registry_client(p)  # written once for every command (cli/arguments.py)


def add_churn_parser(sub) -> None:
    """``registry churn``, added to the ``registry`` command's subparsers."""
    s = sub.add_parser("churn", help="per tag, oldest image first: the compressed bytes and layers a host "
                       "holding the previous tag must download")
    s.add_argument("repository", help="repository, e.g. localhost:5000/team/app")
    s.add_argument("--platform", help="the platform a pull takes from an index (default: this host's)")
    s.add_argument("--hosts", type=int, help="hosts in the fleet: adds hosts x new bytes per release")
    s.add_argument("--json", action="store_true", help="machine-readable output (stable interface)")
    client_options(s)
    s.set_defaults(func=cmd_churn)


def _seconds(v) -> str:
    return "" if v is None else f"{v:8.2f}"


def cmd_pull_cost(args) -> int:
    from ..analyses.pullcost import pull_cost

    with _client(args) as client:
        cost = pull_cost(args.source, args.image, bandwidth=args.bandwidth, concurrency=args.concurrency,
                         have=args.have or None, client=client, platform=args.platform, latency=args.latency,
                         layer_overhead=args.layer_overhead, pull_overhead=args.pull_overhead)
    data = cost.to_dict()
    table = None
    if args.what_if:
        from ..analyses.pullcost import what_if

        table = what_if(cost, changes=args.changes)
        data["what_if"] = [{k: (int(v) if k in ("layers", "pull_bytes", "release_bytes") else
                                round(float(v), 6) if k == "pull_seconds" else bool(v) if k == "estimated" else v)
                            for k, v in row.items()} for row in table.to_dict("records")]
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    inputs = data["inputs"]
    speeds = ", ".join(f"{k} {human_bytes(v)}/s" for k, v in inputs["inflate_bytes_per_second"].items())
    print(f"{data['reference']} [{data['platform']}]\n  {human_bytes(inputs['bandwidth_bytes_per_second'])}/s, "
          f"{inputs['concurrency']} downloads at once, {inputs['latency_seconds'] * 1000:.1f} ms per request; "
          f"inflate {speeds}")
    engines = list(data["engines"].items())
    if not cost.differs():
        engines = engines[:1]
    for engine, e in engines:
        print(f"\n{engine}: {e['total_seconds']:.2f} s, {human_bytes(e['bytes_fetched'])} fetched "
              f"({e['bytes_fetched']} bytes)")
        print(f"  {'POS':>3} {'FETCHED':>10} {'UNPACKED':>10}  {'DOWNLOAD (s)':>17}  {'UNPACK (s)':>17}")
        for layer in e["layers"]:
            fetched = human_bytes(layer["bytes_fetched"]) if layer["fetched"] else "present"
            unpacked = human_bytes(layer["uncompressed"]) if layer["unpacked"] else "present"
            print(f"  {layer['position']:>3} {fetched:>10} {unpacked:>10}  {_seconds(layer['download_start'])}"
                  f" {_seconds(layer['download_end'])}  {_seconds(layer['unpack_start'])} "
                  f"{_seconds(layer['unpack_end'])}")
    if table is not None:
        print(f"\nwhat if (dockerd, an empty host):\n  {'VARIANT':<10} {'LAYERS':>6} {'PULL':>10} {'SECONDS':>8} "
              f"{'PER RELEASE':>12}")
        for row in table.itertuples(index=False):
            mark = "~" if row.estimated else " "
            print(f"  {row.variant:<10} {row.layers:>6} {mark}{human_bytes(row.pull_bytes):>9} "
                  f"{row.pull_seconds:>8.2f} {mark}{human_bytes(row.release_bytes):>11}  {row.note}")
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("pull-cost", help="how long pulling an image takes, layer by layer (a model of "
                              "dockerd's and containerd's pull)")
    p.add_argument("source", help="a registry reference to pull onto an empty host, or the host's store (a data "
                   "root, snapshot, archive) when IMAGE is given")
    p.add_argument("image", nargs="?", help="the registry reference to pull onto the host SOURCE holds")
    p.add_argument("--bandwidth", default="100Mbit", help="the link: 100Mbit, 1Gbit, 12.5MB/s, ... (default 100Mbit)")
    p.add_argument("--concurrency", type=int, default=3, help="downloads at once (dockerd's "
                   "--max-concurrent-downloads, default 3)")
    p.add_argument("--have", action="append", metavar="IMAGE", help="an image (registry reference or local source) "
                   "already on the host; repeat for more")
    p.add_argument("--platform", help="the platform a pull takes from an index (default: this host's)")
    p.add_argument("--latency", help="per request, e.g. 20ms (default: measured against the registry)")
    p.add_argument("--layer-overhead", type=float, default=0.0, help="seconds to register one layer after unpacking")
    p.add_argument("--pull-overhead", type=float, default=0.0, help="seconds of the client's and daemon's own "
                   "start and end of a pull")
    p.add_argument("--what-if", action="store_true", help="also the image reordered (the layer a release changes "
                   "moved to the top), squashed: pull time and bytes per release")
    p.add_argument("--changes", type=int, help="with --what-if: the layer position a release changes (default: the "
                   "first COPY with a RUN above it)")
    p.add_argument("--json", action="store_true", help="machine-readable output (stable interface)")
    client_options(p)
    p.set_defaults(func=cmd_pull_cost)
    return p
