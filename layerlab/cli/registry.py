"""``layerlab registry …``: inspect references, list tags and catalogs, audit a registry's storage."""

from __future__ import annotations

import argparse
import json
import sys

from ..display import human_bytes
from .arguments import add_json, add_registry_client, registry_client as _client


def _note_rate_limit(client) -> None:
    if client.rate_limit is not None:
        print(str(client.rate_limit), file=sys.stderr)


def cmd_inspect(args) -> int:
    with _client(args) as client:
        info = client.inspect(args.reference, platform=args.platform)
        _note_rate_limit(client)
    data = info.to_dict()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"{data['reference']}\n  digest      {data['digest']}\n  media type  {data['media_type']}")
    for image in info.images:
        print(f"\n{image.platform}  manifest {image.digest}\n  config {image.config_digest}  "
              f"{len(image.layers)} layers, {human_bytes(image.size)} compressed ({image.size} bytes)")
        for position, layer in enumerate(image.layers):
            print(f"  {position:>3}  {layer.digest}  {human_bytes(layer.size):>8}  {layer.media_type.rsplit('.', 1)[-1]}")
        if args.history:
            for entry in image.history:
                mark = " " if entry.get("empty_layer") else "*"
                print(f"   {mark} {(entry.get('created') or '')[:19]}  {(entry.get('created_by') or '')[:100]}")
    return 0


def cmd_tags(args) -> int:
    with _client(args) as client:
        tags = client.tags(args.repository, page_size=args.page_size)
    if args.json:
        from ..sources.registry import Reference

        print(json.dumps({"repository": Reference.parse(args.repository, default_tag=None).repository,
                          "tags": tags}, indent=2))
    else:
        print("\n".join(tags))
    return 0


def cmd_catalog(args) -> int:
    with _client(args) as client:
        repos = client.catalog(args.host, page_size=args.page_size)
    print(json.dumps({"registry": args.host, "repositories": repos}, indent=2) if args.json else "\n".join(repos))
    return 0


def cmd_sharing(args) -> int:
    from ..sources.registry import registry_frames

    with _client(args) as client:
        frames = registry_frames(args.references, client, platform=args.platform, progress=not args.json)
        _note_rate_limit(client)
    blobs = frames.blobs
    distinct = int(blobs["size"].sum()) if len(blobs) else 0
    total = int(frames.manifests["size"].sum()) if len(frames.manifests) else 0
    if args.json:
        print(json.dumps({
            "images": len(frames.manifests), "sum_of_image_sizes": total, "distinct_blob_bytes": distinct,
            "dedup_ratio": frames.dedup_ratio if distinct else None,
            "shared_blobs": [{"digest": r.digest, "size": int(r.size), "references": list(r.references),
                              "repositories": list(r.repositories)}
                             for r in blobs[blobs["reference_count"] > 1].itertuples(index=False)],
            "skipped": [{"reference": r.id, "reason": r.reason} for r in frames.skipped.itertuples(index=False)],
        }, indent=2))
        return 0
    print(f"{'SHARED BY':>9}  {'SIZE':>8}  DIGEST")
    for r in blobs[blobs["reference_count"] > 1].itertuples(index=False):
        print(f"{r.reference_count:>9}  {human_bytes(r.size):>8}  {r.digest}")
    print(f"\n{len(frames.manifests)} images: {human_bytes(total)} if each were stored alone, {human_bytes(distinct)} of "
          f"distinct layer blobs (dedup {frames.dedup_ratio:.2f}x; compressed bytes)" if distinct else "no images")
    for r in frames.skipped.itertuples(index=False):
        print(f"skipped {r.id}: {r.reason}", file=sys.stderr)
    return 0


