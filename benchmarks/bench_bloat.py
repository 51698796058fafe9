"""Benchmark: ``layerlab bloat`` against the shell commands an engineer runs to find the same bytes.

Builds a real image on a throwaway overlay2 dockerd: ``docker import`` of a tar holding this
machine's /usr/share/doc, /usr/share/man, /usr/lib/python3 and the pandas, numpy and matplotlib
of layerlab's own venv (placed under /usr/local/lib/python3.11/site-packages, with their test
suites and bytecode), plus busybox for a shell. Then, with the page cache warm for both, times

- layerlab: open the data root (files frame of every layer) and ``analyses.bloat`` on the image,
  and ``analyses.bloat`` alone with the inventory in hand;
- the peer: GNU ``find`` over the layer's diff directory, once per category pattern
  (``-path``/``-name`` with ``-prune``, ``-printf %s``), summed; what ``du`` cannot do without
  counting directories.

Both count regular files' apparent bytes; the script checks the per-category totals agree
(the peer counts a hard-linked file once per name, so it may be higher where there are hard
links) and prints the figures and the ratio.

Run as root: ``python benchmarks/bench_bloat.py [--runs 3] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the harness (tests/harness)

import layerlab as ll  # noqa: E402
from layerlab.analyses.hygiene.bloat import bloat, by_category  # noqa: E402
from harness.daemon import Daemon  # noqa: E402

IMAGE = "bench/bloat:1"
SITE = "usr/local/lib/python3.11/site-packages"
#: category -> find arguments (relative to the layer root) selecting its files, as a person writes them.
PEER = {
    "docs": ["usr/share/doc", "usr/share/man"],
    "python-tests": ["-path", "*-packages/*/tests/*", "-o", "-path", "*-packages/*/test/*"],
    # bytecode inside a test suite counts as python-tests (first rule wins), so it is left out here
    "python-bytecode": ["(", "-path", "*/__pycache__/*", "-o", "-name", "*.pyc", ")",
                        "-not", "-path", "*-packages/*/tests/*", "-not", "-path", "*-packages/*/test/*"],
}


def build(daemon: Daemon, work: Path) -> None:
    venv = Path(sys.prefix) / "lib/python3.11/site-packages"
    stage = work / "stage"
    shutil.rmtree(stage, ignore_errors=True)
    (stage / SITE).mkdir(parents=True)
    for pkg in ("pandas", "numpy", "matplotlib"):
        if (venv / pkg).is_dir():
            os.symlink(venv / pkg, stage / SITE / pkg)
    (stage / "bin").mkdir()
    shutil.copy("/bin/busybox", stage / "bin/busybox")
    os.symlink("busybox", stage / "bin/sh")
    tar = work / "rootfs.tar"
    subprocess.run(["tar", "-cf", str(tar), "-C", "/", "usr/share/doc", "usr/share/man", "usr/lib/python3"], check=True)
    subprocess.run(["tar", "-rhf", str(tar), "-C", str(stage), "bin", SITE.split("/")[0]], check=True)
    daemon.docker("import", "--change", 'CMD ["/bin/sh"]', str(tar), IMAGE, timeout=1800)
    tar.unlink()


def peer(root: bytes) -> tuple[float, dict[str, int]]:
    """Bytes per category from GNU find over the layer directory, and the seconds it took."""
    t = time.perf_counter()
    out = {}
    for category, args in PEER.items():
        if args[0].startswith(("-", "(")):
            cmd = ["find", root, "(", *args, ")", "-type", "f", "-printf", "%s\n"]
        else:
            cmd = ["find", *[os.path.join(root, a.encode()) for a in args], "-type", "f", "-printf", "%s\n"]
        sizes = subprocess.run(cmd, capture_output=True, check=True).stdout.split()
        out[category] = sum(int(s) for s in sizes)
    return time.perf_counter() - t, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", help="work directory to keep (default: a temporary one, removed)")
    args = ap.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="bench-bloat-"))
    work.mkdir(parents=True, exist_ok=True)
    daemon = Daemon(work / "dockerd", driver="overlay2")
    daemon.start()
    try:
        build(daemon, work)
        inv = ll.open_root(str(daemon.data_root), progress=False)
        image_id = inv.image_id(IMAGE)
        layer = inv.layers.set_index("layer_id").loc[inv.image_layers.set_index("image_id").loc[image_id, "layer_id"]]
        diff = os.fsencode(str(daemon.data_root / "overlay2" / layer["cache_id"] / "diff"))
        entries = int((inv.files["layer_id"] == layer.name).sum())
        peer(diff)  # warm the page cache for both
        results = []
        for _ in range(args.runs):
            t = time.perf_counter()
            fresh = ll.open_root(str(daemon.data_root), progress=False)
            found = bloat(fresh, IMAGE)
            whole = time.perf_counter() - t
            t = time.perf_counter()
            bloat(fresh, IMAGE)
            alone = time.perf_counter() - t
            p_time, p_bytes = peer(diff)
            results.append((whole, alone, p_time))
        cats = by_category(found).set_index("category")["bytes"]
        print(f"image: {entries:,} entries in one layer; bloat found {int(cats.sum()):,} bytes in {len(cats)} "
              "categories")
        for category, b in p_bytes.items():
            mine = int(cats.get(category, 0))
            print(f"  {category:<16} layerlab {mine:>12,}  find {b:>12,}  "
                  f"{'same' if mine == b else f'differs by {b - mine:+,}'}")
        for whole, alone, p_time in results:
            print(f"layerlab: {whole:.2f} s (open + bloat), {alone:.2f} s (bloat alone); find: {p_time:.2f} s "
                  f"({len(PEER)} categories); ratio open+bloat/find {whole / p_time:.2f}x, bloat alone/find "
                  f"{alone / p_time:.2f}x")
    finally:
        daemon.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
