"""Benchmark: every image's waste figures at once (``analyses.efficiency``) and ``layerlab summary``,
against the time to load the snapshot's frames.

Run as root: ``python benchmarks/bench_summary.py``. It starts a real dockerd in a temporary
directory and builds a data root like a busy build host's: two large bases ``docker import``-ed
from this machine (a system tree: /usr/share and /usr/lib/python3*; a Python tree: the venv's
site-packages), each with busybox for a shell, and images built FROM them with the classic builder
(so each step leaves an intermediate image, and images share prefixes of layers): deletions,
recursive chmods that copy whole trees up, copies, a reinstalled package, small one-line changes,
and extra tags. It scans the root to a snapshot, then measures in this one run (best of --repeat
runs, each in a fresh process):

  - load: ``layerlab.load(SNAPSHOT).frames()`` (every frame read from Parquet and validated);
  - efficiency: ``analyses.efficiency(inv)`` for every image ``docker images`` lists, frames in hand;
  - per image (the peer it replaces): ``waste.image_figures`` for each of those images, each
    stacked on its own (one run);
  - ``layerlab summary SNAPSHOT``: the whole process's wall time and peak RSS.

Targets (issue 16): efficiency within 3x the load; summary's peak RSS under 250 MB.
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
from harness.images import busybox_rootfs  # noqa: E402

SITE = "/opt/venv/lib/python3.11/site-packages"
# (tag, FROM, RUN commands): one layer per RUN, an intermediate image per step but the last.
BUILDS = [
    ("bench/sys-slim:1", "bench/system:1", ["rm -rf /usr/share/doc /usr/share/locale", "echo 1 > /etc/version"]),
    ("bench/sys-slim:2", "bench/sys-slim:1", ["echo 2 > /etc/version"]),
    ("bench/sys-man:1", "bench/system:1", ["chmod -R go-w /usr/share/man"]),
    ("bench/sys-man:2", "bench/sys-man:1",
     ["rm -rf /usr/share/man/man3 && mkdir /usr/share/man/man3 && echo x > /usr/share/man/man3/x"]),
    ("bench/sys-locale:1", "bench/system:1",
     ["mkdir -p /opt && cp -a /usr/share/locale /opt/locale", "rm -rf /opt/locale/de"]),
    ("bench/sys-icons:1", "bench/sys-slim:1",
     ["chmod -R a+r /usr/share/icons", "mkdir -p /srv && echo icons > /srv/id"]),
    ("bench/py-app:1", "bench/python:1", ["mkdir /app && echo 'print(1)' > /app/main.py"]),
    ("bench/py-app:2", "bench/py-app:1", [f"rm -rf {SITE}/botocore", "echo 2 > /app/version"]),
    ("bench/py-app:3", "bench/py-app:2",
     [f"cp -a {SITE}/pandas /tmp/pandas && rm -rf {SITE}/pandas && mv /tmp/pandas {SITE}/pandas"]),
    ("bench/py-numpy:1", "bench/python:1", [f"chmod -R go-w {SITE}/numpy"]),
    ("bench/py-all:1", "bench/python:1", ["chmod -R go-w /opt/venv", "echo done > /opt/venv/built"]),
]
LAYERLAB = str(Path(sys.executable).parent / "layerlab")  # the console script of this environment
SMALL = 8  # one-line images on each base, each its own tag


def tar_of(tree_root: str, members: list[str], rootfs: Path, out: Path, prefix: str | None = None) -> Path:
    """A tar of ``members`` of ``tree_root`` (renamed under ``prefix``) with busybox's rootfs appended."""
    cmd = ["tar", "-cf", str(out), "-C", tree_root]
    if prefix:
        cmd.append(f"--transform=flags=rh;s,^,{prefix},")
    subprocess.run([*cmd, *members], check=True, stderr=subprocess.DEVNULL)
    subprocess.run(["tar", "-Af", str(out), str(rootfs)], check=True)
    return out


def build(d: Daemon, work: Path) -> None:
    """The images (a data root left by an interrupted run is completed: imports are skipped when
    their tag is there, builds reuse the builder's cache)."""

    def have(tag):
        return d.docker("image", "inspect", tag, check=False).returncode == 0

    rootfs = busybox_rootfs(work / "rootfs")
    d.docker("import", "--change", 'CMD ["/bin/sh"]', str(rootfs), "bench/busybox:1")
    if not have("bench/system:1"):
        usr_py = [p.name for p in Path("/usr/lib").glob("python3*") if p.is_dir()]
        system = tar_of("/", ["usr/share", *[f"usr/lib/{p}" for p in usr_py]], rootfs, work / "system.tar")
        d.docker("import", "--change", 'CMD ["/bin/sh"]', str(system), "bench/system:1", timeout=1200)
        system.unlink()
    if not have("bench/python:1"):
        site = Path(sys.prefix, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}", "site-packages")
        python = tar_of(str(site.parent), ["site-packages"], rootfs, work / "python.tar",
                        prefix=str(Path(SITE).parent).lstrip("/") + "/")
        d.docker("import", "--change", 'CMD ["/bin/sh"]', str(python), "bench/python:1", timeout=1200)
        python.unlink()
    builds = list(BUILDS)
    for i in range(SMALL):
        builds.append((f"bench/sys-small-{i}:1", "bench/system:1", [f"echo {i} > /etc/small"]))
        builds.append((f"bench/py-small-{i}:1", "bench/python:1", [f"echo {i} > /etc/small"]))
    for tag, base, runs in builds:
        ctx = work / "ctx" / tag.replace("/", "_").replace(":", "_")
        ctx.mkdir(parents=True, exist_ok=True)
        (ctx / "Dockerfile").write_text(f"FROM {base}\n" + "".join(f"RUN {r}\n" for r in runs)
                                        + f'LABEL bench="{tag}"\n')
        print(f"  building {tag}", flush=True)
        d.docker("build", "--network", "none", "-q", "-t", tag, str(ctx), timeout=1800)
    for tag, _, _ in builds[::3]:
        d.docker("tag", tag, tag.replace("bench/", "registry.example:5000/team/"))


