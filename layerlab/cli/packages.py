"""``layerlab packages``: the packages of an image, from the package databases in its layers."""

from __future__ import annotations

import json
import sys

from ..display import human_bytes
from .arguments import add_common, add_image, add_json, add_source, only_image, open_source_arg, skipped_json
from .output import count, echo, line_width, middle, safe


def cmd_packages(args) -> int:
    import pandas as pd

    from ..analyses.packages import packages, packages_json

    inv = open_source_arg(args)
    if args.image is None:
        args.image = only_image(inv, args.source)
    image_id = inv.image_id(args.image)
    df = packages(inv, image_id, ecosystem=args.ecosystem, sort=args.sort)
    if args.json:
        json.dump({**packages_json(inv, image_id, df), "skipped": skipped_json(inv)}, sys.stdout, indent=2)
        print()
        return 0
    chain = inv.chain(image_id)
    positions = dict(zip(chain, range(len(chain))))
    width = line_width()
    total = int(df["bytes"].sum())
    echo(f"{safe(args.image)} ({image_id[7:19]}): {count(len(df), 'package')}, {human_bytes(total)} in their files",
         indent="  ")
    if df.empty:
        return 0
    name_w = max(12, min(40, int(df["name"].str.len().max())))
    ver_w = max(8, min(32, int(df["version"].str.len().max())))
    print(f"{'ECOSYSTEM':<10} {'NAME':<{name_w}} {'VERSION':<{ver_w}} {'BYTES':>9} {'DECLARED':>9} {'FILES':>6} LAYER")
    for r in df.itertuples(index=False):
        declared = "" if pd.isna(r.declared_size) else human_bytes(int(r.declared_size))
        line = (f"{r.ecosystem:<10} {middle(safe(r.name), name_w):<{name_w}} {middle(safe(r.version), ver_w):<{ver_w}} "
                f"{human_bytes(r.bytes):>9} {declared:>9} {r.files:>6,} {positions.get(r.layer_id, '?')}")
        print(middle(line, width))
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
    add_source(s)
    add_image(s)
    add_common(s)
    s.add_argument("--ecosystem", choices=("deb", "rpm", "apk", "python", "npm", "go-module"),
                   help="only this ecosystem")
    s.add_argument("--sort", choices=("bytes", "name"), default="bytes", help="largest first (default) or by name")
    add_json(s, "machine-readable output")
    s.set_defaults(func=cmd_packages)
