"""``layerlab scan``: a source collected into a ``.layerlab`` snapshot."""

from __future__ import annotations

from .arguments import (SOURCE_FORMS, add_driver, add_insecure, add_platform, add_verbosity, allow_insecure,
                        check_source, open_source_arg, remember)
from .output import count, echo, safe


def cmd_scan(args) -> int:
    from ..sources.docker import early

    source = check_source(args.root)
    if args.driver in (None, "overlay2") and args.files != "tar-split":
        if early.start(source):  # an overlay2 data root's layers are walked while pandas and pyarrow load
            early.import_libraries()
    try:
        return _scan(args, source)
    finally:
        early.forget(source)


def _scan(args, source: str) -> int:
    from ..collect import scan_with_inventory
    from ..frames.snapshot import check_output, is_snapshot

    allow_insecure(args)
    if source == "sample" or source.startswith("sample:") or is_snapshot(source):
        # already a snapshot: written again as it is (another place, a newer format)
        from ..frames.snapshot_load import load

        check_output(args.output)
        args.source = source
        out = open_source_arg(args).save(args.output)
        snap = load(out)
        rows = snap.meta.get("rows") or {}  # counted as it was written: the files frame is not read back
    else:
        # the summary line is counted from the frames written, in memory: not read back from the snapshot
        out, snap = scan_with_inventory(source, args.output, driver=args.driver, files=args.files, hash=args.hash,
                            progress=False if args.quiet else None, platform=args.platform,
                            foreign_layers=args.foreign_layers, packages=args.packages)
        rows = {"files": len(snap.files)}

    remember(args, snap)  # what it skipped, reported once (cli.main)
    counts = snap.image_counts()
    # layers counted as summary counts them: the distinct layers of the images docker lists; the
    # rest (containers' and init layers, intermediate build images') said apart when there are any
    listed = snap.image_layers[snap.image_layers["image_id"].isin(snap.listed["image_id"])]
    layers = listed["layer_id"].nunique()
    others = len(snap.layers) - layers
    more = f" (and {count(others, 'other layer')}: containers', init, intermediate images')" if others else ""
    echo(f"wrote {safe(out)}: {count(counts['images'], 'image')} ({counts['tagged_images']:,} tagged), "
         f"{count(layers, 'distinct layer')}{more}, {count(rows.get('files', len(snap.files)), 'files row')}",
         indent="  ")
    return 0


def add_parser(sub) -> None:
    s = sub.add_parser("scan", help="read a data root (as root), an image archive, layout or registry image into a "
                                    ".layerlab snapshot")
    s.add_argument("root", metavar="SOURCE", help=SOURCE_FORMS)
    s.add_argument("-o", "--output", required=True, help="snapshot to write, e.g. host.layerlab")
    add_driver(s)
    add_platform(s)
    add_insecure(s)
    s.add_argument("--files", choices=("auto", "walk", "tar-split"), default="auto",
                   help="where image layers' files are read from")
    s.add_argument("--foreign-layers", choices=("fetch", "skip"), default="fetch",
                   help="a foreign layer (blob only at its urls): fetch it from them, checked and without credentials "
                        "(default), or skip it (recorded as skipped)")
    s.add_argument("--packages", action="store_true",
                   help="read the package databases of every image into the snapshot "
                   "(packages, package_changes: for fleets, `find_package`; docs/packages.md)")
    s.add_argument("--hash", action="store_true",
                   help="record sha256 of files that have an identical twin (reads only files sharing a size)")
    add_verbosity(s)
    s.set_defaults(func=cmd_scan)
