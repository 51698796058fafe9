"""Benchmark: auditing a registry kept in S3 at scale, layerlab against distribution's ``garbage-collect --dry-run``.

    python benchmarks/bench_storage_s3.py [--fraction 0.01 | --repos R --manifests M --blobs B] [--dir DIR]
                                          [--gc-modes plain,untagged] [--gc-timeout S] [--workers 16]

No root or daemon needed: Debian's ``docker-registry`` and moto. The storage is the one
``tests/harness/storagegen.py`` writes (distribution's layout; full size 10,000 repositories,
100,000 manifests, 347,628 blobs, 949,861 files; ``--fraction`` scales it), made once in ``DIR``
(default ``benchmarks/.storage-<R>-<M>-<B>``) and reused. ``benchmarks/s3_storage_server.py`` loads it
into moto's S3 backend in its own process (no HTTP: minutes instead of hours at full size) and serves
it on 127.0.0.1. Then, in this one run:

  - ``layerlab registry storage s3://registry/bench --json`` in a process of its own (wall time, CPU
    time, peak RSS from wait4, its own request count);
  - ``docker-registry garbage-collect --dry-run`` (``plain``) and ``--dry-run --delete-untagged``
    (``untagged``) on a config naming the same bucket (the s3 driver);
  - the blobs and manifests each marks for deletion, compared (they must be equal), the requests each
    made (from moto's request log), and the methods layerlab used (GET only: read-only);
  - a killed run: the audit started again and killed with SIGKILL half-way, then every key, size and
    ETag of the bucket checked unchanged.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the harness (tests/harness)
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_storage_scale import bucket_state, gc_sets, killed_run, kinds, run_measured  # noqa: E402
from harness.objectstore import MotoServer, moto_missing  # noqa: E402
from harness.registry import Registry, registry_missing  # noqa: E402
from harness.storagegen import FULL, generate, scaled  # noqa: E402

BUCKET, ROOTDIR = "registry", "bench"


class LoadedMotoServer(MotoServer):
    """``s3_storage_server.py``: moto with a generated storage already in ``BUCKET/ROOTDIR``, its request
    log where MotoServer reads it."""

    def __init__(self, workdir, root: Path):
        super().__init__(workdir)
        self.root = root

    def start(self, timeout: float = 7200.0) -> "LoadedMotoServer":
        log = open(self.log_file, "ab")
        self.proc = subprocess.Popen([sys.executable, str(REPO / "benchmarks" / "s3_storage_server.py"),
                                      str(self.root), "--port", str(self.port), "--bucket", BUCKET,
                                      "--prefix", ROOTDIR], stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while "serving on" not in self.log_file.read_text(errors="replace"):
            if self.proc.poll() is not None:
                raise RuntimeError(f"s3_storage_server.py exited with {self.proc.returncode}; see {self.log_file}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the storage was not loaded within {timeout} s; see {self.log_file}")
            time.sleep(0.5)
        return self

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def requests_text(seen) -> str:
    counted = kinds(seen)
    return f"{sum(counted.values())} requests: " + ", ".join(f"{k} {v}" for k, v in sorted(counted.items()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fraction", type=float, default=0.01, help="of the full size")
    ap.add_argument("--repos", type=int)
    ap.add_argument("--manifests", type=int)
    ap.add_argument("--blobs", type=int)
    ap.add_argument("--dir", help="where the generated storage is kept (made once, reused)")
    ap.add_argument("--gc-modes", default="plain,untagged", help="garbage-collect runs: plain, untagged or both")
    ap.add_argument("--gc-timeout", type=float, default=4 * 3600)
    ap.add_argument("--workers", type=int, default=16)
    args = ap.parse_args()
    size = scaled(args.fraction)
    for k in ("repos", "manifests", "blobs"):
        if getattr(args, k):
            size[k] = getattr(args, k)
    reason = registry_missing() or moto_missing()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 1
    root = Path(args.dir or REPO / "benchmarks" / f".storage-{size['repos']}-{size['manifests']}-{size['blobs']}")
    t0 = time.perf_counter()
    figures = generate(root, **size)
    print(f"storage at {root}: {figures['repositories']} repositories, {figures['manifests']} manifests, "
          f"{figures['blobs']} blobs, {figures['files']} files (full size {FULL}); ready in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)
    modes = [m == "untagged" for m in args.gc_modes.split(",")]
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-s3-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        with LoadedMotoServer(work / "moto", root) as s3:
            print(f"loaded into moto (in-process, {figures['files']} objects) and serving in "
                  f"{time.perf_counter() - t0:.0f} s; server RSS {s3.rss_mb():.0f} MB", flush=True)
            client = s3.client()
            env = {**os.environ, **s3.env()}
            url = f"s3://{BUCKET}/{ROOTDIR}"
            mark = s3.mark()
            ours = run_measured([sys.executable, "-m", "layerlab.cli", "registry", "storage", url, "--json",
                                 "--workers", str(args.workers)], env=env)
            seen = s3.requests_since(mark, settle=0.5)
            assert ours["code"] == 0, ours["stderr"][-2000:]
            audit = json.loads(ours["stdout"])
            methods = sorted({m for m, _, _ in seen})
            print(f"layerlab registry storage: {ours['seconds']:.1f} s ({ours['cpu']:.1f} CPU s), peak "
                  f"{ours['peak_mb']:.0f} MB, {requests_text(seen)} (its own count {audit['requests']['total']}), "
                  f"methods {methods}; load {os.getloadavg()[0]:.1f}", flush=True)
            ok &= methods == ["GET"]
            ours_requests = len(seen)
            reg = Registry(work / "reg", s3=s3.registry_storage(BUCKET, "/" + ROOTDIR))
            for untagged in modes:
                path = work / f"gc-{untagged}.yml"
                path.write_text(json.dumps(reg.config()))
                mark = s3.mark()
                gc = run_measured(["docker-registry", "garbage-collect", "--dry-run",
                                   *(["--delete-untagged"] if untagged else []), str(path)],
                                  env=reg.env(), timeout=args.gc_timeout)
                seen = s3.requests_since(mark, settle=0.5)
                blobs, manifests = gc_sets(gc["stdout"])
                plan = audit["gc_untagged" if untagged else "gc"]
                same = sorted(plan["blobs"]) == blobs and sorted({m["digest"] for m in plan["manifests"]}) == manifests
                ok &= same and not gc["timed_out"]
                mode = "--delete-untagged" if untagged else "plain"
                print(f"garbage-collect --dry-run {mode}: {gc['seconds']:.1f} s ({gc['cpu']:.1f} CPU s), peak "
                      f"{gc['peak_mb']:.0f} MB, {requests_text(seen)}{' TIMED OUT' if gc['timed_out'] else ''}; "
                      f"marks {len(blobs)} blobs, {len(manifests)} manifests; layerlab: "
                      f"{'the same' if same else 'DIFFERENT'}", flush=True)
                print(f"  layerlab / GC ({mode}): time {ours['seconds'] / gc['seconds']:.3f} (target <= 0.1), "
                      f"CPU {ours['cpu'] / gc['cpu']:.3f}, requests {ours_requests / max(1, len(seen)):.3f}",
                      flush=True)
            state = killed_run([sys.executable, "-m", "layerlab.cli", "registry", "storage", url, "--json"], env,
                               ours["seconds"] / 2, lambda: bucket_state(client))
            print(f"killed run (SIGKILL after {ours['seconds'] / 2:.1f} s): bucket {state}; "
                  f"server RSS {s3.rss_mb():.0f} MB")
            ok &= state == "unchanged"
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print("deletion sets equal and read-only: " + ("yes" if ok else "NO"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