def cmd_storage(args) -> int:
    from ..sources.registry import audit_storage

    if (args.root is None) == (args.config is None):
        from ..errors import NotADataRoot

        raise NotADataRoot("give either a storage root (a directory or s3://BUCKET/ROOTDIRECTORY) or "
                           "--config with the registry's config.yml, not both")
    audit = audit_storage(args.root, config=args.config, progress=None if not args.json else False,
                          timeout=args.timeout, retries=args.retries, max_workers=args.workers)
    data = audit.to_dict()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"{'REPOSITORY':<40} {'TAGS':>5} {'MANIFESTS':>9} {'UNTAGGED':>8} {'LAYER LINKS':>11}")
    for r in data["repositories"]:
        print(f"{r['repository'][:40]:<40} {len(r['tags']):>5} {r['manifests']:>9} {r['untagged']:>8} "
              f"{r['layer_links']:>11}")
    print(f"\n{data['blobs']} blobs, {human_bytes(data['blob_bytes'])} ({data['blob_bytes']} bytes)")
    print(f"unreferenced blobs: {len(data['unreferenced_blobs'])}; untagged manifests: "
          f"{len(data['untagged_manifests'])}")
    print(f"garbage-collect would delete {len(data['gc']['blobs'])} blobs, {human_bytes(data['gc']['bytes'])}; "
          f"with --delete-untagged {len(data['gc_untagged']['blobs'])} blobs, {human_bytes(data['gc_untagged']['bytes'])}")
    req = data["requests"]
    cost = f", about ${data['cost_usd']:.6f} at S3 Standard prices" if data["cost_usd"] is not None else ""
    print(f"read {data['root']} with {req['LIST']} LIST, {req['GET']} GET, {req['HEAD']} HEAD requests{cost}")
    for problem in data["problems"]:
        print(f"warning: {problem}", file=sys.stderr)
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``registry`` and its subcommands to the ``layerlab`` command's subparsers."""
    p = subparsers.add_parser("registry", help="inspect images in a registry, or audit a registry's storage")
    sub = p.add_subparsers(dest="registry_command", required=True)

    s = sub.add_parser("inspect", help="a reference's manifest or index, every platform's layers and sizes")
    s.add_argument("reference", help="image reference, e.g. python:3.12 or localhost:5000/team/app@sha256:…")
    s.add_argument("--platform", help="only this platform, os/arch[/variant] (e.g. linux/arm64)")
    s.add_argument("--history", action="store_true", help="also print each config's history")
    s.add_argument("--json", action="store_true", help="machine-readable output (stable interface)")
    add_registry_client(s)
    s.set_defaults(func=cmd_inspect)

    s = sub.add_parser("tags", help="every tag of a repository (following pagination)")
    s.add_argument("repository", help="repository, e.g. python or localhost:5000/team/app")
    s.add_argument("--page-size", type=int, help="tags per request (n=)")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    add_registry_client(s)
    s.set_defaults(func=cmd_tags)

    s = sub.add_parser("catalog", help="every repository of a registry (distribution's _catalog)")
    s.add_argument("host", help="registry host[:port]")
    s.add_argument("--page-size", type=int, help="repositories per request (n=)")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    add_registry_client(s)
    s.set_defaults(func=cmd_catalog)

    s = sub.add_parser("sharing", help="layer blobs shared across references, and the dedup ratio")
    s.add_argument("references", nargs="+", help="image references")
    s.add_argument("--platform", help="only this platform")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    add_registry_client(s)
    s.set_defaults(func=cmd_sharing)

    s = sub.add_parser("storage", help="audit a registry's storage (filesystem or S3), read-only (GC preview)")
    s.add_argument("root", nargs="?", help="the filesystem driver's rootdirectory (e.g. /var/lib/registry) or "
                   "s3://BUCKET/ROOTDIRECTORY (credentials, region, endpoint from the AWS environment, "
                   "AWS_ENDPOINT_URL included)")
    s.add_argument("--config", help="the registry's config.yml: audit the storage its storage section names "
                   "(filesystem or s3)")
    s.add_argument("--timeout", type=float, default=30.0, help="seconds per connect/read on an object store")
    s.add_argument("--retries", type=int, default=5, help="attempts per object-store request (with back-off)")
    s.add_argument("--workers", type=int, default=16, help="concurrent listings and reads")
    s.add_argument("--json", action="store_true", help="machine-readable output (stable interface)")
    s.set_defaults(func=cmd_storage)

    from .pull_cost import add_churn_parser

    add_churn_parser(sub)
    return p
