"""``layerlab registry …``: inspect references, list tags and catalogs, audit a registry's storage."""

from __future__ import annotations

import argparse
import json
import sys

from ..display import human_bytes
from .arguments import add_json, add_registry_client, progress_of
from .arguments import registry_client as _client
from .output import count, echo, line_width, middle, safe


def _ref(text: str) -> str:
    """A reference as every command takes it: ``docker://`` in front or not (as ``summary`` needs it)."""
    return text[len("docker://"):] if text.startswith("docker://") else text


def _note_rate_limit(client) -> None:
    if client.rate_limit is not None:
        print(str(client.rate_limit), file=sys.stderr)


def cmd_inspect(args) -> int:
    with _client(args) as client:
        info = client.inspect(_ref(args.reference), platform=args.platform)
        _note_rate_limit(client)
    data = info.to_dict()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    width = line_width()
    print(f"{safe(data['reference'])}\n  digest      {data['digest']}\n  media type  {safe(data['media_type'])}")
    for image in info.images:
        print(f"\n{image.platform}  manifest {image.digest}\n  config {image.config_digest}  "
              f"{count(len(image.layers), 'layer')}, {human_bytes(image.size)} compressed ({image.size:,} bytes)")
        for position, layer in enumerate(image.layers):
            kind = safe(layer.media_type.rsplit('.', 1)[-1])
            print(f"  {position:>3}  {middle(layer.digest, max(width - 27, 20))}  {human_bytes(layer.size):>8}  {kind}")
        if args.history:
            for entry in image.history:
                mark = " " if entry.get("empty_layer") else "*"
                command = middle(entry.get("created_by") or "", max(width - 26, 20))
                print(f"   {mark} {safe((entry.get('created') or '')[:19])}  {command}")
    return 0


def cmd_tags(args) -> int:
    with _client(args) as client:
        tags = sorted(client.tags(_ref(args.repository), page_size=args.page_size))
    if args.json:
        from ..sources.registry import Reference

        print(json.dumps({"repository": Reference.parse(_ref(args.repository), default_tag=None).repository,
                          "tags": tags}, indent=2))
    elif tags:
        print("\n".join(safe(t) for t in tags))
    else:  # said on stderr: stdout stays a list of tags, one a line
        print(f"{safe(args.repository)}: the repository has no tags", file=sys.stderr)
    return 0


def cmd_catalog(args) -> int:
    with _client(args) as client:
        repos = sorted(client.catalog(_ref(args.host).rstrip("/"), page_size=args.page_size))
    if args.json:
        print(json.dumps({"registry": args.host, "repositories": repos}, indent=2))
    elif repos:
        print("\n".join(safe(r) for r in repos))
    else:
        print(f"{safe(args.host)}: the registry lists no repositories", file=sys.stderr)
    return 0


def cmd_sharing(args) -> int:
    from ..sources.registry import registry_frames

    with _client(args) as client:
        frames = registry_frames([_ref(r) for r in args.references], client, platform=args.platform,
                                 progress=progress_of(args))
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
    width = line_width()
    print(f"{'SHARED BY':>9}  {'SIZE':>8}  DIGEST")
    for r in blobs[blobs["reference_count"] > 1].itertuples(index=False):
        print(f"{r.reference_count:>9}  {human_bytes(r.size):>8}  {middle(r.digest, max(width - 21, 20))}")
    if distinct:
        echo(f"\n{count(len(frames.manifests), 'image')}: {human_bytes(total)} if each were stored alone, "
             f"{human_bytes(distinct)} of distinct layer blobs (dedup {frames.dedup_ratio:.2f}x; compressed bytes)")
    else:
        print("no images")
    for r in frames.skipped.itertuples(index=False):
        echo(f"warning: skipped {safe(r.id)}: {safe(r.reason)}", out=sys.stderr, indent="  ")
    return 0


