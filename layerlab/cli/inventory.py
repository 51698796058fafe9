"""``layerlab scan``, ``summary`` and ``report``: collecting a source and reading it."""

from __future__ import annotations

import json
import sys

from ..errors import LayerlabError


def cmd_scan(args) -> int:
    from ..collect import scan

    out = scan(args.root, args.output, driver=args.driver, files=args.files, hash=args.hash, progress=not args.quiet,
               platform=args.platform, foreign_layers=args.foreign_layers, packages=args.packages)
    from ..frames.snapshot_load import load

    snap = load(out)
    skipped = snap.skipped
    counts = snap.image_counts()
    rows = snap.meta.get("rows") or {}  # counted as it was written: the files frame is not read back
    print(f"wrote {out}: {counts['images']} images ({counts['tagged_images']} tagged, {counts['all_images']} with "
          f"intermediate build images), {len(snap.layers)} layers, {rows.get('files', len(snap.files))} files")
    if len(skipped):
        print(f"warning: {len(skipped)} item(s) could not be read and are recorded in the snapshot's `skipped` frame:", file=sys.stderr)
        for r in skipped.head(10).itertuples(index=False):
            print(f"  {r.what} {r.id}: {r.reason}", file=sys.stderr)
    return 0


def cmd_summary(args) -> int:
    from ..analyses.summary import summary_dict
    from ..sources import open_source
    from . import summary as cli_summary

    fmt = "json" if args.json else (args.format or "table")
    inv = open_source(args.source, driver=args.driver, progress=False if fmt != "table" else None, platform=args.platform,
                      foreign_layers=args.foreign_layers)
    data = summary_dict(inv)
    images = cli_summary.ordered(data["images"], args.sort, args.top)
    if fmt == "json":
        json.dump({**data, "images": images}, sys.stdout, indent=2)
        print()
        return 0
    if fmt == "csv":
        cli_summary.to_csv(data, images)
        return 0
    where = data["source"]
    if inv.meta.get("snapshot"):
        where = f"{inv.meta['snapshot']}  (scanned from {where} on {inv.meta.get('host')} at {inv.meta.get('scanned_at')})"
    print(f"{where}  ({', '.join(str(v) for v in (data['image_store'], data['driver']) if v)})")  # an archive has no driver
    cli_summary.print_table(inv, data, images)
    return 0


def cmd_report(args) -> int:
    from ..reports.page import skip_iri_format_checker
    from ..reports.run import render_all

    skip_iri_format_checker()  # this process is the report's own

    params = {}
    for item in args.param or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise LayerlabError(f"--param takes key=value, got {item!r}")
        params[key] = value
    index = render_all(args.source, args.output, params=params, driver=args.driver, show_code=args.show_code,
                       jobs=args.jobs, force=args.force)
    url = index.resolve().as_uri()
    print(f"report written: {url}")
    if args.open:
        import webbrowser

        webbrowser.open(url)
    return 0


def add_parser(sub) -> None:
    """Add ``scan``, ``summary`` and ``report`` to the ``layerlab`` command's subparsers."""
    s = sub.add_parser("scan", help="read a data root (as root), an image archive, layout or registry image into a .layerlab snapshot")
    s.add_argument("root", metavar="SOURCE", help="Docker data root (e.g. /var/lib/docker), docker-archive:PATH, oci:DIR[:REF], oci-archive:PATH[:REF], docker://REF or containers-storage:[REF] (podman's store)")
    s.add_argument("-o", "--output", required=True, help="snapshot to write, e.g. host.layerlab")
    s.add_argument("--driver", help="storage driver, when the root holds several image stores")
    s.add_argument("--platform", help="os/arch[/variant] to read from a docker:// index (default: this host's) or an OCI layout (default: all)")
    s.add_argument("--files", choices=("auto", "walk", "tar-split"), default="auto", help="where image layers' files are read from")
    s.add_argument("--foreign-layers", choices=("fetch", "skip"), default="fetch",
                   help="a foreign layer (blob only at its urls): fetch it from them, checked and without credentials "
                        "(default), or skip it (recorded as skipped)")
    s.add_argument("--hash", action="store_true", help="record sha256 of files that have an identical twin (reads only files sharing a size)")
    s.add_argument("--packages", action="store_true", help="read the package databases of every image into the snapshot "
                   "(packages, package_changes: for fleets, `find_package`; docs/packages.md)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_scan)

    s = sub.add_parser("summary", help="images, containers and totals of a data root or snapshot")
    s.add_argument("source", nargs="?", default="sample", help="data root, .layerlab snapshot, docker-archive:PATH, oci:DIR[:REF], oci-archive:PATH[:REF], docker://REF, containers-storage:[REF], or 'sample' (default)")
    s.add_argument("--driver", help="storage driver, when the root holds several image stores")
    s.add_argument("--platform", help="os/arch[/variant] to read from a docker:// index (default: this host's) or an OCI layout (default: all)")
    s.add_argument("--json", action="store_true", help="machine-readable output (stable interface)")
    s.add_argument("--foreign-layers", choices=("fetch", "skip"), default="fetch",
                   help="a foreign layer (blob only at its urls, e.g. Windows base images): fetch it from them, "
                        "checked and without credentials (default), or skip it (listed as skipped)")
    from .summary import add_arguments

    add_arguments(s)
    s.set_defaults(func=cmd_summary)

    s = sub.add_parser("report", help="run the notebooks on a source and render them to HTML")
    s.add_argument("source", nargs="?", default="sample", help="data root, .layerlab snapshot, docker-archive:PATH, oci:DIR[:REF], oci-archive:PATH[:REF], docker://REF, containers-storage:[REF], or 'sample' (default)")
    s.add_argument("-o", "--output", default="reports", help="output directory (default: reports/)")
    s.add_argument("--force", action="store_true",
                   help="overwrite files of a page's name in the output directory that no layerlab report wrote")
    s.add_argument("--driver", help="storage driver, when the root holds several image stores")
    s.add_argument("--param", action="append", metavar="KEY=VALUE", help="notebook parameter (repeatable)")
    s.add_argument("--show-code", action="store_true", help="keep the notebooks' code cells on the pages")
    s.add_argument("-j", "--jobs", type=int, metavar="N", help="notebooks run at once, one kernel each (default: one per CPU)")
    s.add_argument("--open", action="store_true", help="open the index page in a browser when done")
    s.set_defaults(func=cmd_report)
