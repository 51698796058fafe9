"""Benchmark: ``layerlab scan`` of a data root of many layers against ``find -printf``, and memory.

Run as root: ``python benchmarks/bench_scan.py [--workdir DIR] [--repeat 5]``. It starts a real
dockerd and builds a root like a busy host's (issue 16): ``docker import`` of parts of this
machine's /usr (a system tree) and of this venv's site-packages (a Python tree), a busybox base and
many small images built on it (a layer each) plus label-only children and retags: about 90 images,
65 layers and 200k files. Files above 1 MiB are left out of the imports: they add bytes to copy,
not entries to walk. With ``--workdir`` the root is kept and reused by the next run.

Measured in this one run, interleaved (best of ``--repeat``):
  - find: ``find DIFF... -printf`` with the fields of the files frame, over every layer directory
  - layerlab: the whole ``layerlab scan ROOT -o OUT`` process, less a bare
    ``python -c "import pandas, pyarrow"`` (the interpreter's and those libraries' start-up)
  - memory: bytes a row of the ``files`` frame in memory (``memory_usage(deep=True)``), and the
    peak RSS of ``layerlab scan`` and of ``layerlab summary ROOT``
Targets (issue 16): scan <= 1.0x find; <= 120 bytes a files row; peak RSS of scan and summary < 250 MB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the harness that starts real daemons (tests/harness)

from bench_support import dockerd_and_dive, measure  # noqa: E402
from harness.daemon import Daemon  # noqa: E402
from harness.images import busybox_rootfs  # noqa: E402

FIND_FORMAT = "%p\\t%y\\t%s\\t%m\\t%U\\t%G\\t%T@\\t%l\\t%b\\n"
SYSTEM_TREES = ["/usr/share", "/usr/include", "/usr/lib/python3", "/usr/lib/python3.11", "/usr/lib/node_modules"]
EXTRA_TREE = "/usr/lib/google-cloud-sdk"  # a big tree of small files, when the machine has it
SMALL_IMAGES = 60  # images with a layer of their own
LABEL_ONLY = 27  # images that add no layer (a LABEL on a small image)
FILES_PER_SMALL = 400
MEMORY = (
    "import sys, layerlab as ll; f = ll.open_root(sys.argv[1], progress=False).files; "
    "print(len(f), int(f.memory_usage(deep=True).sum()))"
)


def _import_tree(d: Daemon, ref: str, trees: list[str]) -> None:
    """``docker import`` a tar of ``trees`` (files over 1 MiB left out) as the one layer of ``ref``."""
    trees = [t for t in trees if os.path.isdir(t)]
    print(f"importing {', '.join(trees)} as {ref} ...", flush=True)
    find = subprocess.Popen(["find", *trees, "(", "-type", "f", "-size", "+1M", ")", "-prune", "-o", "-print0"],
                            stdout=subprocess.PIPE)
    tar = subprocess.Popen(["tar", "-c", "--null", "--no-recursion", "-T", "-"], stdin=find.stdout,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    find.stdout.close()
    subprocess.run(["docker", "import", "-", ref], stdin=tar.stdout, env=d.env, check=True, stdout=subprocess.DEVNULL)
    tar.wait()
    find.wait()


def build_root(d: Daemon, work: Path) -> None:
    """Fill the daemon with the benchmark's images (skipped when they are there already)."""
    have = d.docker("images", "-q").stdout.split()
    if len(have) >= SMALL_IMAGES + LABEL_ONLY:
        print(f"reusing the {len(have)} images in {d.data_root}", flush=True)
        return
    base_tar = busybox_rootfs(work / "busybox")
    d.docker("import", str(base_tar), "bench/base:1")
    _import_tree(d, "bench/system:1", SYSTEM_TREES)
    site = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    _import_tree(d, "bench/python:1", [str(site)])
    if os.path.isdir(EXTRA_TREE):
        _import_tree(d, "bench/sdk:1", [EXTRA_TREE])
    ctx_root = work / "contexts"
    print(f"building {SMALL_IMAGES} small images and {LABEL_ONLY} label-only ones ...", flush=True)
    parent = "bench/base:1"
    for i in range(SMALL_IMAGES):
        ctx = ctx_root / f"app{i}"
        files = ctx / "files"
        for j in range(FILES_PER_SMALL):
            sub = files / f"d{j % 20}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"f{j}.txt").write_text(f"image {i} file {j}\n" * (j % 7 + 1))
        (ctx / "Dockerfile").write_text(f"FROM {parent}\nCOPY files /srv/app{i}/\n")
        ref = f"bench/app{i}:1"
        d.docker("build", "-q", "-t", ref, str(ctx))
        parent = ref if i % 3 else "bench/base:1"  # chains of three layers on the base
        if i < LABEL_ONLY:
            lctx = ctx_root / f"label{i}"
            lctx.mkdir(parents=True, exist_ok=True)
            (lctx / "Dockerfile").write_text(f"FROM {ref}\nLABEL variant={i}\n")
            d.docker("build", "-q", "-t", f"bench/app{i}:labelled", str(lctx))
    shutil.rmtree(ctx_root, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="runs of each command, interleaved (best is kept)")
    ap.add_argument("--workdir", default=None, help="where the temporary daemon lives (kept and reused when given)")
    ap.add_argument("--baseline", default=None, metavar="BIN",
                    help="also time the layerlab of another install, interleaved (its venv's bin/, e.g. of the main "
                         "branch)")
    args = ap.parse_args()
    dockerd_and_dive(no_dive=True)

    work = Path(args.workdir or tempfile.mkdtemp(prefix="llbench-scan-"))
    layerlab = str(Path(sys.executable).with_name("layerlab"))
    out = work / "bench.layerlab"
    with Daemon(work, driver="overlay2") as d:
        build_root(d, work)
        root = str(d.data_root)
        diffs = sorted(str(p) for p in Path(root, "overlay2").glob("*/diff"))
        images = len(d.docker("images", "-aq").stdout.split())
        print(f"{images} images, {len(diffs)} layer directories", flush=True)

        find_runs, scan_runs, bare_runs, base_runs = [], [], [], []
        for _ in range(args.repeat):  # interleaved, so a change in the machine's speed affects all alike
            find_runs.append(measure(["find", *diffs, "-printf", FIND_FORMAT]))
            bare_runs.append(measure([sys.executable, "-c", "import pandas, pyarrow"]))
            scan_runs.append(measure([layerlab, "scan", root, "-o", str(out), "-q"]))
            if args.baseline:
                bin_ = Path(args.baseline)
                base_runs.append((measure([str(bin_ / "python"), "-c", "import pandas, pyarrow"]),
                                  measure([str(bin_ / "layerlab"), "scan", root, "-o", str(work / "baseline.layerlab"),
                                           "-q"])))
        find_time = min(r[0] for r in find_runs)
        bare_time = min(r[0] for r in bare_runs)
        scan_time = min(r[0] for r in scan_runs)
        scan_rss = max(r[1] for r in scan_runs)
        # once: its memory is the figure (its time is the analyses', not the scan's)
        summary_time, summary_rss, _ = measure([layerlab, "summary", root, "--format", "csv"])
        _, mem_rss, mem_out = measure([sys.executable, "-P", "-c", MEMORY, root], stdout=None)
        rows, nbytes = map(int, mem_out.split())
        entries = int(subprocess.run(f"find {' '.join(diffs)} -mindepth 1 | wc -l", shell=True, capture_output=True,
                                     text=True).stdout)

    ratio = (scan_time - bare_time) / find_time
    print("\nper run, seconds (find, scan, start-up -> ratio): " + "; ".join(
        f"{f[0]:.2f} {s[0]:.2f} {b[0]:.2f} -> {(s[0] - b[0]) / f[0]:.2f}x" for f, s,
        b in zip(find_runs, scan_runs, bare_runs)))
    if base_runs:
        print("baseline per run (scan, start-up -> ratio, peak RSS): " + "; ".join(
            f"{s[0]:.2f} {b[0]:.2f} -> {(s[0] - b[0]) / f[0]:.2f}x {s[1] / 1e6:.0f} MB" for f,
            (b, s) in zip(find_runs, base_runs)))
    print(f"root: {images} images, {len(diffs)} layers, {entries:,} entries under them; files frame {rows:,} rows")
    print(f"find -printf            : {find_time:6.2f} s")
    print(f"layerlab scan (process) : {scan_time:6.2f} s, "
          f"of which python + pandas + pyarrow start-up {bare_time:.2f} s")
    print(f"  scan less start-up / find = {ratio:.2f}x (target <= 1.0x: {'met' if ratio <= 1.0 else 'NOT met'})")
    print(f"files frame in memory   : {nbytes / 1e6:.1f} MB, {nbytes / rows:.0f} bytes a row "
          f"(target <= 120: {'met' if nbytes / rows <= 120 else 'NOT met'})")
    for what, rss in (("scan", scan_rss), ("summary", summary_rss)):
        print(f"peak RSS of {what:8s}    : {rss / 1e6:.0f} MB (target < 250 MB: {'met' if rss < 250e6 else 'NOT met'})")
    print(f"layerlab summary (process, one run): {summary_time:.2f} s; a process holding open_root(ROOT).files: peak "
          f"RSS {mem_rss / 1e6:.0f} MB")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