def cmd_storage(args) -> int:
    from ..sources.registry import audit_storage

    if (args.root is None) == (args.config is None):
        from ..errors import NotADataRoot

        what = "both a storage root and --config" if args.root else "neither a storage root nor --config"
        raise NotADataRoot(f"registry storage: {what} given; give one: the storage root (a directory such as "
                           "/var/lib/registry, or s3://BUCKET/ROOTDIRECTORY), or --config with the registry's "
                           "config.yml")
    audit = audit_storage(args.root, config=args.config, progress=progress_of(args),
                          timeout=args.timeout, retries=args.retries, max_workers=args.workers)
    data = audit.to_dict()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    # UNTAGGED counts what the footer counts: manifests with no tag that no index lists (an index's
    # children are untagged by nature and kept while it is)
    loose: dict[str, int] = {}
    for m in data["untagged_manifests"]:
        loose[m["repository"]] = loose.get(m["repository"], 0) + 1
    width = line_width()
    name_w = max(min(max((len(r["repository"]) for r in data["repositories"]), default=10), width - 40), 10)
    print(f"{'REPOSITORY':<{name_w}} {'TAGS':>5} {'MANIFESTS':>9} {'UNTAGGED':>8} {'LAYER LINKS':>11}")
    for r in data["repositories"]:
        print(f"{middle(r['repository'], name_w):<{name_w}} {len(r['tags']):>5,} {r['manifests']:>9,} "
              f"{loose.get(r['repository'], 0):>8,} {r['layer_links']:>11,}")
    lines = [
        f"\n{count(data['blobs'], 'blob')}, {human_bytes(data['blob_bytes'])} ({data['blob_bytes']:,} bytes)",
        f"unreferenced blobs: {len(data['unreferenced_blobs']):,}; untagged manifests (no tag, in no index): "
        f"{len(data['untagged_manifests']):,}",
        f"garbage-collect would delete {count(len(data['gc']['blobs']), 'blob')}, {human_bytes(data['gc']['bytes'])}; "
        f"with --delete-untagged {count(len(data['gc_untagged']['blobs']), 'blob')}, "
        f"{human_bytes(data['gc_untagged']['bytes'])}",
    ]
    req = data["requests"]
    cost = f", about ${data['cost_usd']:.6f} at S3 Standard prices" if data["cost_usd"] is not None else ""
    lines.append(f"read {safe(data['root'])} with {req['LIST']:,} LIST, {req['GET']:,} GET, {req['HEAD']:,} HEAD "
                 f"requests{cost}")
    for line in lines:
        echo(line, indent="  ")
    for problem in data["problems"]:
        echo(f"warning: {safe(problem)}", out=sys.stderr, indent="  ")
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``registry`` and its subcommands to the ``layerlab`` command's subparsers."""
    p = subparsers.add_parser("registry", help="inspect images in a registry, or audit a registry's storage")
    sub = p.add_subparsers(dest="registry_command", required=True)

    s = sub.add_parser("inspect", help="a reference's manifest or index, every platform's layers and sizes")
    s.add_argument("reference", help="image reference, e.g. python:3.12 or localhost:5000/team/app@sha256:…")
    s.add_argument("--platform", help="only this platform, os/arch[/variant] (e.g. linux/arm64)")
    s.add_argument("--history", action="store_true", help="also print each config's history")
    add_json(s, "machine-readable output (stable interface)")
    add_registry_client(s)
    s.set_defaults(func=cmd_inspect)

    s = sub.add_parser("tags", help="every tag of a repository (following pagination)")
    s.add_argument("repository", help="repository, e.g. python or localhost:5000/team/app")
    s.add_argument("--page-size", type=int, help="tags per request (n=)")
    add_json(s, "machine-readable output")
    add_registry_client(s)
    s.set_defaults(func=cmd_tags)

    s = sub.add_parser("catalog", help="every repository of a registry (distribution's _catalog)")
    s.add_argument("host", help="registry host[:port]")
    s.add_argument("--page-size", type=int, help="repositories per request (n=)")
    add_json(s, "machine-readable output")
    add_registry_client(s)
    s.set_defaults(func=cmd_catalog)

    s = sub.add_parser("sharing", help="layer blobs shared across references, and the dedup ratio")
    s.add_argument("references", nargs="+", help="image references")
    s.add_argument("--platform", help="only this platform")
    add_json(s, "machine-readable output")
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
    add_json(s, "machine-readable output (stable interface)")
    s.set_defaults(func=cmd_storage)

    from .pull_cost import add_churn_parser

    add_churn_parser(sub)
    return p
