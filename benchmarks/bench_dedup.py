"""Benchmark: layerlab's content-duplicate search against ``jdupes -r`` on the same layer directories.

Builds a sizeable real tree on a throwaway overlay2 dockerd: an image ``docker import``-ed from a
tar of parts of this machine's /usr (plus busybox for a shell), and a child image that copies
some of it (duplicates across layers). Then, with the page cache warm for both, times
``jdupes -r -q`` over the image layers' diff directories and ``layerlab.analyses.content_dedup``
on the same layers, checks they find the same duplicate groups, and prints the figures.

Run as root: ``python benchmarks/bench_dedup.py [--keep DIR] [--runs 3]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the harness (tests/harness)

import layerlab as ll  # noqa: E402
from layerlab.analyses import content_dedup  # noqa: E402
from layerlab.analyses.hashing import content_dirs  # noqa: E402
from harness.daemon import Daemon  # noqa: E402

PARTS = ["usr/share", "usr/include", "usr/lib/python3"]
COPIES = "cp -a /usr/include /opt/include && cp -a /usr/share/doc /opt/doc && cp -a /usr/lib/python3 /opt/python3"


def build(daemon: Daemon, work: Path) -> None:
    tar = work / "usr.tar"
    subprocess.run(["tar", "-cf", str(tar), "-C", "/", *[p for p in PARTS if os.path.exists("/" + p)]], check=True)
    shell = work / "shell"
    (shell / "bin").mkdir(parents=True)
    subprocess.run(["cp", "/bin/busybox", str(shell / "bin/busybox")], check=True)
    for applet in ("sh", "cp", "mkdir"):
        os.symlink("busybox", shell / "bin" / applet)
    subprocess.run(["tar", "-rf", str(tar), "-C", str(shell), "bin"], check=True)
    daemon.docker("import", "--change", 'CMD ["/bin/sh"]', str(tar), "bench/usr:1", timeout=1800)
    tar.unlink()
    ctx = work / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM bench/usr:1\nRUN mkdir -p /opt && {COPIES}\n")
    daemon.docker("build", "--network", "none", "-q", "-t", "bench/usr-copies:1", str(ctx), timeout=1800)


def jdupes_groups(dirs: list[bytes]) -> tuple[float, set[frozenset[int]]]:
    t = time.perf_counter()
    out = subprocess.run(["jdupes", "-r", "-q", *dirs], capture_output=True, check=True).stdout
    elapsed = time.perf_counter() - t
    groups = [block.split(b"\n") for block in out.strip(b"\n").split(b"\n\n") if block]
    by_inode = {frozenset(os.stat(p).st_ino for p in g) for g in groups}
    return elapsed, {g for g in by_inode if len(g) > 1}


def layerlab_groups(inv) -> tuple[float, set[frozenset[int]], object]:
    inv.cache.pop("sha256", None)  # time the reading, not the cache
    t = time.perf_counter()
    dedup = content_dedup(inv, progress=False)
    elapsed = time.perf_counter() - t
    dirs = content_dirs(inv)
    groups: dict[int, set[int]] = {}
    for g, lid, p in zip(dedup["group"], dedup["layer_id"], dedup["path"]):
        groups.setdefault(g, set()).add(os.stat(dirs[lid] + os.fsencode(p)).st_ino)
    return elapsed, {frozenset(v) for v in groups.values()}, dedup


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", help="work directory to keep (default: a temporary one, removed)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs of each tool (the best is reported)")
    args = ap.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="bench-dedup-"))
    work.mkdir(parents=True, exist_ok=True)
    with Daemon(work / "daemon") as daemon:
        t = time.perf_counter()
        if "bench/usr-copies:1" not in daemon.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split():
            build(daemon, work)
            print(f"built the tree in {time.perf_counter() - t:.0f}s")
        t = time.perf_counter()
        inv = ll.open_root(str(daemon.data_root), progress=False)
        files = inv.files
        scan = time.perf_counter() - t
        image_layers = inv.layers[inv.layers["kind"] == "image"]["layer_id"]
        dirs = [content_dirs(inv)[lid] for lid in image_layers]
        regular = files[(files["kind"] == "file") & (files["size"] > 0)]
        print(f"tree: {len(dirs)} layer directories, {len(regular):,} regular files, {regular['size'].sum() / 1e9:.2f} "
              "GB")
        jdupes_groups(dirs)  # warm the page cache for both
        j_times, l_times = [], []
        for _ in range(args.runs):
            jt, theirs = jdupes_groups(dirs)
            lt, ours, dedup = layerlab_groups(inv)
            j_times.append(jt)
            l_times.append(lt)
        same = ours == theirs
        jt, lt = min(j_times), min(l_times)
        print(f"duplicate groups: layerlab {len(ours):,}, jdupes {len(theirs):,}; same groups: {same}")
        print(f"bytes content dedup would save: {dedup['reclaimable'].sum() / 1e6:.1f} MB")
        print(f"jdupes -r -q:              {jt:6.2f}s (best of {args.runs}: {', '.join(f'{x:.2f}' for x in j_times)})")
        print(f"layerlab content_dedup:    {lt:6.2f}s (best of {args.runs}: {', '.join(f'{x:.2f}' for x in l_times)}); "
              f"ratio {lt / jt:.2f}x")
        print(f"layerlab scan (files frame, once): {scan:.2f}s; "
              f"scan + dedup {scan + lt:.2f}s ({(scan + lt) / jt:.2f}x)")
    if not args.keep:
        subprocess.run(["rm", "-rf", str(work)], check=False)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
