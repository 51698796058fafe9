"""Benchmark: the files frame of a `docker save` archive against dive and against `tar -tvf`.

Run as root: ``python benchmarks/bench_archive.py [--tree /usr]``. It starts a real dockerd in a
temporary directory, imports a tar of TREE as one image layer (``docker import``), saves the image
with ``docker save``, copies the layer tar out of the archive (for tar), and then measures, in this
one run:
  - layerlab: ``open_source("docker-archive:FILE").files`` -- every layer read and checked against
    its digest (every byte hashed), and with ``verify=False`` (headers only, contents seeked past),
    each as a fresh process (what a CLI user waits for: starting Python and importing pandas and
    pyarrow included); and ``verify=False`` again in a process that has imported pandas, pyarrow and
    layerlab's readers first, timing only the files frame (what a notebook user waits for)
  - dive: ``dive --source docker-archive FILE --json OUT`` on the same file (no daemon)
  - tar: ``tar -tvf LAYER.tar`` on the layer tar inside the archive (GNU tar seeks past contents)
Wall time is the best of --repeat interleaved runs (dive's too, unless --dive-runs says fewer);
the ratio to dive is given best against best and for each round (the runs of one round see the
same load); peak memory is each process's max RSS; CPU is user + system seconds. Targets (issue
11): layerlab >= 20x faster than dive with lower peak memory; within 1.5x of `tar -tvf`.
With --hash, layerlab with ``hash_files=True`` (what ``scan --hash`` does: every regular file's
SHA-256 as the tar streams) is measured against ``sha256sum LAYER.tar`` (the same bytes hashed once, in C).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the harness (tests/harness)

from bench_support import dockerd_and_dive, measure_cpu as measure  # noqa: E402
from harness.daemon import Daemon  # noqa: E402

# Prints: files, seconds to import layerlab, seconds to build the files frame. ``import layerlab``
# imports no pandas: the frame's time includes importing pandas and pyarrow (as a CLI run's does).
LAYERLAB = (
    "import sys, time; t0 = time.perf_counter(); import layerlab as ll; t1 = time.perf_counter(); "
    "f = ll.open_source('docker-archive:' + sys.argv[1], progress=False, verify=sys.argv[2] != '0', "
    "hash_files=sys.argv[2] == 'h').files; "
    "t2 = time.perf_counter(); print(len(f), t1 - t0, t2 - t1)"
)
# The same after pandas, pyarrow and the archive reader are imported, as in a notebook that has
# imported them: the frame's time is then the reading and the frame building alone.
LAYERLAB_IMPORTED = LAYERLAB.replace(
    "import layerlab as ll; ",
    "import layerlab as ll, pandas, pyarrow, pyarrow.compute; "
    "import layerlab.sources.archive, layerlab.sources._reader, layerlab.frames.inventory; ")


def build(tree: Path, work: Path, archive: Path) -> None:
    """`docker import` a tar of ``tree`` as one layer on a daemon of its own, and `docker save` it."""
    with Daemon(work / "d", driver="overlay2") as d:
        print(f"importing a tar of {tree} as one layer ...", flush=True)
        tar = subprocess.Popen(["tar", "-C", str(tree.parent), "-c", tree.name], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
        subprocess.run(["docker", "import", "-", "bench/big:1"], stdin=tar.stdout, env=d.env, check=True,
                       stdout=subprocess.DEVNULL)
        tar.wait()
        print("docker save ...", flush=True)
        d.docker("save", "-o", archive, "bench/big:1", timeout=3600)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", default="/usr", help="directory to import as the layer (default /usr)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of layerlab and tar, interleaved (best is kept)")
    ap.add_argument("--no-dive", action="store_true", help="skip dive")
    ap.add_argument("--dive-runs", type=int, default=None, help="runs of dive (default: --repeat), interleaved")
    ap.add_argument("--hash", action="store_true", help="also measure hash_files=True against sha256sum")
    ap.add_argument("--workdir", default=None, help="where the daemon and the archive live (default: a temp dir)")
    ap.add_argument("--baseline", default=None, metavar="CHECKOUT",
                    help="also measure verify=False with the layerlab of another checkout (C helpers built), "
                         "interleaved, for before/after figures in the same run")
    args = ap.parse_args()
    dive = dockerd_and_dive(args.no_dive)

    tree = Path(args.tree).resolve()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="llbench-archive-"))
    archive = work / "big.tar"
    if archive.exists():  # a --workdir of an earlier run: its archive is reused
        print(f"reusing {archive}", flush=True)
    else:
        build(tree, work, archive)

    # The layer tars inside the archive, copied out for tar -tvf (what GNU tar's header walk costs).
    layers = []
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))
        for i, name in enumerate(manifest[0]["Layers"]):
            dest = work / f"layer{i}.tar"
            if not dest.exists():
                with outer.extractfile(name) as src, open(dest, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            layers.append(str(dest))
    print(f"archive {archive.stat().st_size / 1e9:.2f} GB, {len(layers)} layer tar(s)", flush=True)

    # Interleaved, so a change in the machine's speed during the run affects all alike.
    checked, seeked, warm, tars, dives, hashed, sums = [], [], [], [], [], [], []
    base_cold, base_warm = [], []
    prefix = f"import sys; sys.path.insert(0, {str(Path(args.baseline).resolve())!r}); " if args.baseline else ""
    dive_runs = 0 if args.no_dive else args.dive_runs if args.dive_runs is not None else args.repeat
    for i in range(args.repeat):
        checked.append(measure([sys.executable, "-c", LAYERLAB, str(archive), "1"], stdout=None))
        seeked.append(measure([sys.executable, "-c", LAYERLAB, str(archive), "0"], stdout=None))
        warm.append(measure([sys.executable, "-c", LAYERLAB_IMPORTED, str(archive), "0"], stdout=None))
        if args.baseline:
            base_cold.append(measure([sys.executable, "-c", prefix + LAYERLAB, str(archive), "0"], stdout=None))
            base_warm.append(measure([sys.executable, "-c", prefix + LAYERLAB_IMPORTED, str(archive), "0"],
                                     stdout=None))
        tars.append(measure(["sh", "-c", " && ".join(f"tar -tvf {p} > /dev/null" for p in layers)]))
        if i < dive_runs:
            dives.append(measure([dive, "--source", "docker-archive", str(archive), "--json", str(work / "dive.json")]))
        if args.hash:
            hashed.append(measure([sys.executable, "-c", LAYERLAB, str(archive), "h"], stdout=None))
            sums.append(measure(["sh", "-c", "sha256sum " + " ".join(layers) + " > /dev/null"]))

    def best(runs):
        wall, rss, out = min(runs)[:3]
        return wall, max(r[1] for r in runs), min(float(r[2].split()[2]) for r in runs), int(out.split()[0])

    def span(runs, i=0):
        return f"{min(r[i] for r in runs):.2f}-{max(r[i] for r in runs):.2f}"

    c_wall, c_rss, c_frame, files = best(checked)
    s_wall, s_rss, s_frame, _ = best(seeked)
    warm_frames = [float(r[2].split()[2]) for r in warm]
    w_frame = min(warm_frames)
    tar_time = min(t[0] for t in tars)
    if base_cold:
        print(f"\nbaseline checkout, verify=False: whole process {min(r[0] for r in base_cold):.2f} s "
              f"(runs {span(base_cold)}; CPU {span(base_cold, 3)} s); files frame with the imports done "
              f"{min(float(r[2].split()[2]) for r in base_warm):.2f} s")
    print(f"\nfiles in the image: {files:,}")
    print(f"layerlab, checked   : files frame {c_frame:6.2f} s (whole process {c_wall:.2f} s, runs {span(checked)}; "
          f"CPU {span(checked, 3)} s), peak RSS {c_rss / 1e6:.0f} MB")
    print(f"layerlab, verify=False: files frame {s_frame:6.2f} s (whole process {s_wall:.2f} s, runs {span(seeked)}; "
          f"CPU {span(seeked, 3)} s), peak RSS {s_rss / 1e6:.0f} MB")
    print(f"layerlab, verify=False, pandas, pyarrow and layerlab imported first: files frame {w_frame:.2f} s "
          f"(runs {w_frame:.2f}-{max(warm_frames):.2f})")
    print(f"tar -tvf layer tars : {tar_time:6.2f} s (runs {span(tars)})")
    print(f"  verify=False frame / tar -tvf = {s_frame / tar_time:.2f}x (target <= 1.5x); whole process "
          f"{s_wall / tar_time:.2f}x")
    print(f"  checked frame / tar -tvf      = {c_frame / tar_time:.2f}x (reads and hashes every byte; tar reads "
          "headers)")
    if args.hash:
        h_wall, h_rss, h_frame, _ = best(hashed)
        sum_time = min(t[0] for t in sums)
        print(f"layerlab, hash_files: files frame {h_frame:6.2f} s (whole process {h_wall:.2f} s), peak RSS "
              f"{h_rss / 1e6:.0f} MB")
        print(f"sha256sum layer tars: {sum_time:6.2f} s")
        print(f"  hash_files frame / sha256sum = {h_frame / sum_time:.2f}x; hash_files / checked = "
              f"{h_frame / c_frame:.2f}x")
    if dives:
        dive_time = min(d[0] for d in dives)
        dive_rss = max(d[1] for d in dives)
        print(f"dive --source docker-archive: {dive_time:6.2f} s (runs {span(dives)}; CPU {span(dives, 3)} s), "
              f"peak RSS {dive_rss / 1e6:.0f} MB")
        rounds = lambda runs: ", ".join(f"{d[0] / r[0]:.1f}x" for d, r in zip(dives, runs))  # noqa: E731
        print(f"  layerlab (checked, whole process) is {dive_time / c_wall:.1f}x faster than dive, best against best "
              f"(each round: {rounds(checked)}); target >= 20x")
        print(f"  verify=False, whole process (a CLI run: Python, pandas and pyarrow start included): "
              f"{dive_time / s_wall:.1f}x faster than dive (each round: {rounds(seeked)}); target >= 20x")
        in_process = ", ".join(f"{d[0] / w:.1f}x" for d, w in zip(dives, warm_frames))
        print(f"  verify=False, files frame in a process with its imports done (a notebook): "
              f"{dive_time / w_frame:.1f}x faster than dive (each round: {in_process}); target >= 20x")
        print(f"  layerlab peak memory is {c_rss / dive_rss:.2f}x dive's (target < 1)")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
