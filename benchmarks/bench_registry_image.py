"""Benchmark: a registry image's full inventory (docker://) against `skopeo copy docker://REF oci:DIR`.

Run as root: ``python benchmarks/bench_registry_image.py [--tree /usr/share]``. It starts a real
dockerd and a real docker-registry on 127.0.0.1, builds an image of several layers (busybox, a tar
of TREE, then layers that add, copy and delete files), pushes it, and measures in this run:
  - layerlab: ``open_source("docker://REF").files`` with the layer cache off -- every layer blob
    downloaded, verified, decompressed and parsed
  - skopeo: ``skopeo copy docker://REF oci:DIR`` -- every blob downloaded and verified, written to disk
Wall time is the best of --repeat interleaved runs; peak memory is each process's max RSS.
Target (issue 11): layerlab within 1.2x of skopeo's time.
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
sys.path.insert(0, str(REPO / "tests"))  # the harness (tests/harness)

from bench_archive import measure  # noqa: E402

from harness.daemon import Daemon, dockerd_missing  # noqa: E402
from harness.images import busybox_rootfs  # noqa: E402
from harness.registry import Registry, registry_missing  # noqa: E402

LAYERLAB = (
    "import sys, time; import layerlab as ll; t0 = time.perf_counter(); "
    "f = ll.open_source('docker://' + sys.argv[1], progress=False).files; "
    "print(len(f), time.perf_counter() - t0)"
)

DOCKERFILE = """FROM {base}
ADD tree.tar /
RUN mkdir -p /data && dd if=/dev/urandom of=/data/random.bin bs=1M count=48 2>/dev/null
RUN cp -r /{name}/doc /doc-copy 2>/dev/null || cp -r /{name} /tree-copy
RUN rm -rf /doc-copy/[a-m]* /tree-copy/[a-m]* 2>/dev/null; echo done > /done.txt
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", default="/usr/share", help="directory imported as the base layer (default /usr/share)")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved runs of each (best is kept)")
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    reason = dockerd_missing() or registry_missing() or (None if shutil.which("skopeo") else "needs skopeo")
    if reason:
        raise SystemExit(f"cannot run the benchmark: {reason}")
    tree = Path(args.tree).resolve()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="llbench-regimg-"))
    env = {**os.environ, "LAYERLAB_LAYER_CACHE_BYTES": "0"}
    with Registry(work / "reg") as reg, Daemon(work / "d", driver="overlay2") as d:
        base, ref = f"{reg.host}/bench/base:1", f"{reg.host}/bench/app:1"
        print(f"building {ref}: busybox, a tar of {tree}, then layers that add, copy and delete ...", flush=True)
        d.docker("import", busybox_rootfs(work / "bb"), base)
        ctx = work / "ctx"
        ctx.mkdir(exist_ok=True)
        subprocess.run(["tar", "-C", str(tree.parent), "-cf", str(ctx / "tree.tar"), tree.name], check=True,
                       stderr=subprocess.DEVNULL)
        (ctx / "Dockerfile").write_text(DOCKERFILE.format(base=base, name=tree.name))
        d.docker("build", "-q", "-t", ref, ctx, timeout=3600)
        d.docker("push", "-q", ref, timeout=3600)
        size = d.docker_json("image", "inspect", ref)[0]["Size"]
        print(f"image {size / 1e6:.0f} MB uncompressed", flush=True)
        lay, sko = [], []
        for i in range(args.repeat):
            lay.append(measure([sys.executable, "-c", LAYERLAB, ref], env=env, stdout=None))
            dest = work / f"oci-{i}"
            sko.append(measure(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{ref}", f"oci:{dest}:x"]))
            shutil.rmtree(dest, ignore_errors=True)
    l_wall, _, l_out = min(lay)
    l_rss = max(r[1] for r in lay)
    inv_time = min(float(o.split()[1]) for _, _, o in lay)
    s_wall, s_rss, _ = min(sko)
    print(f"\nfiles: {int(l_out.split()[0]):,}")
    print(f"layerlab docker:// inventory: {inv_time:.2f} s (whole process {l_wall:.2f} s), peak RSS {l_rss / 1e6:.0f} MB")
    print(f"skopeo copy to oci:          {s_wall:.2f} s, peak RSS {s_rss / 1e6:.0f} MB")
    print(f"  ratio inventory / skopeo = {inv_time / s_wall:.2f}x, whole process {l_wall / s_wall:.2f}x (target <= 1.2x)")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
