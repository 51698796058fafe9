"""Benchmark: a fleet of host snapshots on a Dask LocalCluster, against pandas and DuckDB.

Host snapshots are made from real captures (the bundled samples by default, or snapshots given
with ``--source``, e.g. a large ``layerlab scan`` of a test daemon): each host keeps a varying
subset of one capture's images and containers (``layerlab.fleet.demo.make_fleet``). For
each fleet size, three peers answer the same questions over the same Parquet files, each in a
process of its own so that its peak memory is its own:

- relational totals: hosts, distinct images, (host, image) pairs, distinct layers, files rows,
  bytes stored on the hosts (``size_bytes``) and bytes of the distinct layers;
- ``find``: how many hosts carry a path (format-3 snapshots: the row groups whose path statistics
  allow it, in every peer; older ones: every host's ``path`` column);
- layerlab only: the whole ``fleet summary`` plus the top images by fleet-wide savings (per-image
  waste by the single-host code, which neither peer can compute).

Peers: ``pandas`` (``pd.concat`` of every snapshot's frames, then the same query) and ``duckdb``
(SQL over ``read_parquet`` of the same files, the single-machine peer: each host's
``fleet_index.parquet`` where the snapshots have one, as layerlab reads it, else its ``images`` and
``image_layers`` files; ``files.parquet`` for the files rows and ``find``). In the same run layerlab
also reads the folder on a ``dask scheduler`` + ``dask worker`` cluster started as processes
(``--where dask-cli``) and the hosts uploaded to a moto S3 server, against DuckDB on the same
objects through the same s3fs (``--where s3``, up to ``--s3-hosts``). The answers are checked
equal. Client peak memory: the process's VmHWM (``getrusage``'s maxrss without the parent's).
Run: ``python benchmarks/bench_fleet.py [--hosts 1000,10000] [--dir DIR]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the harness (tests/harness), for --capture

PATH = "/data/big.bin"  # what `find` looks for: a file every sample capture has, in some images only
CAPTURE_PATH = "/usr/include/stdio.h"  # ... and in the --capture images
FRAMES = ("images", "image_layers", "files")


def peak_mb() -> float:
    """This process's peak resident size (MB): VmHWM, which exec resets (ru_maxrss keeps the
    parent's peak across fork and exec on Linux, so a small child would show its parent's)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# A peer is stopped past this resident size (MB), so that a pd.concat of a large fleet fails as
# "out of memory" here rather than pushing the shared machine's other processes out.
MEMORY_LIMIT_MB = int(os.environ.get("BENCH_FLEET_MEMORY_LIMIT_MB", "8192"))


def watchdog(limit_mb: int) -> None:
    import threading

    import psutil

    me = psutil.Process()

    def watch():
        while True:
            if me.memory_info().rss / 2**20 > limit_mb:
                sys.stderr.write(f"out of memory: resident size passed the {limit_mb} MB limit\n")
                os._exit(3)
            time.sleep(0.1)

    threading.Thread(target=watch, daemon=True).start()


# -- the peers, each run in its own process (--one NAME --list FILE) ------------------------------------


def pid_peak() -> tuple[int, float]:
    return os.getpid(), peak_mb()


def pid_cpu() -> tuple[int, float]:
    """This process's CPU seconds (user + system, all its threads)."""
    return os.getpid(), time.process_time()


def cluster_cpu(client) -> dict[int, float]:
    """CPU seconds of every process of the cluster, this one included, by pid."""
    return dict([*client.run(pid_cpu).values(), client.run_on_scheduler(pid_cpu), pid_cpu()])


