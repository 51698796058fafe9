"""Benchmark: widget responsiveness on a host with hundreds of images.

Run as root: ``python benchmarks/bench_widgets.py [--images 300]``. It starts a real dockerd in a
temporary directory, imports --images small images (each its own `docker import` of a tar of a few
files) and builds the sample's images beside them (a busybox base with up to 6 layers on it), scans
the root, and times the widgets: building the explorer and the comparison, and switching image
(what a person does with the dropdown), which redraws the chart and the table; then the file tree
(issue 14): switching image, layer and view, and opening a directory; with ``--big DIR``, the tree
on one large image too (DIR imported, a COPY layer on it). Prints the median and the slowest update.
Target (issues 5 and 14): every update well under a second.

``--files N --label NAME`` times the widgets on one image of about N files instead (issue 26: under
a second after the frames are loaded, a busy line past half a second): first open, layer switch,
view switch and filter, in ms, beside every earlier run's figures kept in --results.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the harness that starts real daemons (tests/harness)

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import layerlab as ll  # noqa: E402
from harness.daemon import Daemon, dockerd_missing  # noqa: E402
from harness.images import build_sample  # noqa: E402
from layerlab.widgets import FileTree, ImageCompare, LayerExplorer  # noqa: E402


def small_tar(seed: int) -> bytes:
    rng = random.Random(seed)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for j in range(rng.randint(3, 30)):
            data = rng.randbytes(rng.randint(100, 200_000))
            info = tarfile.TarInfo(f"app{seed}/dir{j % 4}/file{j}.bin")
            info.size = len(data)
            info.mtime = 1704067200
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--switches", type=int, default=30, help="image switches to time")
    ap.add_argument("--big", metavar="DIR", help="also time the file tree on one large image: DIR imported as "
                    "its base layer, with a COPY layer on it that adds a directory and rewrites a file")
    ap.add_argument("--files", type=int, metavar="N", help="only time the widgets on one image of about N files "
                    "(a generated site-packages: modules, bytecode, test suites), imported with a COPY layer on it: "
                    "first open, layer switch, view switch and filter, in ms, beside the figures of the previous run")
    ap.add_argument("--label", default="this run", help="name these figures (kept in --results for the next run)")
    ap.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "bench_widgets.json"),
                    help="where figures are kept between runs (default: benchmarks/results/bench_widgets.json)")
    args = ap.parse_args()
    if args.files:
        return bench_files(args)
    reason = dockerd_missing()
    if reason:
        raise SystemExit(f"cannot run: {reason}")
    with tempfile.TemporaryDirectory(prefix="bench-widgets-") as tmp, Daemon(Path(tmp) / "d") as d:
        t = time.perf_counter()
        for i in range(args.images):
            d.docker("import", "-", f"bench/app{i}:1", input=small_tar(i))
        print(f"{args.images} images imported in {time.perf_counter() - t:.0f} s")
        build_sample(d)  # and the sample's images: a busybox base with up to 6 layers on it, deletions, chmods
        inv = ll.open_root(str(d.data_root), progress=False)
        t = time.perf_counter()
        inv.files  # noqa: B018 - the scan, timed apart from the widgets
        print(f"scan: {len(inv.images)} images, {len(inv.files):,} files in {time.perf_counter() - t:.2f} s")

        t = time.perf_counter()
        explorer = LayerExplorer(inv)
        compare = ImageCompare(inv)
        print(f"building the explorer and the comparison: {time.perf_counter() - t:.2f} s")
        tags = [tags[0] for tags in inv.images["tags"] if tags]
        rng = random.Random(0)
        times = []
        for _ in range(args.switches):
            ref = rng.choice(tags)
            t = time.perf_counter()
            explorer.image = inv.image_id(ref)
            compare.b = inv.image_id(ref)
            times.append(time.perf_counter() - t)
        print(f"switching image ({args.switches} times, explorer and comparison): median "
              f"{statistics.median(times) * 1000:.0f} ms, "
              f"slowest {max(times) * 1000:.0f} ms (target: well under 1 s)")

        t = time.perf_counter()
        tree = FileTree(inv)
        print(f"building the file tree: {time.perf_counter() - t:.2f} s")
        report = {"image": [], "layer": [], "view": [], "open a directory": []}
        for _ in range(args.switches):
            ref = rng.choice(tags)
            t = time.perf_counter()
            tree.image = inv.image_id(ref)
            report["image"].append(time.perf_counter() - t)
            t = time.perf_counter()
            tree.position = rng.randrange(len(tree.chain))
            report["layer"].append(time.perf_counter() - t)
            t = time.perf_counter()
            tree.view = "aggregated" if tree.view == "layer" else "layer"
            report["view"].append(time.perf_counter() - t)
            dirs = [p for p, d in zip(tree.rows()["path"], tree.rows()["dir"]) if d]
            if dirs:
                t = time.perf_counter()
                tree.listing.click(rng.choice(dirs))  # a click on a directory
                report["open a directory"].append(time.perf_counter() - t)
        for what, ts in report.items():
            if ts:
                print(f"file tree, switching {what} ({len(ts)} times): median {statistics.median(ts) * 1000:.0f} ms, "
                      f"slowest {max(ts) * 1000:.0f} ms (target: well under 1 s)")
        # The largest image there is (the sample's busybox base, hundreds of entries), all open.
        big = inv.images.sort_values("layer_count").iloc[-1]["image_id"]
        tree.image = big
        t = time.perf_counter()
        tree.expanded = [p for p, d in zip(tree.tree().paths, tree.tree().is_dir) if d]
        print(f"file tree, every directory of {len(tree.tree().paths)} entries open: "
              f"{(time.perf_counter() - t) * 1000:.0f} ms, "
              f"{len(tree.listing.rows)} rows listed")
        if args.big:
            time_big_tree(d, Path(args.big), Path(tmp))
    return 0


def time_big_tree(d, big: Path, tmp: Path):
    """The file tree on a large two-layer image: building it, switching layer and view, opening directories."""
    import subprocess

    tar = subprocess.Popen(["tar", "-C", str(big), "-cf", "-", "."], stdout=subprocess.PIPE)
    subprocess.run(["docker", "import", "-", "bench/big:base"], stdin=tar.stdout, env=d.env, check=True,
                   capture_output=True)
    tar.wait()
    rewritten = next(p for p in sorted(big.rglob("*.py")) if p.is_file())
    ctx = tmp / "big-context"
    (ctx / "added").mkdir(parents=True)
    for i in range(50):
        (ctx / "added" / f"f{i}.txt").write_text(f"file {i}\n")
    (ctx / "rewritten").write_text("rewritten\n")
    target = "/" + str(rewritten.relative_to(big))
    (ctx / "Dockerfile").write_text(f"FROM bench/big:base\nCOPY added/ /added/\nCOPY rewritten {target}\n")
    d.docker("build", "--network", "none", "-q", "-t", "bench/big:1", str(ctx), timeout=900)
    inv = ll.open_root(str(d.data_root), progress=False)
    t = time.perf_counter()
    inv.files  # noqa: B018
    big_id = inv.image_id("bench/big:1")
    entries = len(inv.files_of(inv.chain(big_id)))
    print(f"large image: {entries:,} entries in 2 layers; scan {time.perf_counter() - t:.2f} s")
    t = time.perf_counter()
    tree = FileTree(inv, "bench/big:1")
    print(f"large image, building the file tree (top layer): {time.perf_counter() - t:.2f} s")
    for what, action in (("layer 0 (the whole base added)", lambda: setattr(tree, "position", 0)),
                         ("back to layer 1", lambda: setattr(tree, "position", 1)),
                         ("aggregated view", lambda: setattr(tree, "view", "aggregated")),
                         ("layer view again", lambda: setattr(tree, "view", "layer")),
                         ("a path filter", lambda: setattr(tree, "path_filter", "__init__")),
                         ("filter cleared", lambda: setattr(tree, "path_filter", "")),
                         ("opening a directory",
                          lambda: tree.toggle(next(p for p,
                                                   d in zip(tree.rows()["path"], tree.rows()["dir"]) if d
                                                   and p not in tree.expanded))),
                         ("snapshot (report HTML)", lambda: tree.snapshot())):
        t = time.perf_counter()
        action()
        print(f"large image, {what}: {(time.perf_counter() - t) * 1000:.0f} ms ({len(tree.listing.rows)} rows "
              "listed)")


def bench_files(args) -> int:
    """The widgets on one image of ``args.files`` files: what a person waits for, in ms."""
    import json
    import os

    from harness.host import python_tree

    reason = dockerd_missing()
    if reason:
        raise SystemExit(f"cannot run: {reason}")
    with tempfile.TemporaryDirectory(prefix="bench-widgets-") as tmp, Daemon(Path(tmp) / "d") as d:
        tree_dir = Path(tmp) / "tree"
        made = python_tree(tree_dir, max(1, args.files // 24))
        time_big = {}
        import subprocess

        tar = subprocess.Popen(["tar", "-C", str(tree_dir), "-cf", "-", "."], stdout=subprocess.PIPE)
        subprocess.run(["docker", "import", "-", "bench/big:base"], stdin=tar.stdout, env=d.env, check=True,
                       capture_output=True)
        tar.wait()
        ctx = Path(tmp) / "ctx"
        (ctx / "added").mkdir(parents=True)
        for i in range(50):
            (ctx / "added" / f"f{i}.txt").write_text(f"file {i}\n")
        (ctx / "mod0.py").write_text("rewritten\n")  # no shell in the image: a COPY hides a module below it
        (ctx / "Dockerfile").write_text("FROM bench/big:base\nCOPY added/ /added/\n"
                                        "COPY mod0.py /usr/lib/python3/site-packages/pkg1/mod0.py\n")
        d.docker("build", "--network", "none", "-q", "-t", "bench/big:1", str(ctx), timeout=900)
        inv = ll.open_root(str(d.data_root), progress=False)
        inv.files  # noqa: B018 - the frame load, before the widgets' first open
        image = inv.image_id("bench/big:1")
        entries = len(inv.files_of(inv.chain(image)))
        print(f"one image of {entries:,} entries ({made:,} files written), {len(inv.chain(image))} layers")

        def timed(what, action):
            t = time.perf_counter()
            action()
            time_big[what] = round((time.perf_counter() - t) * 1000)

        holder = {}
        timed("explorer: first open", lambda: holder.update(ex=LayerExplorer(inv, image, position=0)))
        ex = holder["ex"]
        timed("explorer: layer switch", lambda: setattr(ex, "position", 2))
        timed("explorer: filter", lambda: setattr(ex, "path_filter", "__pycache__"))
        # the base layer again, filtered and then not: its table lists every entry of the image
        timed("explorer: back to the base", lambda: setattr(ex, "position", 0))
        timed("explorer: filter cleared", lambda: setattr(ex, "path_filter", ""))
        print(f"explorer: busy line shown in {ex.busy.shown} of 5 updates (it shows after {ex.busy.AFTER} s)")
        timed("tree: first open", lambda: holder.update(tree=FileTree(inv, image, position=0)))
        tree = holder["tree"]
        timed("tree: layer switch", lambda: setattr(tree, "position", 2))
        timed("tree: view switch", lambda: setattr(tree, "view", "aggregated"))
        timed("tree: filter", lambda: setattr(tree, "path_filter", "__pycache__"))
    path = Path(args.results)
    previous = json.loads(path.read_text()) if path.exists() else {}
    key = f"files={args.files}"
    before = previous.get(key, {})
    before.pop(args.label, None)  # a label run again: its new figures beside the others'
    print(f"\n{'in ms':28} {args.label:>14}" + "".join(f" {k:>14}" for k in before))
    for what, ms in time_big.items():
        print(f"{what:28} {ms:>14,}" + "".join(f" {v[what]:>14,}" if what in v else f" {'-':>14}"
                                               for v in before.values()))
    before[args.label] = time_big
    previous[key] = before
    os.makedirs(path.parent, exist_ok=True)
    path.write_text(json.dumps(previous, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
