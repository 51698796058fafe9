"""Benchmark: a registry image's full inventory (docker://) against `skopeo copy docker://REF oci:DIR`.

Run as root: ``python benchmarks/bench_registry_image.py [--tree /usr/share]``. It starts a real
dockerd and a real docker-registry on 127.0.0.1, builds an image of several layers (busybox, a tar
of TREE, then layers that add, copy and delete files), pushes it, and measures in this run:
  - layerlab: ``open_source("docker://REF").files`` with the layer cache off -- every layer blob
    downloaded, verified, decompressed and parsed
  - skopeo: ``skopeo copy docker://REF oci:DIR`` -- every blob downloaded and verified, written to disk
  - the same in a process that has imported pandas, pyarrow and layerlab's registry reader first,
    timing only the inventory (what a notebook user waits for: a kernel imports them once)
  - layerlab with ``verify=False``: the blobs' digests are still checked, the uncompressed tars'
    (the config's diff IDs) are not
  - the floor on this machine: for every blob at once, ``curl`` piped through ``openssl dgst -sha256``
    (or ``sha256sum``) and ``igzip -d`` (or ``pigz -d``, ``gzip -d``) into the same hash -- download,
    check, inflate and hash the tar with no tar parsing, the least the default's work can cost
Wall time is the best of --repeat interleaved runs; peak memory is each process's max RSS. The
registry's own CPU time is measured for each run too (it serves the blobs on the same cores), and
each runner's *machine bound* is printed: (its CPU + the registry's) / the machine's cores, the
least wall time any scheduling of that work could reach here.
With ``--workdir`` the registry's storage is kept and a later run with the same workdir reuses the
image (no dockerd needed then).
Target (issue 11): layerlab within 1.2x of skopeo's time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the harness (tests/harness)

from bench_support import measure_cpu as measure  # noqa: E402

from harness.daemon import Daemon, dockerd_missing  # noqa: E402
from harness.images import busybox_rootfs  # noqa: E402
from harness.registry import Registry, registry_missing  # noqa: E402

# Prints: files, the inventory's wall seconds and its CPU seconds (every thread's).
LAYERLAB = (
    "import sys, time; import layerlab as ll; t0 = time.perf_counter(); c0 = time.process_time(); "
    "f = ll.open_source('docker://' + sys.argv[1], progress=False, verify=sys.argv[2] == '1').files; "
    "print(len(f), time.perf_counter() - t0, time.process_time() - c0)"
)
# The same after pandas, pyarrow and the registry reader are imported, as in a notebook kernel that
# has imported them: the inventory's time is then the reading and the frame building alone.
LAYERLAB_IMPORTED = LAYERLAB.replace(
    "import layerlab as ll; ",
    "import layerlab as ll, pandas, pyarrow, pyarrow.compute; "
    "import layerlab.sources.registry, layerlab.sources.imageset, layerlab.frames.inventory; ")

DOCKERFILE = """FROM {base}
ADD tree.tar /
RUN mkdir -p /data && dd if=/dev/urandom of=/data/random.bin bs=1M count=48 2>/dev/null
RUN cp -r /{name}/doc /doc-copy 2>/dev/null || cp -r /{name} /tree-copy
RUN rm -rf /doc-copy/[a-m]* /tree-copy/[a-m]* 2>/dev/null; echo done > /done.txt
"""


def build(reg, work: Path, tree: Path, ref: str) -> None:
    """Build the image on a dockerd of its own and push it to ``reg``."""
    reason = dockerd_missing()
    if reason:
        raise SystemExit(f"cannot run the benchmark: {reason}")
    with Daemon(work / "d", driver="overlay2") as d:
        base = f"{reg.host}/bench/base:1"
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


def floor_command(reg, ref: str) -> list[str]:
    """One shell line fetching every layer blob at once through sha256sum and an inflater into sha256sum."""
    inflate = next((f"{t} -dc" for t in ("igzip", "pigz", "gzip") if shutil.which(t)), None)
    # openssl's sha256 uses the CPU's SHA instructions, as Python's hashlib does; coreutils' does not
    sha = "openssl dgst -sha256" if shutil.which("openssl") else "sha256sum"
    repo = ref.split("/", 1)[1].rsplit(":", 1)[0]
    req = urllib.request.Request(f"http://{reg.host}/v2/{repo}/manifests/1", headers={
        "Accept": "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(req) as r:
        layers = json.load(r)["layers"]
    pipes = [f"(curl -s http://{reg.host}/v2/{repo}/blobs/{l['digest']} | tee >({sha} > /dev/null) | "
             f"{inflate} | {sha} > /dev/null) &" for l in layers]
    print(f"floor: curl | tee >({sha}) | {inflate} | {sha}, every blob at once", flush=True)
    return ["bash", "-c", " ".join(pipes) + " wait"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", default="/usr/share", help="directory imported as the base layer (default /usr/share)")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved runs of each (best is kept)")
    ap.add_argument("--workdir", default=None, help="kept, and reused by a later run (default: a temp dir)")
    ap.add_argument("--baseline", default=None, metavar="CHECKOUT",
                    help="also measure the layerlab of another checkout (e.g. a `git worktree` of main, C helpers "
                         "built), interleaved with this one, for before/after figures in the same run")
    args = ap.parse_args()
    reason = registry_missing() or (None if shutil.which("skopeo") else "needs skopeo")
    if reason:
        raise SystemExit(f"cannot run the benchmark: {reason}")
    tree = Path(args.tree).resolve()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="llbench-regimg-"))
    env = {**os.environ, "LAYERLAB_LAYER_CACHE_BYTES": "0"}
    with Registry(work / "reg") as reg:
        ref = f"{reg.host}/bench/app:1"
        if (reg.storage / "docker/registry/v2/repositories/bench/app/_manifests/tags/1").is_dir():
            print(f"reusing the image in {reg.storage}", flush=True)
        else:
            build(reg, work, tree, ref)
        floor_cmd = floor_command(reg, ref)
        served = _RegistryCPU(reg.proc.pid)
        lay, nb, fast, sko, flo, base = [], [], [], [], [], []
        for i in range(args.repeat):  # interleaved, so a change in the machine's load affects all alike
            if args.baseline:
                code = f"import sys; sys.path.insert(0, {str(Path(args.baseline).resolve())!r}); " + LAYERLAB
                base.append(served.measure([sys.executable, "-c", code, ref, "1"], env=env, stdout=None))
            lay.append(served.measure([sys.executable, "-c", LAYERLAB, ref, "1"], env=env, stdout=None))
            nb.append(served.measure([sys.executable, "-c", LAYERLAB_IMPORTED, ref, "1"], env=env, stdout=None))
            fast.append(served.measure([sys.executable, "-c", LAYERLAB, ref, "0"], env=env, stdout=None))
            dest = work / f"oci-{i}"
            sko.append(served.measure(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{ref}",
                                       f"oci:{dest}:x"]))
            shutil.rmtree(dest, ignore_errors=True)
            flo.append(served.measure(floor_cmd))
    s_wall, s_rss = min(sko)[:2]
    f_wall = min(f[0] for f in flo)
    cores = os.cpu_count() or 1
    print(f"\nfiles: {int(min(lay)[2].split()[0]):,}   (CPU: user + system seconds of the process; machine bound: "
          f"(that CPU + the registry's) / {cores} cores, the least wall time any scheduling could reach)")
    print(f"skopeo copy to oci:            {s_wall:.2f} s (runs {_span(sko)}; CPU {_cpu(sko)}), "
          f"peak RSS {s_rss / 1e6:.0f} MB; registry CPU {_served(sko)}; machine bound "
          f"{min(_least(r[3], r, cores) for r in sko):.2f} s")
    print(f"floor (download | hash, inflate | hash): {f_wall:.2f} s (runs {_span(flo)}; CPU {_cpu(flo)})")
    for label, runs in (("baseline checkout (default)  ", base), ("layerlab docker:// (default) ", lay),
                        ("  the same, imports done     ", nb), ("layerlab verify=False        ", fast)):
        if not runs:
            continue
        l_wall = min(r[0] for r in runs)
        inv = [float(r[2].split()[1]) for r in runs]
        inv_cpu = [float(r[2].split()[2]) for r in runs]
        print(f"{label}: inventory {min(inv):.2f} s (runs {min(inv):.2f}-{max(inv):.2f}; CPU {min(inv_cpu):.2f}-"
              f"{max(inv_cpu):.2f} s), whole process {l_wall:.2f} s (runs {_span(runs)}; CPU {_cpu(runs)}), "
              f"peak RSS {max(r[1] for r in runs) / 1e6:.0f} MB; registry CPU {_served(runs)}")
        bound_inv = min(_least(c, r, cores) for c, r in zip(inv_cpu, runs))
        bound_all = min(_least(r[3], r, cores) for r in runs)
        print(f"  / skopeo: inventory {min(inv) / s_wall:.2f}x, whole process {l_wall / s_wall:.2f}x (target <= 1.2x); "
              f"machine bound {bound_inv / s_wall:.2f}x and {bound_all / s_wall:.2f}x; inventory / floor "
              f"{min(inv) / f_wall:.2f}x")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


class _RegistryCPU:
    """The registry process's CPU seconds spent during each measured run (it shares the cores)."""

    def __init__(self, pid: int):
        self.stat = Path(f"/proc/{pid}/stat")
        self.tick = os.sysconf("SC_CLK_TCK")

    def seconds(self) -> float:
        fields = self.stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.tick  # utime, stime

    def measure(self, cmd, **kw) -> tuple:
        before = self.seconds()
        run = measure(cmd, **kw)
        return (*run, self.seconds() - before)


def _least(cpu: float, run, cores: int) -> float:
    """The machine bound of ``cpu`` seconds of the runner's work beside the registry's CPU in ``run``."""
    return (cpu + run[4]) / cores


def _served(runs) -> str:
    return f"{min(r[4] for r in runs):.2f}-{max(r[4] for r in runs):.2f} s"


def _span(runs) -> str:
    return f"{min(r[0] for r in runs):.2f}-{max(r[0] for r in runs):.2f}"


def _cpu(runs) -> str:
    return f"{min(r[3] for r in runs):.2f}-{max(r[3] for r in runs):.2f} s"


if __name__ == "__main__":
    sys.exit(main())