def run_layerlab(snaps: list[str], processes: bool = False, scheduler: str | None = None,
                 storage_options: dict | None = None) -> dict:
    import layerlab as ll
    from layerlab.fleet.analyses import frame_totals
    from layerlab.fleet.core import local_cluster
    from distributed import Client

    t0 = time.perf_counter()
    cluster = local_cluster(processes=processes) if scheduler is None else None
    client = Client(cluster if cluster is not None else scheduler)
    # Workers import layerlab, pandas and pyarrow once, as a long-running cluster already has.
    client.run(__import__, "layerlab.fleet.analyses")
    started = time.perf_counter() - t0
    cpu0 = cluster_cpu(client)
    t0 = time.perf_counter()
    f = ll.fleet(snaps, client=client, progress=False, storage_options=storage_options)
    opened = time.perf_counter() - t0
    totals = frame_totals(f)
    totalled = time.perf_counter() - t0
    found = int(f.find(PATH)["host"].nunique())
    relational = time.perf_counter() - t0
    cpu1 = cluster_cpu(client)
    t0 = time.perf_counter()
    s = f.summary()
    top = f.top_images(10)
    full = time.perf_counter() - t0

    # Peak of every process of the cluster once (a threaded LocalCluster's worker is this process).
    peaks = dict([*client.run(pid_peak).values(), client.run_on_scheduler(pid_peak), pid_peak()])
    client.close()
    if cluster is not None:
        cluster.close()
    kind = None if cluster is None else "worker processes" if processes else "one worker, a thread per core"
    return {"seconds": relational, "summary_seconds": full, "cluster_start_seconds": started, "cluster": kind,
            "cpu_seconds": sum(cpu1[p] - cpu0.get(p, 0.0) for p in cpu1),
            "stages": {"open (find and check snapshots)": opened, "totals": totalled - opened,
                       "find": relational - totalled},
            "totals": totals, "find_hosts": found, "reclaimable_bytes": s["reclaimable_bytes"],
            "top_image": top["image_id"].iloc[0] if len(top) else None,
            "client_peak_mb": peak_mb(), "cluster_peak_mb": sum(peaks.values())}


def run_pandas(snaps: list[str]) -> dict:
    import pandas as pd
    import pyarrow.parquet as pq

    t0, c0 = time.perf_counter(), time.process_time()
    frames = {n: pd.concat([pq.read_table(f"{s}/{n}.parquet").to_pandas().assign(host=s) for s in snaps],
                           ignore_index=True) for n in FRAMES}
    images, il, files = frames["images"], frames["image_layers"], frames["files"]
    listed = images.loc[~images["intermediate"], ["host", "image_id"]]
    hl = il.merge(listed, on=["host", "image_id"]).drop_duplicates(["host", "layer_id"])
    distinct = hl.groupby("layer_id")["size"].max()
    totals = {
        "hosts": len(snaps), "images": int(listed["image_id"].nunique()), "image_instances": len(listed),
        "layers": len(distinct), "files": len(files), "size_bytes": int(hl["size"].sum()),
        "unique_layer_bytes": int(distinct.sum()),
    }
    found = int(files.loc[files["path"] == PATH, "host"].nunique())
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0, "totals": totals,
            "find_hosts": found, "client_peak_mb": peak_mb()}


def run_duckdb(snaps: list[str], storage_options: dict | None = None) -> dict:
    import duckdb

    t0, c0 = time.perf_counter(), time.process_time()
    con = duckdb.connect()
    if storage_options is not None:  # s3:// through s3fs, as layerlab reads it (DuckDB's httpfs is a download)
        import s3fs

        con.register_filesystem(s3fs.S3FileSystem(**storage_options))

    def files_of(name):
        return "[" + ", ".join(f"'{s}/{name}.parquet'" for s in snaps) + "]"

    host = "regexp_replace(filename, '/[^/]+\\.parquet$', '')"
    if has_fleet_index(snaps[0], storage_options):  # the files layerlab reads: a host's rows of three frames in one
        # one scan of the files into a table, which both views read (two scans took 1.8x as long, measured)
        con.execute(f"create temp table idx as select {host} as host, frame, image_id, size, intermediate, layer_id "
                    f"from read_parquet({files_of('fleet_index')}, filename=true)")
        con.execute("create temp view listed as select host, image_id from idx where frame = 'images' and not "
                    "intermediate")
        con.execute("create temp view il as select host, image_id, layer_id, size from idx where frame = "
                    "'image_layers'")
    else:
        con.execute(f"create temp view listed as select {host} as host, image_id from "
                    f"read_parquet({files_of('images')}, filename=true) where not intermediate")
        con.execute(f"create temp view il as select {host} as host, image_id, layer_id, size from "
                    f"read_parquet({files_of('image_layers')}, filename=true)")
    con.execute("create temp table hl as select distinct il.host, layer_id, size from il join listed using (host, "
                "image_id)")
    images, pairs = con.execute("select count(distinct image_id), count(*) from listed").fetchone()
    size_bytes = con.execute("select sum(size) from hl").fetchone()[0]
    layers, unique = con.execute(
        "select count(*), sum(m) from (select max(size) m from hl group by layer_id)").fetchone()
    nfiles = con.execute(f"select count(*) from read_parquet({files_of('files')})").fetchone()[0]
    found = con.execute(f"select count(distinct filename) from read_parquet({files_of('files')}, filename=true) where "
                        "path = ?", [PATH]).fetchone()[0]
    totals = {"hosts": len(snaps), "images": int(images), "image_instances": int(pairs), "layers": int(layers),
              "files": int(nfiles), "size_bytes": int(size_bytes), "unique_layer_bytes": int(unique)}
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0, "totals": totals,
            "find_hosts": int(found), "client_peak_mb": peak_mb()}


