"""Benchmark: layerlab's full file inventory of a large real layer against `find -printf` and dive.

Run as root: ``python benchmarks/bench_inventory.py [--tree /usr]``. It starts a real dockerd in a
temporary directory, imports a tar of TREE as one image layer, and then measures, in this one run:
  - layerlab: ``open_root(root).files`` (every file's path, kind, size, mode, owner, mtime, link, blocks)
  - find: ``find DIFF -printf`` with the same fields, over the same layer directory
  - dive: ``dive --json`` on the same image (it asks the daemon for ``docker save`` of the image)
Wall time is the best of --repeat interleaved runs (dive: one run); peak memory is each process's max RSS.
Targets (issue 2): layerlab within 1.5x of find, at least 20x faster than dive, lower peak memory than dive.
"""

from __future__ import annotations

import argparse
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

FIND_FORMAT = "%p\\t%y\\t%s\\t%m\\t%U\\t%G\\t%T@\\t%l\\t%b\\n"
# Prints: files, bytes, seconds to import pandas, pyarrow and layerlab (whose import is lazy), seconds to build the
# inventory.
LAYERLAB = (
    "import sys, time; t0 = time.perf_counter(); import pandas, pyarrow, layerlab as ll; t1 = time.perf_counter(); "
    "f = ll.open_root(sys.argv[1], progress=False).files; t2 = time.perf_counter(); "
    "print(len(f), int(f['size'].sum()), t1 - t0, t2 - t1)"
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", default="/usr", help="directory to import as the layer (default /usr)")
    ap.add_argument("--repeat", type=int, default=5, help="runs of layerlab and find, interleaved (best is kept)")
    ap.add_argument("--no-dive", action="store_true", help="skip dive (it needs a docker save of the whole image)")
    ap.add_argument("--workdir", default=None, help="where the temporary daemon lives (default: a temp dir)")
    args = ap.parse_args()
    dive = dockerd_and_dive(args.no_dive)

    tree = Path(args.tree).resolve()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="llbench-"))
    with Daemon(work, driver="overlay2") as d:
        print(f"importing a tar of {tree} as one layer ...", flush=True)
        tar = subprocess.Popen(["tar", "-C", str(tree.parent), "-c", tree.name], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
        subprocess.run(["docker", "import", "-", "bench/big:1"], stdin=tar.stdout, env=d.env, check=True,
                       stdout=subprocess.DEVNULL)
        tar.wait()
        inspect = d.docker_json("image", "inspect", "bench/big:1")[0]
        diffs = [str(p) for p in Path(d.data_root, "overlay2").glob("*/diff")]
        print(f"image size {inspect['Size'] / 1e9:.2f} GB in {len(diffs)} layer(s)", flush=True)

        # Interleaved, so a change in the machine's speed during the run affects both alike.
        layerlab_runs, find_runs = [], []
        for _ in range(args.repeat):
            layerlab_runs.append(measure([sys.executable, "-c", LAYERLAB, str(d.data_root)], stdout=None))
            find_runs.append(measure(["find", *diffs, "-printf", FIND_FORMAT]))
        ll_time, ll_rss, ll_out = min(layerlab_runs)
        inventory_time = min(float(out.split()[3]) for _, _, out in layerlab_runs)
        import_time = min(float(out.split()[2]) for _, _, out in layerlab_runs)
        find_time, _, _ = min(find_runs)
        files = int(ll_out.split()[0])
        print(f"\nfiles in the layer: {files:,}")
        print(f"layerlab inventory : {inventory_time:7.2f} s   (whole process {ll_time:.2f} s, of which importing "
              f"pandas/pyarrow/layerlab {import_time:.2f} s)")
        print(f"                     peak RSS {ll_rss / 1e6:.0f} MB")
        print(f"find -printf       : {find_time:7.2f} s   ratio layerlab inventory/find = "
              f"{inventory_time / find_time:.2f}x (target <= 1.5x); whole process/find = {ll_time / find_time:.2f}x")
        if not args.no_dive:
            out = work / "dive.json"
            dive_time, dive_rss, _ = measure([dive, "--json", str(out), "bench/big:1"], env=d.env)
            print(f"dive --json        : {dive_time:7.2f} s   peak RSS {dive_rss / 1e6:7.0f} MB")
            print(f"  layerlab is {dive_time / ll_time:.1f}x faster than dive, whole process against whole process "
                  "(target >= 20x)")
            print(f"  layerlab peak memory is {ll_rss / dive_rss:.2f}x dive's (target < 1)")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
