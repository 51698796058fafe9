"""``layerlab packages``: the packages of an image, from the package databases in its layers."""

from __future__ import annotations

import json
import sys

from ..display import human_bytes
from .summary import terminal_width


def cmd_packages(args) -> int:
    import pandas as pd

    from ..analyses.packages import packages, packages_json
    from ..sources import open_source

    inv = open_source(args.source, driver=args.driver, progress=False if args.json else None)
    if args.image is None:
        from .analyses import only_image

        args.image = only_image(inv, args.source)
    image_id = inv.image_id(args.image)
    df = packages(inv, image_id, ecosystem=args.ecosystem, sort=args.sort)
    if args.json:
        json.dump(packages_json(inv, image_id, df), sys.stdout, indent=2)
        print()
        return 0
    positions = dict(zip(inv.chain(image_id), range(len(inv.chain(image_id)))))
    width = terminal_width(sys.stdout) or 160
    total = int(df["bytes"].sum())
    print(f"{args.image} ({image_id[7:19]}): {len(df)} packages, {human_bytes(total)} in their files")
    skipped = inv.skipped[inv.skipped["what"] == "package database"]
    for r in skipped.head(5).itertuples(index=False):
        print(f"  skipped {r.path}: {r.reason}")
    if df.empty:
        return 0
    name_w = max(12, min(40, int(df["name"].str.len().max())))
    ver_w = max(8, min(32, int(df["version"].str.len().max())))
    print(f"{'ECOSYSTEM':<10} {'NAME':<{name_w}} {'VERSION':<{ver_w}} {'BYTES':>9} {'DECLARED':>9} {'FILES':>6} LAYER")
    for r in df.itertuples(index=False):
        declared = "" if pd.isna(r.declared_size) else human_bytes(int(r.declared_size))
        line = (f"{r.ecosystem:<10} {r.name[:name_w]:<{name_w}} {r.version[:ver_w]:<{ver_w}} {human_bytes(r.bytes):>9} "
                f"{declared:>9} {r.files:>6} {positions.get(r.layer_id, '?')}")
        print(line[:width])
    return 0


def add_parser(subparsers) -> None:
    s = subparsers.add_parser(
        "packages",
        help="the packages of an image (deb, rpm, apk, python, npm, go-module), their bytes and the layer that "
        "installed them",
        description="List the packages an image's package databases hold (dpkg, rpm's sqlite database, apk, Python "
        "dist-info/egg-info, node_modules package.json, Go binaries' build info) with the bytes of their files in the "
        "image, the size the database declares, and the layer that installed them.",
    )
    s.add_argument("source", help="data root, .layerlab snapshot (with its data root), docker-archive:PATH, "
                   "oci:DIR[:REF], "
                   "oci-archive:PATH[:REF], containers-storage:[REF], or 'sample'")
    s.add_argument("image", nargs="?", help="tag, ID or ID prefix (optional when the source holds one image)")
    s.add_argument("--driver", help="storage driver, when the root holds several image stores")
    s.add_argument("--ecosystem", choices=("deb", "rpm", "apk", "python", "npm", "go-module"),
                   help="only this ecosystem")
    s.add_argument("--sort", choices=("bytes", "name"), default="bytes", help="largest first (default) or by name")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_packages)
