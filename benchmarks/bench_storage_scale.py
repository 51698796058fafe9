"""Benchmark: a registry's storage at production scale, ``layerlab registry storage`` against
distribution's ``registry garbage-collect --dry-run`` on the same storage, filesystem and S3 drivers.

    python benchmarks/bench_storage_scale.py [--fraction 0.01 | --repos R --manifests M --blobs B]
                                             [--dir DIR] [--drivers filesystem,s3] [--gc-timeout S] [--repeat N]

The storage is written once by ``tests/harness/storagegen.py`` (distribution's layout: blobs, layer
links, revisions, tags and their history; image manifests, OCI indexes, untagged and deleted
manifests, uploads that never got a manifest; many images on a few bases) into ``DIR`` (default
``benchmarks/.storage-<R>-<M>-<B>``) and reused by later runs. The full size is 10,000 repositories,
100,000 manifests, 300,000 blobs (``--fraction 1``); ``--fraction`` scales all three.

For each driver, in this one run:
  - ``layerlab registry storage ROOT --json`` (a process of its own: wall time, CPU time, peak RSS
    from wait4, its own request count); on the filesystem first once untimed, so that both sides
    read from a warm page cache, then ``--repeat`` times interleaved with GC's runs (medians compared);
  - ``docker-registry garbage-collect --dry-run`` and ``--dry-run --delete-untagged`` on a config
    naming the same storage (filesystem: the folder; s3: a bucket in moto's standalone server, into
    which the folder is copied once per run);
  - the blobs and manifests each marks for deletion, compared (they must be equal), and the
    requests each made on S3 (from moto's own request log);
  - a killed run: the CLI started again and killed with SIGKILL mid-way, then the storage
    checked unchanged (the folder: every path, size and mtime; the bucket: every key, size and ETag).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the harness (tests/harness)

from harness.objectstore import MotoServer, moto_missing  # noqa: E402
from harness.registry import Registry, registry_missing  # noqa: E402
from harness.storagegen import FULL, generate, scaled, upload  # noqa: E402

BUCKET, ROOTDIR = "registry", "bench"


def run_measured(cmd: list[str], env: dict | None = None, timeout: float | None = None) -> dict:
    """Run ``cmd``; its wall time, peak resident size (the child's own, from wait4) and output."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        return {"seconds": wall, "peak_mb": usage.ru_maxrss / 1024, "cpu": usage.ru_utime + usage.ru_stime,
                "code": proc.returncode, "stdout": out.read().decode(errors="replace"),
                "stderr": err.read().decode(errors="replace"), "timed_out": deadline is not None and wall >= timeout}


def median_run(runs: list[dict]) -> dict:
    """The run of median wall time (the lower middle one of an even count)."""
    return sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]


def gc_sets(output: str) -> tuple[list[str], list[str]]:
    blobs = sorted(set(re.findall(r"blob eligible for deletion: (\S+)", output)))
    manifests = sorted(set(re.findall(r"manifest eligible for deletion: (\S+)", output)))
    return blobs, manifests


def kinds(seen) -> Counter:
    out = Counter()
    for method, path, _ in seen:
        out["LIST" if method == "GET" and ("list-type=" in path or "delimiter=" in path) else method] += 1
    return out


