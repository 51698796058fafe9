"""Benchmark: ``layerlab summary`` of a podman store (containers-storage) against ``podman system df -v``
on the same store, in the same run.

Run as root: ``python benchmarks/bench_cstorage.py [--driver overlay|vfs]``. It makes a store of its
own with podman and buildah (``--root``/``--runroot`` in a temporary directory; the host's store is
never touched): a base ``podman import``-ed from this machine's /usr/share/doc and /usr/lib/python3
trees with busybox, the test images of ``tests/harness/podman.py`` on top, and a few
``buildah bud --layers`` images FROM the base (deletes, chmod copy-ups, copies), so the store has
intermediate images, shared layers and containers. Then, interleaved, best of --repeat rounds:

  - ``layerlab summary ROOT`` (whole process: Python start, imports, reading every layer's
    tar-split and container directory, dive's figures, the table);
  - ``podman --root ROOT --runroot RUN system df -v`` (podman reads the same records and walks
    the containers' layers; it computes no waste).

  - the same figures in a process that has imported pandas, pyarrow and layerlab already (a
    notebook's kernel): ``summary_dict(open_source(ROOT))``, timed inside a child process.

Target (issue 24): layerlab within 1.5x of podman. Both read the same store; podman's figures are
the sizes only, layerlab's include every layer's files and dive's waste.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the harness that makes real stores (tests/harness)

from bench_support import measure  # noqa: E402
from harness import podman as hp  # noqa: E402

LAYERLAB = str(Path(sys.executable).parent / "layerlab")  # the console script of this environment
# The figures of `layerlab summary`, timed after the imports (what a notebook waits for).
IN_PROCESS = """
import sys, time
import layerlab, pandas, pyarrow
from layerlab.analyses.summary import summary_dict
t = time.perf_counter()
summary_dict(layerlab.open_source(sys.argv[1], progress=False))
print(time.perf_counter() - t)
"""
BUILDS = [
    ("localhost/bench-doc:1", ["rm -rf /usr/share/doc/[a-f]*", "echo 1 > /etc/version"]),
    ("localhost/bench-py:1", ["chmod -R go-w /usr/lib/python3", "mkdir /app && echo 'print(1)' > /app/main.py"]),
    ("localhost/bench-copy:1", ["mkdir -p /opt && cp -a /usr/share/doc /opt/doc", "rm -rf /opt/doc/[m-z]*"]),
]


def base_tar(rootfs: Path, out: Path) -> Path:
    """busybox's rootfs plus /usr/share/doc and /usr/lib/python3 of this machine, as one tar."""
    with tarfile.open(out, "w") as tar:
        with tarfile.open(rootfs) as src:
            for m in src.getmembers():
                tar.addfile(m, src.extractfile(m) if m.isfile() else None)
        for tree in ("/usr/share/doc", "/usr/lib/python3"):
            tar.add(tree, arcname=tree.lstrip("/"))
    return out


def make(work: Path, driver: str) -> hp.Store:
    store = hp.build_images(hp.make_store(work / "store", driver), work / "ctx")
    base = base_tar(hp.busybox_rootfs(work / "bigbase"), work / "big.tar")
    store.podman("import", "--change", 'CMD ["sh"]', str(base), "localhost/bench-base:1")
    for i, (tag, runs) in enumerate(BUILDS):
        text = "FROM localhost/bench-base:1\n" + "".join(f"RUN {r}\n" for r in runs)
        hp.build(store, tag, text, work / f"b{i}")
    hp.write_container(store, "bench-c", "localhost/bench-copy:1", {"/data/x": bytes(1 << 20)}, ["/usr/share/doc"])
    return store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--driver", default="overlay", choices=["overlay", "vfs"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the store (printed) instead of removing it")
    args = ap.parse_args()
    if hp.shutil.which("podman") is None or hp.shutil.which("buildah") is None:
        raise SystemExit("cannot run the benchmark: podman and buildah must be installed (apt-get install podman "
                         "buildah)")
    work = Path(tempfile.mkdtemp(prefix="bench-cstorage-"))
    store = make(work, args.driver)
    try:
        images = len(store.podman("images", "-a", "-q").split())
        print(f"store {store.root} ({args.driver}): {images} images, {len(store.containers)} containers")
        ours_cmd = [LAYERLAB, "summary", str(store.root)]
        peer_cmd = ["podman", *store._flags(), "system", "df", "-v"]
        measure(ours_cmd)  # warm the page cache for both before the rounds
        measure(peer_cmd)
        ours, peer, inproc = [], [], []
        for _ in range(args.repeat):
            ours.append(measure(ours_cmd)[:2])
            peer.append(measure(peer_cmd)[:2])
            inproc.append(float(measure([sys.executable, "-c", IN_PROCESS, str(store.root)], stdout=None)[2]))
        best_ours = min(t for t, _ in ours)
        best_peer = min(t for t, _ in peer)
        for i, ((to, _), (tp, _), ti) in enumerate(zip(ours, peer, inproc)):
            print(f"round {i + 1}: layerlab summary {to:.2f} s ({to / tp:.2f}x), imported already {ti:.2f} s "
                  f"({ti / tp:.2f}x); podman system df -v {tp:.2f} s")
        print(f"best: layerlab summary {best_ours:.2f} s (peak {max(m for _, m in ours) >> 20} MB), "
              f"podman system df -v {best_peer:.2f} s (peak {max(m for _, m in peer) >> 20} MB)")
        print(f"ratio layerlab / podman: whole process {best_ours / best_peer:.2f}x, imported already "
              f"{min(inproc):.2f} s: {min(inproc) / best_peer:.2f}x (target <= 1.5x)")
    finally:
        store.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
