"""Benchmark: ``layerlab summary`` of a many-layer `docker save` archive against the same files
squashed into one layer, and dive on both, in one run (cost should follow content, not layer count).

Run as root: ``python benchmarks/bench_layers.py``. It makes two pairs of archives (cached under
--cache, so later runs only measure):

  - 125 layers, on a real dockerd (``tests/harness``): busybox-static ``docker import``-ed as the
    base, then a Dockerfile of 124 steps, the classic builder (one layer per step): each ``COPY``
    adds a small file (2-10 KiB of random bytes), every fifth also rewrites one shared file, and every
    25th step is a ``RUN rm`` of a file an earlier step added. 125 is the deepest chain docker's layer
    store holds (``max depth exceeded`` beyond), so this is as deep as a daemon can build or load.
    Squashed: a container of it ``docker export``-ed and ``docker import``-ed as one layer (the same
    files, plus the few entries a container adds: /.dockerenv, /etc/hosts, ...). Both ``docker save``-d.
  - 400 layers: too deep for any daemon, so made as image tools that need none do: umoci unpacks the
    busybox base once, and each step changes the bundle's rootfs as above and ``umoci repack
    --refresh-bundle``-s it (umoci computes the layer diff, whiteouts included); skopeo copies the
    layout to a ``docker-archive:``. Squashed: a tar of the final rootfs as the one layer of an
    image (``umoci raw add-layer``), copied the same way.

Then it measures, for each archive (best of --repeat interleaved runs):
  - ``layerlab summary docker-archive:FILE`` as a fresh process (what a CLI user waits for);
  - in a process that has imported pandas, pyarrow and layerlab first (a notebook):
    ``open_source(...)`` with every frame the summary reads, ``summary_dict`` and the CLI's table;
  - ``dive --source docker-archive FILE --json OUT``;
  - with --baseline CHECKOUT: ``layerlab summary`` by another checkout's code (before/after, same run);
  - with --data-root (125 layers or fewer): ``layerlab summary ROOT`` of a data root holding only
    the image (each archive ``docker load``-ed on a dockerd of its own).
Targets (issue 24): layerlab on the 125-layer archive within 1.3x of its squashed twin, 400 layers
within 1.5x.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the harness (tests/harness)

from bench_support import dockerd_and_dive, measure_cpu as measure  # noqa: E402
from harness.daemon import Daemon  # noqa: E402
from harness.images import EPOCH, busybox_rootfs  # noqa: E402

LAYERLAB = str(Path(sys.executable).parent / "layerlab")  # the console script of this environment
VERSION = 1  # of the made data: a change to what is built changes the cache folder
# Prints the seconds of: open_source with the frames the summary reads, summary_dict, the CLI's table.
IN_PROCESS = """
import io, sys, time
import pandas, pyarrow, pyarrow.compute
import layerlab as ll
import layerlab.sources.archive, layerlab.sources._reader, layerlab.frames.inventory
from layerlab.analyses.summary import summary_dict
from layerlab.cli import summary as cli_summary
clock = lambda: (time.perf_counter(), time.process_time())
t0 = clock()
inv = ll.open_source('docker-archive:' + sys.argv[1], progress=False)
inv.files
t1 = clock()
data = summary_dict(inv)
t2 = clock()
cli_summary.print_table(inv, data, cli_summary.ordered(data['images']), out=io.StringIO())
t3 = clock()
print(*(b[i] - a[i] for i in (0, 1) for a, b in ((t0, t1), (t1, t2), (t2, t3))))
"""

def steps(count: int):
    """What each layer after the base does: ("add", path, bytes, mtime, also_state) or ("rm", path).

    Step i adds /srv/layers/NNN.bin; every fifth add rewrites /srv/state.txt too (a file hidden
    again and again); every 25th step removes the file added 20 steps before."""
    out = []
    for i in range(1, count):
        if i % 25 == 0:
            out.append(("rm", f"srv/layers/{i - 20:03d}.bin"))
            continue
        data = random.Random(i).randbytes(random.Random(-i).randint(2048, 10240))
        state = f"state of layer {i}\n".encode() * 40 if i % 5 == 0 else None
        out.append(("add", f"srv/layers/{i:03d}.bin", data, EPOCH + i, state))
    return out


def write_step(root: Path, step) -> None:
    """Apply one step to a directory tree (a build context or a rootfs)."""
    if step[0] == "rm":
        (root / step[1]).unlink()
        return
    _, rel, data, mtime, state = step
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    if state is not None:
        (root / "srv/state.txt").write_bytes(state)
        os.utime(root / "srv/state.txt", (mtime, mtime))


def build_daemon(work: Path, deep: Path, flat: Path, layers: int) -> None:
    """The deep image by the classic builder on a dockerd of its own, its squashed twin by export and
    import; both ``docker save``-d."""
    tmp = work / "tmp-daemon"
    shutil.rmtree(tmp, ignore_errors=True)
    with Daemon(tmp / "d", driver="overlay2") as d:
        rootfs = busybox_rootfs(tmp / "rootfs")
        d.docker("import", "--change", 'CMD ["/bin/sh"]', str(rootfs), "bench/base:1")
        ctx = tmp / "ctx"
        lines = ["FROM bench/base:1"]
        for i, step in enumerate(steps(layers), 1):
            if step[0] == "rm":
                lines.append(f"RUN rm /{step[1]}")
                continue
            write_step(ctx / f"l{i:03d}", step)
            lines.append(f"COPY l{i:03d}/ /")
        (ctx / "Dockerfile").write_text("\n".join(lines) + "\n")
        print(f"building {layers} layers with the classic builder ...", flush=True)
        d.docker("build", "--network", "none", "-q", "-t", f"bench/deep:{layers}", str(ctx), timeout=3600)
        got = len(d.docker_json("image", "inspect", f"bench/deep:{layers}")[0]["RootFS"]["Layers"])
        if got != layers:
            raise SystemExit(f"the build made {got} layers, not {layers}")
        cid = d.docker("create", "--network", "none", f"bench/deep:{layers}").stdout.strip()
        export = subprocess.Popen(["docker", "export", cid], env=d.env, stdout=subprocess.PIPE)
        subprocess.run(["docker", "import", "--change", 'CMD ["/bin/sh"]', "-", f"bench/flat:{layers}"],
                       stdin=export.stdout, env=d.env, check=True, stdout=subprocess.DEVNULL)
        if export.wait():
            raise SystemExit("docker export failed")
        d.docker("save", "-o", deep, f"bench/deep:{layers}", timeout=3600)
        d.docker("save", "-o", flat, f"bench/flat:{layers}", timeout=3600)
    shutil.rmtree(tmp, ignore_errors=True)


def build_umoci(work: Path, deep: Path, flat: Path, layers: int) -> None:
    """The deep image by umoci (one repack per step), its squashed twin as one layer; skopeo writes both
    as `docker save` archives."""
    tmp = work / "tmp-umoci"
    shutil.rmtree(tmp, ignore_errors=True)
    layout, bundle = tmp / "layout", tmp / "bundle"

    def run(*cmd):
        subprocess.run([str(c) for c in cmd], check=True, stdout=subprocess.DEVNULL)

    rootfs = busybox_rootfs(tmp / "rootfs")
    run("umoci", "init", "--layout", layout)
    for tag in ("deep", "flat"):
        run("umoci", "new", "--image", f"{layout}:{tag}")
        run("umoci", "config", "--image", f"{layout}:{tag}", "--config.cmd", "/bin/sh")
    run("umoci", "raw", "add-layer", "--image", f"{layout}:deep", rootfs)
    run("umoci", "unpack", "--image", f"{layout}:deep", bundle)
    print(f"making {layers} layers with umoci ...", flush=True)
    for i, step in enumerate(steps(layers), 1):
        write_step(bundle / "rootfs", step)
        run("umoci", "repack", "--refresh-bundle", "--history.created_by", f"step {i}", "--image", f"{layout}:deep",
            bundle)
    squashed = tmp / "squashed.tar"
    run("tar", "--sort=name", "-C", bundle / "rootfs", "-cf", squashed, ".")
    run("umoci", "raw", "add-layer", "--image", f"{layout}:flat", squashed)
    for tag, out in (("deep", deep), ("flat", flat)):
        run("skopeo", "copy", f"oci:{layout}:{tag}", f"docker-archive:{out}:bench/{tag}:{layers}")
    shutil.rmtree(tmp, ignore_errors=True)


def archives(cache: Path, layers: int) -> tuple[Path, Path]:
    """The (deep, squashed) archives of ``layers`` layers, made once into ``cache``."""
    how = "daemon" if layers <= 125 else "umoci"
    folder = cache / f"v{VERSION}-{how}-{layers}"
    deep, flat = folder / "deep.tar", folder / "flat.tar"
    if deep.exists() and flat.exists():
        print(f"reusing {folder}", flush=True)
        return deep, flat
    folder.mkdir(parents=True, exist_ok=True)
    (build_daemon if how == "daemon" else build_umoci)(folder, deep, flat, layers)
    return deep, flat


def data_roots(cache: Path, layers: int, deep: Path, flat: Path) -> tuple[Path, Path]:
    """Data roots holding only the deep image, and only its squashed twin (``docker load`` of each
    archive on a dockerd of its own), made once into ``cache``."""
    roots = []
    for kind, archive in (("deep", deep), ("flat", flat)):
        root = cache / f"v{VERSION}-daemon-{layers}" / f"root-{kind}"
        if not (root / "image").is_dir():
            shutil.rmtree(root, ignore_errors=True)
            tmp = Path(tempfile.mkdtemp(prefix="llbench-load-"))
            with Daemon(tmp, driver="overlay2", data_root=root) as d:
                d.docker("load", "-q", "-i", archive, timeout=3600)
            shutil.rmtree(tmp, ignore_errors=True)
        roots.append(root)
    return roots[0], roots[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, nargs="+", default=[125, 400], help="layer counts (default 125 400; "
                    "up to 125 on a dockerd, more with umoci)")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved runs of each measurement (best is kept)")
    ap.add_argument("--no-dive", action="store_true", help="skip dive")
    ap.add_argument("--cache", default=os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
                                                    "layerlab-bench", "layers"),
                    help="where the made archives are kept between runs (default ~/.cache/layerlab-bench/layers)")
    ap.add_argument("--data-root", action="store_true", help="also `layerlab summary` of data roots holding each image "
                    "of the pairs of up to 125 layers (docker load-ed; a daemon holds no deeper image)")
    ap.add_argument("--baseline", default=None, metavar="CHECKOUT",
                    help="also time `layerlab summary` with the layerlab of another checkout (C helpers built), "
                         "interleaved, for before/after figures in the same run")
    ap.add_argument("--make-only", action="store_true", help="make (or find) the archives and stop")
    args = ap.parse_args()
    dive = dockerd_and_dive(args.no_dive)
    for tool in ("umoci", "skopeo"):
        if any(n > 125 for n in args.layers) and not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (apt-get install {tool}); it makes the images deeper than 125 "
                             "layers")
    cache = Path(args.cache)
    pairs = {n: archives(cache, n) for n in args.layers}
    roots = {n: data_roots(cache, n, *pairs[n]) for n in args.layers if args.data_root and n <= 125}
    if args.make_only:
        return 0
    work = Path(tempfile.mkdtemp(prefix="llbench-layers-"))

    # the other checkout's CLI, first on the path (nothing written into it: no bytecode files)
    baseline_cli = ("import sys; sys.dont_write_bytecode = True; sys.path.insert(0, "
                    f"{str(Path(args.baseline or '.').resolve())!r}); "
                    "sys.argv[0] = 'layerlab'; from layerlab.cli import run; run()")
    results = {}
    for n, (deep, flat) in pairs.items():
        runs = {kind: {"cli": [], "in": [], "dive": [], "root": [], "base": []} for kind in ("deep", "flat")}
        for i in range(args.repeat):  # interleaved: a change in the machine's load affects all alike
            for kind, path in (("deep", deep), ("flat", flat)):
                if n in roots:
                    root = roots[n][0 if kind == "deep" else 1]
                    runs[kind]["root"].append(measure([LAYERLAB, "summary", str(root)], stderr=subprocess.DEVNULL))
                runs[kind]["cli"].append(measure([LAYERLAB, "summary", f"docker-archive:{path}"],
                                                 stderr=subprocess.DEVNULL))
                runs[kind]["in"].append(measure([sys.executable, "-c", IN_PROCESS, str(path)], stdout=None))
                if args.baseline:
                    runs[kind]["base"].append(measure([sys.executable, "-c", baseline_cli, "summary",
                                                       f"docker-archive:{path}"], stderr=subprocess.DEVNULL))
                if not args.no_dive:
                    runs[kind]["dive"].append(measure([dive, "--source", "docker-archive", str(path), "--json",
                                                       str(work / "dive.json")], stderr=subprocess.DEVNULL))
        results[n] = runs

    def span(values):
        return f"{min(values):.2f}-{max(values):.2f}"

    print()
    for n, runs in results.items():
        deep, flat = pairs[n]
        print(f"{n} layers: {deep.stat().st_size / 1e6:.1f} MB archive; squashed {flat.stat().st_size / 1e6:.1f} MB")
        best = {}
        for kind in ("deep", "flat"):
            cli, cli_cpu = [r[0] for r in runs[kind]["cli"]], [r[3] for r in runs[kind]["cli"]]
            parts = [[float(x) for x in r[2].split()] for r in runs[kind]["in"]]  # 3 wall, then 3 CPU
            wall, cpu = [sum(p[:3]) for p in parts], [sum(p[3:]) for p in parts]
            dives = [r[0] for r in runs[kind]["dive"]]
            best[kind] = {"cli": min(cli), "cli_cpu": min(cli_cpu), "in": min(wall), "in_cpu": min(cpu),
                          "dive": min(dives) if dives else None}
            p = min(parts, key=lambda p: sum(p[:3]))
            label = f"{n} layers" if kind == "deep" else "squashed "
            print(f"  {label}: layerlab summary, process {min(cli):.2f} s (runs {span(cli)}; CPU {span(cli_cpu)} s); "
                  f"in process {min(wall):.3f} s (open_source + frames {p[0]:.3f}, summary_dict {p[1]:.3f}, "
                  f"table {p[2]:.3f}; CPU {span(cpu)} s)"
                  + (f"; dive --json {min(dives):.2f} s (runs {span(dives)})" if dives else ""))
        d, f = best["deep"], best["flat"]
        target = 1.3 if n <= 125 else 1.5
        rounds = ", ".join(f"{a[0] / b[0]:.2f}x" for a, b in zip(runs["deep"]["cli"], runs["flat"]["cli"]))
        print(f"  {n} layers / squashed, layerlab summary as a process: {d['cli'] / f['cli']:.2f}x wall, best against "
              f"best (each round: {rounds}); {d['cli_cpu'] / f['cli_cpu']:.2f}x CPU (target <= {target}x)")
        print(f"  {n} layers / squashed, in a process with its imports done: {d['in'] / f['in']:.2f}x wall, "
              f"{d['in_cpu'] / f['in_cpu']:.2f}x CPU")
        if runs["deep"]["base"]:
            walls = {k: [r[0] for r in runs[k]["base"]] for k in runs}
            cpus = {k: [r[3] for r in runs[k]["base"]] for k in runs}
            print(f"  baseline checkout, same runs: layerlab summary {min(walls['deep']):.2f} s (CPU "
                  f"{span(cpus['deep'])} s), "
                  f"squashed {min(walls['flat']):.2f} s (CPU {span(cpus['flat'])} s): "
                  f"{min(walls['deep']) / min(walls['flat']):.2f}x wall, {min(cpus['deep']) / min(cpus['flat']):.2f}x "
                  "CPU")
        if runs["deep"]["root"]:
            walls = {k: [r[0] for r in runs[k]["root"]] for k in runs}
            cpus = {k: [r[3] for r in runs[k]["root"]] for k in runs}
            print(f"  data roots (docker load of each archive): layerlab summary ROOT {min(walls['deep']):.2f} s "
                  f"(CPU {span(cpus['deep'])} s), squashed {min(walls['flat']):.2f} s (CPU {span(cpus['flat'])} s): "
                  f"{min(walls['deep']) / min(walls['flat']):.2f}x wall, {min(cpus['deep']) / min(cpus['flat']):.2f}x "
                  "CPU")
        if d["dive"] is not None:
            print(f"  dive: {n} layers / squashed {d['dive'] / f['dive']:.2f}x; layerlab process / dive "
                  f"{d['cli'] / d['dive']:.1f}x on {n} layers, {f['cli'] / f['dive']:.1f}x squashed")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
