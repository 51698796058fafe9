"""Benchmark: inspecting a few hundred tags on a local registry, layerlab against a `skopeo inspect` loop.

Run as root: ``python benchmarks/bench_registry.py [--images 30] [--tags-per-image 10]``. It starts a real
dockerd and a real docker-registry on 127.0.0.1 in a temporary directory, builds IMAGES distinct images
(each FROM a busybox base, one RUN layer), pushes each under TAGS-PER-IMAGE tags, and then measures in
this one run:
  - layerlab: ``registry_frames(all tags)`` — manifest, config and layers of every tag, concurrently over
    one client's connection pool, with an empty cache (cold) and again with the cache filled (warm);
    ROUNDS times, each with a new client and a new empty cache directory; the median is compared;
  - skopeo: ``skopeo inspect --no-tags`` once per tag, one after the other (what a shell loop does).
Both must report the same digest and layer digests for every tag. Target (issue 4): layerlab at least
10x faster than the skopeo loop; the requests per second layerlab made are printed too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the harness that starts real daemons (tests/harness)

from layerlab.sources.registry import RegistryClient, registry_frames  # noqa: E402
from harness.daemon import Daemon, dockerd_missing  # noqa: E402
from harness.registry import Registry, push_sample, registry_missing  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=30)
    ap.add_argument("--tags-per-image", type=int, default=10)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5, help="cold and warm runs of layerlab (median compared)")
    args = ap.parse_args()
    reason = dockerd_missing() or registry_missing()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as tmp:
        work = Path(tmp)
        with Daemon(work / "dockerd") as daemon, Registry(work / "registry") as reg:
            t0 = time.perf_counter()
            refs = push_sample(daemon, reg, work / "ctx", many_tags=0, distinct=args.images,
                               tags_per_distinct=args.tags_per_image)
            daemon.stop()
            setup = time.perf_counter() - t0
            with RegistryClient(docker_config=False, cache_dir=False) as c:
                tags = sorted(c.tags(refs["bench"]))
            targets = [f"{refs['bench']}:{t}" for t in tags]
            print(f"{len(targets)} tags of {args.images} distinct images pushed by a real daemon "
                  f"({setup:.1f} s to build and push)")

            colds, warms = [], []
            for round_ in range(args.rounds):
                cache = work / f"cache-{round_}"
                with RegistryClient(docker_config=False, cache_dir=cache, max_workers=args.workers) as c:
                    t0 = time.perf_counter()
                    frames = registry_frames(targets, c, progress=False, errors="raise")
                    colds.append(time.perf_counter() - t0)
                    cold_requests = c.request_count
                    t0 = time.perf_counter()
                    registry_frames(targets, c, progress=False, errors="raise")
                    warms.append(time.perf_counter() - t0)
                    warm_requests = c.request_count - cold_requests
            cold, warm = statistics.median(colds), statistics.median(warms)

            t0 = time.perf_counter()
            peer = {}
            for ref in targets:
                out = subprocess.run(["skopeo", "inspect", "--no-tags", "--tls-verify=false", f"docker://{ref}"],
                                     capture_output=True, text=True, check=True)
                data = json.loads(out.stdout)
                peer[ref] = (data["Digest"], data["Layers"])
            skopeo = time.perf_counter() - t0

    mine = {r.reference: (r.digest, list(frames.layers[frames.layers["reference"] == r.reference]["digest"]))
            for r in frames.manifests.itertuples(index=False)}
    assert mine == peer, "layerlab and skopeo disagree"
    spread = f"median of {args.rounds}"
    print(f"layerlab, cold cache : {cold:7.2f} s  {cold_requests:5d} requests  {cold_requests / cold:7.0f} req/s"
          f"  ({spread}: {min(colds):.2f}–{max(colds):.2f} s)")
    print(f"layerlab, warm cache : {warm:7.2f} s  {warm_requests:5d} requests  {warm_requests / warm:7.0f} req/s"
          f"  ({spread}: {min(warms):.2f}–{max(warms):.2f} s)")
    print(f"skopeo inspect loop  : {skopeo:7.2f} s")
    print(f"ratio (skopeo / layerlab cold, median): {skopeo / cold:.1f}x   (target >= 10x; "
          f"{skopeo / max(colds):.1f}x against the slowest cold run)")
    print(f"digests and layer digests of all {len(targets)} tags agree with skopeo")
    return 0 if skopeo / cold >= 10 else 3


if __name__ == "__main__":
    sys.exit(main())