# Prints: seconds to load every frame, to compute efficiency for all listed images; images, files
# rows; peak RSS (bytes) after loading, and after efficiency.
TIMED = (
    "import sys, time, warnings, resource; warnings.simplefilter('ignore'); import layerlab as ll; "
    "from layerlab import analyses; peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024; "
    "t0 = time.perf_counter(); inv = ll.load(sys.argv[1]); inv.frames(); "
    "t1 = time.perf_counter(); p1 = peak(); eff = analyses.efficiency(inv); t2 = time.perf_counter(); "
    "print(t1 - t0, t2 - t1, len(eff), len(inv.files), p1, peak())"
)
# Prints: seconds for every listed image's figures stacked one image at a time (the peer).
PER_IMAGE = (
    "import sys, time, warnings; warnings.simplefilter('ignore'); import layerlab as ll; "
    "from layerlab.analyses.dive.waste import image_figures; from layerlab.analyses.dedup.base import base_images; "
    "inv = ll.load(sys.argv[1]); inv.frames(); b = base_images(inv).set_index('image_id')['base_layer_count']; "
    "t0 = time.perf_counter(); [image_figures(inv, i, int(b.get(i, 0))) for i in inv.listed['image_id']]; "
    "print(time.perf_counter() - t0)"
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each measurement (best is kept)")
    ap.add_argument("--workdir", default=None,
                    help="where the temporary daemon and snapshot live (default: a temp dir)")
    ap.add_argument("--no-peer", action="store_true", help="skip stacking each image on its own (slow)")
    args = ap.parse_args()
    dockerd_and_dive(no_dive=True)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="llbench-summary-"))
    snap = work / "bench.layerlab"
    if snap.exists() and args.workdir:
        print(f"reusing the snapshot {snap} (remove it to build the data root again)", flush=True)
    else:
        with Daemon(work / "docker", driver="overlay2") as d:
            print("building the data root ...", flush=True)
            build(d, work)
            print("scanning it ...", flush=True)
            subprocess.run([LAYERLAB, "scan", "-q", str(d.data_root), "-o", str(snap)], check=True)
    lines = subprocess.run([LAYERLAB, "summary", "--json", str(snap)], capture_output=True, check=True).stdout
    import json

    totals = json.loads(lines)["totals"]
    timed, summaries = [], []
    for _ in range(args.repeat):  # interleaved, so a change in the machine's speed affects all alike
        _, _, out = measure([sys.executable, "-c", TIMED, str(snap)], stdout=None)
        timed.append([float(x) for x in out.split()])
        summaries.append(measure([LAYERLAB, "summary", str(snap)]))
    load = min(t[0] for t in timed)
    eff = min(t[1] for t in timed)
    images, rows = int(timed[0][2]), int(timed[0][3])
    wall = min(s[0] for s in summaries)
    rss = max(s[1] for s in summaries)
    print(f"\ndata root: {totals['all_images']} images ({images} listed, {totals['tagged_images']} tagged), "
          f"{totals['layers']} layers, {rows:,} files rows; snapshot {snap}")
    print(f"load the snapshot's frames : {load:6.2f} s  (runs: {', '.join(f'{t[0]:.2f}' for t in timed)})")
    print(f"efficiency, all {images} images: {eff:6.2f} s  (runs: {', '.join(f'{t[1]:.2f}' for t in timed)})")
    print(f"  ratio efficiency/load = {eff / load:.2f}x (target <= 3x)")
    if not args.no_peer:
        _, _, out = measure([sys.executable, "-c", PER_IMAGE, str(snap)], stdout=None)
        alone = float(out)
        print(f"each image stacked alone   : {alone:6.2f} s  (the one pass is {alone / eff:.1f}x faster)")
    print(f"layerlab summary SNAPSHOT  : {wall:6.2f} s whole process (runs: "
          f"{', '.join(f'{s[0]:.2f}' for s in summaries)})")
    loaded = max(t[4] for t in timed)
    print(f"  peak RSS {rss / 1e6:.0f} MB (target < 250 MB); loading the frames alone peaks at {loaded / 1e6:.0f} MB, "
          f"{max(t[5] for t in timed) / 1e6:.0f} MB with efficiency")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
