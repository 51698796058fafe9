"""Benchmark: auditing a registry kept in S3, layerlab against distribution's ``garbage-collect --dry-run``.

Run as root or not (no daemon needed): ``python benchmarks/bench_storage_s3.py [--repos 100] [--images 10]``.
It starts moto's standalone S3 server and Debian's docker-registry serving from a bucket in it, both on
127.0.0.1, and pushes REPOS x IMAGES small images through the registry's API (a shared base layer
mounted across repositories, one layer of its own each; every third push overwrites the previous tag,
every fifth image is deleted by digest), so GC has untagged manifests, layer links and blobs to find.
Then, in this one run:
  - layerlab, ROUNDS times: ``audit_storage("s3://bucket/root")`` with a new store (nothing cached);
  - distribution, GC_ROUNDS times: ``docker-registry garbage-collect --dry-run --delete-untagged`` on the
    registry's config. Once is the default: moto answers each listing by scanning the bucket's keys,
    so the thousands of one-directory listings GC makes take many minutes.
Both must name the same blobs. Time and the requests each made (from moto's own request log) are
compared; target (issue 18): layerlab faster, with fewer requests.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the harness (tests/harness)

from layerlab.sources.registry import audit_storage  # noqa: E402
from harness.objectstore import MotoServer, moto_missing  # noqa: E402
from harness.pushgen import push_many  # noqa: E402
from harness.registry import Registry, registry_missing  # noqa: E402

BUCKET, ROOTDIR = "registry", "bench"


def kinds(seen) -> Counter:
    out = Counter()
    for method, path, _ in seen:
        out["LIST" if method == "GET" and "list-type=" in path else method] += 1
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repos", type=int, default=80)
    ap.add_argument("--images", type=int, default=10, help="images pushed per repository")
    ap.add_argument("--rounds", type=int, default=3, help="layerlab audits (median compared)")
    ap.add_argument("--gc-rounds", type=int, default=1, help="garbage-collect --dry-run runs")
    ap.add_argument("--workers", type=int, default=16, help="layerlab's pool for listings and reads")
    args = ap.parse_args()
    reason = moto_missing() or registry_missing()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-s3-") as tmp:
        work = Path(tmp)
        with MotoServer(work / "moto") as s3:
            s3.create_bucket(BUCKET)
            reg = Registry(work / "registry", s3=s3.registry_storage(BUCKET, "/" + ROOTDIR))
            t0 = time.perf_counter()
            with reg:
                pushed = push_many(reg.url, repos=args.repos, images=args.images)
            reg.write_config()
            setup = time.perf_counter() - t0
            os.environ.update(s3.env())

            print(f"pushed {pushed['images']} images in {setup:.0f} s", file=sys.stderr)
            ours, theirs = [], []
            for _ in range(args.rounds):
                mark = s3.mark()
                t0 = time.perf_counter()
                audit = audit_storage(f"s3://{BUCKET}/{ROOTDIR}", max_workers=args.workers, progress=False)
                ours.append((time.perf_counter() - t0, kinds(s3.requests_since(mark, settle=0.5)), audit))
                print(f"layerlab audit: {ours[-1][0]:.2f} s", file=sys.stderr)
            for _ in range(args.gc_rounds):
                mark = s3.mark()
                t0 = time.perf_counter()
                out = reg.garbage_collect(dry_run=True, delete_untagged=True)
                theirs.append((time.perf_counter() - t0, kinds(s3.requests_since(mark, settle=0.5)), out))
                print(f"garbage-collect --dry-run: {theirs[-1][0]:.2f} s", file=sys.stderr)

            audit = ours[-1][2]
            eligible = sorted(set(re.findall(r"blob eligible for deletion: (\S+)", theirs[-1][2])))
            same = audit.gc_untagged.blobs == eligible
            print(f"{pushed['images']} images in {pushed['repositories']} repositories ({pushed['deleted']} deleted), "
                  f"pushed through docker-registry into moto's S3 in {setup:.0f} s: {len(audit.blobs)} blobs, "
                  f"{len(audit.manifests)} manifests, {len(audit.layer_links)} layer links")
            print(f"GC (--delete-untagged) would delete {len(eligible)} blobs; layerlab names the same: {same}")
            for name, runs in (("layerlab audit", ours), ("garbage-collect --dry-run", theirs)):
                times = [t for t, _, _ in runs]
                req = runs[-1][1]
                print(f"{name:<26} median {statistics.median(times):6.2f} s (range {min(times):.2f}-{max(times):.2f}), "
                      f"{sum(req.values())} requests: " + ", ".join(f"{k} {v}" for k, v in sorted(req.items())))
            t_ours = statistics.median(t for t, _, _ in ours)
            t_theirs = statistics.median(t for t, _, _ in theirs)
            r_ours, r_theirs = sum(ours[-1][1].values()), sum(theirs[-1][1].values())
            print(f"layerlab: {t_theirs / t_ours:.1f}x faster, {r_theirs / r_ours:.1f}x fewer requests; "
                  f"layerlab's own count {audit.requests['total']} requests, about ${audit.cost_usd:.5f} "
                  "at S3 Standard prices")
            return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