def tree_state(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def bucket_state(client) -> dict:
    state = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for o in page.get("Contents", []):
            state[o["Key"]] = (o["Size"], o["ETag"])
    return state


def compare(name: str, audit: dict, gc: dict[bool, dict]) -> bool:
    ok = True
    for untagged, key in ((False, "gc"), (True, "gc_untagged")):
        blobs, manifests = gc_sets(gc[untagged]["stdout"])
        ours_b = sorted(audit[key]["blobs"])
        ours_m = sorted({m["digest"] for m in audit[key]["manifests"]})
        same = ours_b == blobs and ours_m == manifests
        ok &= same
        mode = "--delete-untagged" if untagged else "plain"
        print(f"  {name} {mode:<17}: GC marks {len(blobs)} blobs, {len(manifests)} manifests; layerlab "
              f"{len(ours_b)} blobs, {len(ours_m)} manifests: {'the same' if same else 'DIFFERENT'}")
    return ok


def report(name: str, ours: dict, gc: dict[bool, dict], ours_req: str, gc_req: dict[bool, str]) -> None:
    for label, r, req in (("layerlab registry storage", ours, ours_req),
                          ("garbage-collect --dry-run", gc[False], gc_req[False]),
                          ("... --delete-untagged", gc[True], gc_req[True])):
        print(f"  {name} {label:<27} {r['seconds']:8.2f} s  ({r['cpu']:.2f} CPU s)  "
              f"peak {r['peak_mb']:7.1f} MB  {req}")
    print(f"  {name} layerlab's time / GC's: {ours['seconds'] / gc[False]['seconds']:.3f} (plain), "
          f"{ours['seconds'] / gc[True]['seconds']:.3f} (--delete-untagged); target <= 0.1; CPU time / GC's: "
          f"{ours['cpu'] / gc[False]['cpu']:.3f}, {ours['cpu'] / gc[True]['cpu']:.3f}; "
          f"peak {ours['peak_mb']:.0f} MB (target < 1024); load average {os.getloadavg()[0]:.1f}")


def killed_run(cmd: list[str], env: dict | None, after: float, state) -> str:
    before = state()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    time.sleep(after)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    after_state = state()
    return "unchanged" if after_state == before else f"CHANGED ({len(set(after_state) ^ set(before))} paths differ)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fraction", type=float, default=0.01,
                    help="of the full size (10k repos, 100k manifests, 300k blobs)")
    ap.add_argument("--repos", type=int)
    ap.add_argument("--manifests", type=int)
    ap.add_argument("--blobs", type=int)
    ap.add_argument("--dir", help="where the generated storage is kept (made once, reused)")
    ap.add_argument("--drivers", default="filesystem,s3")
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--gc-timeout", type=float, default=3600, help="stop a GC run after this many seconds")
    ap.add_argument("--repeat", type=int, default=1, help="filesystem: runs of each side, interleaved (median)")
    args = ap.parse_args()
    size = scaled(args.fraction)
    for k in ("repos", "manifests", "blobs"):
        if getattr(args, k):
            size[k] = getattr(args, k)
    reason = registry_missing() or ("s3" in args.drivers and moto_missing())
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 1
    root = Path(args.dir or REPO / "benchmarks" / f".storage-{size['repos']}-{size['manifests']}-{size['blobs']}")
    t0 = time.perf_counter()
    figures = generate(root, **size, progress=lambda i, n: print(f"\rgenerating: {i}/{n} repositories", end="",
                                                                   file=sys.stderr) if i % 100 == 0 else None)
    print(f"\nstorage at {root}: {figures['repositories']} repositories, {figures['manifests']} manifests "
          f"{figures['manifest_kinds']}, {figures['blobs']} blobs, {figures['files']} files "
          f"(asked {size}; full size {FULL}); ready in {time.perf_counter() - t0:.1f} s", flush=True)
    cli = [sys.executable, "-m", "layerlab.cli", "registry", "storage"]
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        work = Path(tmp)
        if "filesystem" in args.drivers:
            reg = Registry(work / "reg-fs")
            mine = [*cli, str(root), "--json", "--workers", str(args.workers)]
            warm = run_measured(mine)  # untimed: the page cache warm for both sides, as GC's later runs find it
            assert warm["code"] == 0, warm["stderr"][-2000:]
            theirs = {}
            for untagged in (False, True):
                cfg = reg.config()
                cfg["storage"]["filesystem"]["rootdirectory"] = str(root)
                path = work / f"gc-fs-{untagged}.yml"
                path.write_text(json.dumps(cfg))
                theirs[untagged] = ["docker-registry", "garbage-collect", "--dry-run",
                                    *(["--delete-untagged"] if untagged else []), str(path)]
            runs: dict = {"ours": [], False: [], True: []}
            for _ in range(max(1, args.repeat)):
                runs["ours"].append(run_measured(mine))
                assert runs["ours"][-1]["code"] == 0, runs["ours"][-1]["stderr"][-2000:]
                for untagged in (False, True):
                    runs[untagged].append(run_measured(theirs[untagged], timeout=args.gc_timeout))
            ours = median_run(runs["ours"])
            gc = {untagged: median_run(runs[untagged]) for untagged in (False, True)}
            audit = json.loads(ours["stdout"])
            times = {k: ", ".join(f"{r['seconds']:.2f}" for r in v) for k, v in runs.items()}
            print("filesystem driver:" + (f" (medians of {args.repeat} interleaved runs: layerlab {times['ours']} s;"
                                          f" GC {times[False]} s, -m {times[True]} s)" if args.repeat > 1 else ""))
            ok &= compare("filesystem", audit, gc)
            req = audit["requests"]
            report("filesystem", ours, gc, f"{req['LIST']} listings, {req['GET']} reads",
                   {False: "(syscalls, not counted)", True: "(syscalls, not counted)"})
            print(f"  filesystem killed run (SIGKILL after {ours['seconds'] / 2:.1f} s): storage "
                  f"{killed_run([*cli, str(root), '--json'], None, ours['seconds'] / 2, lambda: tree_state(root))}")
        if "s3" in args.drivers:
            with MotoServer(work / "moto") as s3:
                s3.create_bucket(BUCKET)
                client = s3.client()
                t0 = time.perf_counter()
                n = upload(root, client, BUCKET, ROOTDIR,
                           progress=lambda i, n: print(f"\ruploading: {i}/{n}", end="", file=sys.stderr))
                print(f"\ncopied {n} objects into moto's S3 in {time.perf_counter() - t0:.0f} s", flush=True)
                env = {**os.environ, **s3.env()}
                url = f"s3://{BUCKET}/{ROOTDIR}"
                mark = s3.mark()
                ours = run_measured([*cli, url, "--json", "--workers", str(args.workers)], env=env)
                ours_req = kinds(s3.requests_since(mark, settle=0.5))
                assert ours["code"] == 0, ours["stderr"][-2000:]
                audit = json.loads(ours["stdout"])
                reg = Registry(work / "reg-s3", s3=s3.registry_storage(BUCKET, "/" + ROOTDIR))
                gc, gc_req = {}, {}
                for untagged in (False, True):
                    path = work / f"gc-s3-{untagged}.yml"
                    path.write_text(json.dumps(reg.config()))
                    mark = s3.mark()
                    gc[untagged] = run_measured(["docker-registry", "garbage-collect", "--dry-run",
                                                 *(["--delete-untagged"] if untagged else []), str(path)],
                                                env=reg.env(), timeout=args.gc_timeout)
                    seen = kinds(s3.requests_since(mark, settle=0.5))
                    gc_req[untagged] = f"{sum(seen.values())} requests: " + \
                        ", ".join(f"{k} {v}" for k, v in sorted(seen.items()))
                print("s3 driver (moto's standalone server on 127.0.0.1):")
                ok &= compare("s3", audit, gc)
                mine = f"{sum(ours_req.values())} requests: " + \
                    ", ".join(f"{k} {v}" for k, v in sorted(ours_req.items()))
                report("s3", ours, gc, mine + f" (its own count: {audit['requests']['total']})", gc_req)
                print(f"  s3 killed run (SIGKILL after {ours['seconds'] / 2:.1f} s): bucket "
                      f"{killed_run([*cli, url, '--json'], env, ours['seconds'] / 2, lambda: bucket_state(client))}")
    print("deletion sets equal: " + ("yes" if ok else "NO"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
