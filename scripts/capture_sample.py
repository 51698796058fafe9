#!/usr/bin/env python3
"""Capture the bundled sample: real Docker data roots (overlay2, vfs, btrfs) and a real registry.

For each storage driver this starts a dockerd in a temporary directory (btrfs on a loop-mounted
image), builds the sample set (harness.images), pushes part of it to one local
docker-registry, stops the daemon and archives its data root into data/capture/<driver>.tar.xz.
It also records what docker and dive report about the same images (data/capture/<driver>.peers.json.xz),
archives the registry's storage root, writes data/capture/manifest.json, and finally scans each
capture into data/sample-<driver>.layerlab with ``layerlab.scan`` (or ``--scan-only`` later).

Run as root:  sudo python scripts/capture_sample.py
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import lzma
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the harness that starts real daemons (tests/harness)

from harness.btrfs import BtrfsMount, btrfs_missing  # noqa: E402
from harness.captures import unpack  # noqa: E402,F401  (capture_containerd imports it from here too)
from harness.daemon import Daemon, dockerd_missing  # noqa: E402
from harness.images import build_sample  # noqa: E402

DRIVERS = ("overlay2", "vfs", "btrfs")
#: Runtime-only or unused parts of a data root, left out of the archives (see data/README.md).
EXCLUDED = ("containerd", "buildkit", "tmp", "runtimes", "network")
TAR_OPTIONS = ["--xattrs", "--xattrs-include=*", "--numeric-owner", "--sparse", "--sort=name"]
#: A 64 MiB dictionary lets xz find the many identical copies a vfs data root holds; one thread
#: keeps the output reproducible for the same input.
XZ_OPT = "-9 -T1"
#: A fixed registry port keeps the repository names in the captures the same from one capture to the next.
REGISTRY_PORT = 5000


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def archive_dir(root: Path, out: Path, exclude: tuple[str, ...] = ()) -> dict:
    """tar+xz ``root`` (contents, not the directory itself) into ``out``, keeping owners, modes, xattrs, devices."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    cmd = ["tar", *TAR_OPTIONS, *(f"--exclude=./{name}" for name in exclude), "-cpJf", str(tmp), "-C", str(root), "."]
    proc = subprocess.run(cmd, env={**os.environ, "XZ_OPT": XZ_OPT}, capture_output=True, text=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise SystemExit(f"archiving {root} failed: {' '.join(cmd)}\n{proc.stderr}")
    tmp.replace(out)
    return {"archive": str(out.relative_to(out.parent.parent)), "bytes": out.stat().st_size, "sha256": sha256_file(out)}


def registry_port() -> int:
    from harness.registry import free_port

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", REGISTRY_PORT))
            return REGISTRY_PORT
        except OSError:
            return free_port()


def record_peers(daemon: Daemon, built: dict, dive: bool) -> dict:
    """What docker (Engine API, raw numbers) and dive say about the sample, for offline comparison."""
    image_ids = daemon.docker("images", "-a", "-q", "--no-trunc").stdout.split()
    peers = {
        "version": daemon.api("/version"),
        "info": {k: v for k, v in daemon.api("/info").items()
                 if k in ("Driver", "DriverStatus", "ServerVersion", "KernelVersion", "CgroupVersion",
                          "DockerRootDir")},
        "system_df": daemon.api("/system/df"),
        "images": [daemon.api(f"/images/{i}/json") for i in dict.fromkeys(image_ids)],
        "history": {i: daemon.api(f"/images/{i}/history") for i in dict.fromkeys(image_ids)},
        "containers": [daemon.api(f"/containers/{c}/json?size=1") for c in built["containers"].values()],
        "dive": {},
    }
    if dive and shutil.which("dive"):
        env = {k: v for k, v in daemon.env.items() if k != "CI"}  # CI=true would switch dive to CI mode
        tagged = {}
        for ref, image_id in built["images"].items():
            tagged.setdefault(image_id, ref)
        with tempfile.TemporaryDirectory() as tmp:
            for image_id, ref in tagged.items():
                out = Path(tmp) / f"{image_id.split(':')[-1]}.json"
                proc = subprocess.run(["dive", "--source", "docker", "--json", str(out), ref],
                                      env=env, capture_output=True, text=True)
                if proc.returncode != 0:
                    raise SystemExit(f"dive failed on {ref}: {proc.stderr or proc.stdout}")
                peers["dive"][image_id] = {"ref": ref, "export": json.loads(out.read_text())}
    return peers


def capture_driver(driver: str, tmp: Path, registry_host: str, out_dir: Path, dive: bool) -> dict:
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        data_root = None
        if driver == "btrfs":
            mount = stack.enter_context(BtrfsMount(tmp / "btrfs"))
            data_root = mount.path / "docker"
        log(f"{driver}: starting dockerd")
        daemon = stack.enter_context(Daemon(tmp / driver, driver=driver, data_root=data_root))
        log(f"{driver}: building the sample (and pushing to {registry_host})")
        built = build_sample(daemon, registry_host=registry_host, registry_namespace=driver)
        log(f"{driver}: recording docker's and dive's view of it")
        peers = record_peers(daemon, built, dive)
        daemon.stop()
        log(f"{driver}: archiving {daemon.data_root}")
        capture = archive_dir(daemon.data_root, out_dir / f"{driver}.tar.xz", EXCLUDED)
        peers_path = out_dir / f"{driver}.peers.json.xz"
        with lzma.open(peers_path, "wt", preset=9) as f:
            json.dump(peers, f, indent=1, sort_keys=True)
    log(f"{driver}: {capture['bytes'] / 1e6:.1f} MB in {time.monotonic() - started:.0f}s")
    return {
        **capture,
        "peers": str(peers_path.relative_to(out_dir.parent)),
        "data_root_when_captured": str(daemon.data_root),
        "built": built,
    }


def capture(out: Path, drivers: tuple[str, ...], dive: bool) -> dict:
    from harness.registry import Registry

    capture_dir = out / "capture"
    capture_dir.mkdir(parents=True, exist_ok=True)
    manifest = {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "kernel": platform.release(),
        "tar": " ".join(["tar", *TAR_OPTIONS, "-cpJf"]) + f"  (XZ_OPT='{XZ_OPT}')",
        "excluded": [f"{name}/" for name in EXCLUDED],
        "captures": {},
    }
    with tempfile.TemporaryDirectory(prefix="llcap-", dir="/tmp") as tmp_name:
        tmp = Path(tmp_name)
        with Registry(tmp / "registry", port=registry_port()) as registry:
            log(f"registry on {registry.host}")
            manifest["registry"] = {"host": registry.host}
            for driver in drivers:
                manifest["captures"][driver] = capture_driver(driver, tmp, registry.host, capture_dir, dive)
        log("archiving the registry's storage")
        manifest["registry"].update(archive_dir(registry.storage, capture_dir / "registry.tar.xz"))
        manifest["registry"]["repositories"] = sorted(
            str(p.parent.relative_to(registry.storage / "docker/registry/v2/repositories"))
            for p in (registry.storage / "docker/registry/v2/repositories").rglob("_manifests")
        )
    versions = {c["built"]["docker_version"] for c in manifest["captures"].values()}
    manifest["docker_version"] = ", ".join(sorted(versions))
    # ensure_ascii keeps the non-UTF-8 file name as a \udcff escape that json.load turns back.
    (capture_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=True) + "\n")
    log(f"wrote {capture_dir / 'manifest.json'}")
    return manifest