def has_fleet_index(snapshot: str, storage_options: dict | None) -> bool:
    """Whether a host's snapshot holds fleet_index.parquet (written since round 8), which layerlab
    reads instead of images.parquet and image_layers.parquet: DuckDB then reads it too."""
    if storage_options is None:
        return os.path.isfile(f"{snapshot}/fleet_index.parquet")
    import s3fs

    return s3fs.S3FileSystem(**storage_options).exists(f"{snapshot}/fleet_index.parquet")


PEERS = {"layerlab": run_layerlab, "layerlab-processes": lambda snaps: run_layerlab(snaps, processes=True),
         "layerlab-dask-cli": lambda snaps, scheduler: run_layerlab(snaps, scheduler=scheduler),
         "layerlab-s3": lambda snaps, storage_options: run_layerlab(snaps, storage_options=storage_options),
         "layerlab-s3-dask-cli": lambda snaps, storage_options, scheduler: run_layerlab(
             snaps, scheduler=scheduler, storage_options=storage_options),
         "duckdb-s3": lambda snaps, storage_options: run_duckdb(snaps, storage_options=storage_options),
         "pandas": run_pandas, "duckdb": run_duckdb}

# --capture: images `docker import`-ed from parts of this machine's /usr on a throwaway dockerd, so
# hosts carry tens of thousands of real files rows each (the bundled captures have about 350).
CAPTURE_PARTS = {"bench/share:1": "usr/share", "bench/include:1": "usr/include", "bench/python:1": "usr/lib/python3",
                 "bench/bin:1": "usr/bin"}


def capture(work: Path) -> str:
    """Scan a throwaway dockerd holding CAPTURE_PARTS as images into ``work``/capture.layerlab."""
    import layerlab as ll
    from harness.daemon import Daemon

    out = work / "capture.layerlab"
    if (out / "meta.json").is_file():
        return str(out)
    with Daemon(work / "daemon") as daemon:
        for ref, part in CAPTURE_PARTS.items():
            tar = work / "part.tar"
            subprocess.run(["tar", "-cf", str(tar), "-C", "/", part], check=True)
            daemon.docker("import", str(tar), ref, timeout=1800)
            tar.unlink()
        ll.scan(str(daemon.data_root), str(out), "overlay2", progress=False)
    subprocess.run(["rm", "-rf", str(work / "daemon")], check=False)
    return str(out)


def one(name: str, snaps: list[str], path: str, **kwargs) -> dict:
    listing = Path(tempfile.mkstemp(suffix=".json")[1])
    listing.write_text(json.dumps({"snaps": snaps, "path": path, "kwargs": kwargs}))
    try:
        out = subprocess.run([sys.executable, __file__, "--one", name, "--list", str(listing)], capture_output=True,
                             text=True, check=False)
    finally:
        listing.unlink()
    if out.returncode != 0:  # pandas may run out of memory on a large fleet: a result too
        return {"failed": f"exit {out.returncode}: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else ''}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hosts", default="50,100,200,500", help="fleet sizes, comma-separated")
    p.add_argument("--dir", help="where the host snapshots go (kept; default a temporary folder)")
    p.add_argument("--source", action="append", help="snapshot(s) to make hosts from (default: the bundled samples)")
    p.add_argument("--capture", action="store_true",
                   help="make the hosts from a large capture: parts of /usr imported into a throwaway dockerd (root)")
    p.add_argument("--peers", default="layerlab,duckdb", help="peers to run on the folder, comma-separated "
                   "(layerlab: the LocalCluster the fleet starts, one worker of a thread per core; "
                   "layerlab-processes: a LocalCluster of a worker process per core; pandas, duckdb)")
    p.add_argument("--where", default="dask-cli,s3",
                   help="also run layerlab on: dask-cli (a `dask scheduler` + `dask worker` cluster started as "
                        "processes, on the folder), s3 (the hosts uploaded to a local moto server, with DuckDB "
                        "on the same objects); comma-separated, or 'none'")
    p.add_argument("--s3-hosts", type=int, default=1000,
                   help="the largest fleet run from S3 (uploading to moto takes about 1 s per 10 hosts)")
    p.add_argument("--one", choices=sorted(PEERS), help=argparse.SUPPRESS)
    p.add_argument("--list", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        global PATH
        job = json.loads(Path(args.list).read_text())
        PATH = job["path"]
        watchdog(MEMORY_LIMIT_MB)
        print(json.dumps(PEERS[args.one](job["snaps"], **job.get("kwargs", {})), default=str))
        return 0

    from layerlab.fleet.demo import make_fleet

    sizes = sorted(int(x) for x in args.hosts.split(","))
    work = Path(args.dir or tempfile.mkdtemp(prefix="bench-fleet-"))
    t0 = time.perf_counter()
    find = CAPTURE_PATH if args.capture else PATH
    if args.capture:
        args.source = [capture(work)]
        print(f"capture: {args.source[0]} ({time.perf_counter() - t0:.0f} s)")
    made = sorted(str(p) for p in (work / "hosts").glob("*.layerlab")) if (work / "hosts").is_dir() else []
    if len(made) >= sizes[-1]:  # --dir of an earlier run: the same hosts again
        snaps = made[: sizes[-1]]
    elif args.source:
        import layerlab as ll

        sources = {str(i): ll.load(s) for i, s in enumerate(args.source)}
        snaps = _make_from(sources, work / "hosts", sizes[-1])
    else:
        snaps = make_fleet(work / "hosts", sizes[-1])
    fmt = json.loads((Path(snaps[0]) / "meta.json").read_text()).get("format_version")
    fmt = f"{fmt}, {'with' if has_fleet_index(snaps[0], None) else 'without'} fleet_index.parquet"
    # --dir of an earlier round may hold older snapshots: their files are read whole (docs/fleet.md)
    print(f"{sizes[-1]} host snapshots (format {fmt}) in {work / 'hosts'} ({time.perf_counter() - t0:.1f} s to make or "
          "find)")
    rows = []
    with contextlib.ExitStack() as stack:
        where = set(args.where.split(","))
        cli = stack.enter_context(dask_cli_cluster(work)) if "dask-cli" in where else None
        s3_sizes = [n for n in sizes if n <= args.s3_hosts] if "s3" in where else []
        server, urls = stack.enter_context(s3_fleet(snaps[:max(s3_sizes)], work)) if s3_sizes else (None, [])
        for n in sizes:
            res = {name: one(name, snaps[:n], find) for name in args.peers.split(",")}
            if cli is not None:
                res["layerlab-dask-cli"] = one("layerlab-dask-cli", snaps[:n], find, scheduler=cli.address)
            if n in s3_sizes:
                for name in ("layerlab-s3", "duckdb-s3"):
                    res[name] = one(name, urls[:n], find, storage_options=server.storage_options)
                if cli is not None:
                    res["layerlab-s3-dask-cli"] = one("layerlab-s3-dask-cli", urls[:n], find,
                                                      storage_options=server.storage_options, scheduler=cli.address)
            rows.append((n, res))
            report(n, res, find, cli)
    if len(rows) > 1:
        (n0, a), (n1, b) = rows[0], rows[-1]
        print(f"\ngrowth {n0} -> {n1} hosts ({n1 / n0:.0f}x): " + ", ".join(
            f"{name} {b[name]['seconds'] / a[name]['seconds']:.1f}x" for name in a
            if name in b and "failed" not in a[name] and "failed" not in b[name])
            + (f"; layerlab full summary {b['layerlab']['summary_seconds'] / a['layerlab']['summary_seconds']:.1f}x"
               if "layerlab" in a and "failed" not in a["layerlab"] and "failed" not in b["layerlab"] else ""))
    return 0


# Each layerlab run against the DuckDB run over the same files (the folder, or the same S3 objects).
REFERENCE = {"layerlab": "duckdb", "layerlab-processes": "duckdb", "layerlab-dask-cli": "duckdb",
             "layerlab-s3": "duckdb-s3", "layerlab-s3-dask-cli": "duckdb-s3"}


def report(n: int, res: dict, find: str, cli) -> None:
    ref = res["duckdb"]
    for name, r in res.items():
        if "failed" in r:
            continue
        assert r["totals"] == ref["totals"], (name, r["totals"], ref["totals"])
        assert r["find_hosts"] == ref["find_hosts"], name
    print(f"\n{n} hosts, {ref['totals']['files']:,} files rows, {ref['totals']['image_instances']} host-image "
          f"pairs; {ref['find_hosts']} hosts carry {find}; load average {os.getloadavg()[0]:.1f}")
    for name, r in res.items():
        if "failed" in r:
            print(f"  {name}: failed ({r['failed']})")
        elif name.startswith("layerlab"):
            cli_how = f"`dask scheduler` + {cli.n_workers if cli else 0} `dask worker` processes of one thread"
            how = {"layerlab-dask-cli": cli_how, "layerlab-s3-dask-cli": cli_how}.get(
                name, f"LocalCluster, {r.get('cluster') or 'one worker, a thread per core'}")
            print(f"  {name} ({how}, {os.cpu_count()} cores; started and warmed in "
                  f"{r['cluster_start_seconds']:.1f} s): totals + find {r['seconds']:.2f} s, "
                  f"{r['cpu_seconds']:.2f} CPU s "
                  f"({', '.join(f'{k} {v:.2f} s' for k, v in r['stages'].items())}), "
                  f"full summary + top images {r['summary_seconds']:.2f} s more; client peak "
                  f"{r['client_peak_mb']:.0f} MB (VmHWM), cluster peak {r['cluster_peak_mb']:.0f} MB")
        else:
            print(f"  {name}: {r['seconds']:.2f} s, {r['cpu_seconds']:.2f} CPU s, "
                  f"peak {r['client_peak_mb']:.0f} MB")
    for name, r in res.items():
        peer = REFERENCE.get(name)
        if peer is None or "failed" in r or "failed" in res.get(peer, {"failed": 1}):
            continue
        print(f"  {name} / {peer}: time {r['seconds'] / res[peer]['seconds']:.2f}x, "
              f"CPU time {r['cpu_seconds'] / res[peer]['cpu_seconds']:.2f}x")


@contextlib.contextmanager
def dask_cli_cluster(work: Path):
    """`dask scheduler` and one `dask worker` process of one thread per core (the harness's, stopped after)."""
    from harness.dask_cluster import DaskCluster

    with DaskCluster(work / "dask-cli", workers=os.cpu_count() or 1, memory_limit="4GiB") as cluster:
        yield cluster


@contextlib.contextmanager
def s3_fleet(snaps: list[str], work: Path):
    """The hosts uploaded to a moto server started as the tests start it; yields (server, URLs)."""
    from harness.s3 import S3Server

    with S3Server(work / "moto") as server:
        server.make_bucket("fleet")
        fs = server.filesystem()
        t0 = time.perf_counter()
        local, remote = [], []
        for snap in snaps:
            for f in sorted(Path(snap).iterdir(), key=lambda f: f.name == "meta.json"):
                local.append(str(f))
                remote.append(f"fleet/hosts/{Path(snap).name}/{f.name}")
        fs.put(local, remote)  # concurrent PUTs (s3fs)
        print(f"{len(snaps)} hosts uploaded to moto ({len(local):,} objects) in {time.perf_counter() - t0:.0f} s")
        yield server, [f"s3://fleet/hosts/{Path(snap).name}" for snap in snaps]


def _make_from(sources: dict, out: Path, n: int) -> list[str]:
    import random

    from layerlab.fleet.demo import host_snapshot

    rng = random.Random(0)
    out.mkdir(parents=True, exist_ok=True)
    keys = sorted(sources)
    paths = []
    for i in range(n):
        inv = sources[keys[i % len(keys)]]
        ids = list(inv.images.loc[~inv.images["intermediate"], "image_id"])
        keep = sorted(rng.sample(ids, rng.randint(max(1, len(ids) // 2), len(ids))))
        paths.append(host_snapshot(inv, out / f"host-{i:04d}.layerlab", hostname=f"host-{i:04d}", images=keep))
    return paths


if __name__ == "__main__":
    sys.exit(main())