def label_sample(snapshot: Path, archive: str) -> None:
    """Name the capture, not the temporary directory it was unpacked into, as the snapshot's source."""
    meta_path = Path(snapshot) / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["source"] = f"{archive} (the bundled sample, unpacked and scanned)"
    meta_path.write_text(json.dumps(meta, indent=2, default=str) + "\n")


def scan_captures(out: Path, drivers: tuple[str, ...]) -> int:
    """Unpack each capture into a temp dir and scan it to data/sample-<driver>.layerlab."""
    import layerlab

    scan = getattr(layerlab, "scan", None)
    if scan is None:
        log("layerlab.scan does not exist yet: once it does, run `sudo python scripts/capture_sample.py --scan-only`")
        return 1
    for driver in drivers:
        archive = out / "capture" / f"{driver}.tar.xz"
        if not archive.exists():
            raise SystemExit(f"{archive} is missing: run scripts/capture_sample.py without --scan-only first")
        with tempfile.TemporaryDirectory(prefix=f"llscan-{driver}-") as tmp:
            root = Path(tmp) / "root"
            log(f"{driver}: unpacking {archive}")
            unpack(archive, root)
            target = out / f"sample-{driver}.layerlab"
            log(f"{driver}: scanning into {target}")
            scan(root, target, driver=driver, hash=True, progress=True)
            label_sample(target, f"data/capture/{driver}.tar.xz")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "data", help="where data/ is (default: the repo's)")
    parser.add_argument("--drivers", default=",".join(DRIVERS), help="comma-separated, default %(default)s")
    parser.add_argument("--scan-only", action="store_true", help="only scan existing captures with layerlab.scan")
    parser.add_argument("--no-scan", action="store_true", help="capture, but do not scan")
    parser.add_argument("--no-dive", action="store_true", help="do not record dive's exports")
    args = parser.parse_args(argv)
    drivers = tuple(d for d in args.drivers.split(",") if d)
    unknown = set(drivers) - set(DRIVERS)
    if unknown:
        parser.error(f"unknown driver(s) {sorted(unknown)}; choose from {', '.join(DRIVERS)}")
    if os.geteuid() != 0:
        parser.error("run as root (sudo): dockerd, loop mounts and device files in the captures need it")
    if args.scan_only:
        return scan_captures(args.out, drivers)

    from harness.registry import registry_missing

    for reason in (dockerd_missing(), registry_missing(), btrfs_missing() if "btrfs" in drivers else None):
        if reason:
            parser.error(reason)
    started = time.monotonic()
    capture(args.out, drivers, dive=not args.no_dive)
    total = sum(p.stat().st_size for p in (args.out / "capture").iterdir())
    log(f"captured {', '.join(drivers)} in {time.monotonic() - started:.0f}s; data/capture holds {total / 1e6:.1f} MB")
    if args.no_scan:
        return 0
    return scan_captures(args.out, drivers)


if __name__ == "__main__":
    sys.exit(main())
