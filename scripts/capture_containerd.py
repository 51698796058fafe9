#!/usr/bin/env python3
"""Capture the containerd image store sample: the sample images in a real containerd, as Docker 29 keeps them.

Builds the sample set (harness.images) on a real dockerd (overlay2), `docker save`s its tagged
images, imports them into a real containerd (Debian's) with ``ctr -n moby images import
--compress-blobs`` (so the content store holds gzip layer blobs, as after a pull), adds the same two
containers as the other captures (``ll-created``: created from layerlab/tree:1; ``ll-exited``: ran
the same writes with ``ctr run``), records what ``ctr`` reports, stops containerd and archives its
root into data/capture/containerd.tar.xz. Then scans it into data/sample-containerd.layerlab.

Run as root:  sudo python scripts/capture_containerd.py [--scan-only]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import lzma
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the harness that starts real daemons (tests/harness)
sys.path.insert(0, str(REPO / "scripts"))

from capture_sample import TAR_OPTIONS, XZ_OPT, archive_dir, label_sample, log, unpack  # noqa: E402

from harness.containerd import Containerd, containerd_missing  # noqa: E402
from harness.daemon import Daemon, dockerd_missing  # noqa: E402
from harness.images import APP, EXITED_SCRIPT, TREE, build_sample  # noqa: E402

NAMESPACE = "moby"
#: Runtime state and scratch space of containerd's root: nothing about images.
EXCLUDED = ("tmpmounts", "opt", "io.containerd.runtime.v1.linux", "io.containerd.runtime.v2.task")
CTR_VIEWS = {
    "version": ("version",),
    "images_ls": ("images", "ls"),
    "content_ls": ("content", "ls"),
    "snapshots_ls": ("snapshots", "ls"),
    "snapshots_usage": ("snapshots", "usage"),
    "containers_ls": ("containers", "ls"),
}


def ref(tag: str) -> str:
    """The name ctr gives a docker-save tag (built locally, so always on docker.io)."""
    return f"docker.io/{tag}"


def capture(out: Path) -> dict:
    capture_dir = out / "capture"
    capture_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="llcap-ctrd-", dir="/tmp") as tmp_name:
        tmp = Path(tmp_name)
        log("containerd: building the sample on a dockerd (overlay2)")
        with Daemon(tmp / "d", driver="overlay2") as daemon:
            built = build_sample(daemon)
            tags = sorted(built["images"])
            archive = tmp / "images.tar"
            daemon.docker("save", "-o", archive, *tags, timeout=600)
            docker_version = built["docker_version"]
        c = Containerd(tmp / "c")
        with c:
            log(f"containerd: importing {len(tags)} tags with ctr -n {NAMESPACE} images import --compress-blobs")
            c.ctr("images", "import", "--compress-blobs", archive)
            c.ctr("containers", "create", ref(TREE), "ll-created")
            c.ctr("run", ref(APP), "ll-exited", "sh", "-c", EXITED_SCRIPT)
            peers = {name: c.ctr(*args).stdout for name, args in CTR_VIEWS.items()}
            keys = [line.split()[0] for line in peers["snapshots_ls"].splitlines()[1:] if line.strip()]
            peers["snapshots_usage_by_key"] = {k: c.ctr("snapshots", "usage", k).stdout for k in keys}
            version = c.ctr("version").stdout
        log("containerd: archiving its root")
        result = archive_dir(c.root, capture_dir / "containerd.tar.xz", EXCLUDED)
        peers_path = capture_dir / "containerd.peers.json.xz"
        with lzma.open(peers_path, "wt", preset=9) as f:
            json.dump(peers, f, indent=1, sort_keys=True)
    manifest = {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "kernel": platform.release(),
        "tar": " ".join(["tar", *TAR_OPTIONS, "-cpJf"]) + f"  (XZ_OPT='{XZ_OPT}')",
        "excluded": [f"{name}/" for name in EXCLUDED],
        "namespace": NAMESPACE,
        "snapshotter": "overlayfs",
        "import": "ctr -n moby images import --compress-blobs images.tar  (docker save of every tag)",
        "containers": {"ll-created": f"ctr containers create {ref(TREE)} ll-created",
                       "ll-exited": f"ctr run {ref(APP)} ll-exited sh -c <EXITED_SCRIPT>"},
        "containerd_version": version.strip(),
        "docker_version": docker_version,
        "root_when_captured": str(c.root),
        **result,
        "peers": str(peers_path.relative_to(out)),
        "built": built,
    }
    (capture_dir / "containerd.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=True) + "\n")
    return manifest


def scan(out: Path) -> None:
    import layerlab

    archive = out / "capture" / "containerd.tar.xz"
    if not archive.exists():
        raise SystemExit(f"{archive} is missing: run scripts/capture_containerd.py without --scan-only first")
    with tempfile.TemporaryDirectory(prefix="llscan-ctrd-") as tmp:
        root = Path(tmp) / "root"
        log(f"containerd: unpacking {archive}")
        unpack(archive, root)
        target = out / "sample-containerd.layerlab"
        log(f"containerd: scanning into {target}")
        layerlab.scan(str(root), str(target), hash=True, progress=True)
        label_sample(target, "data/capture/containerd.tar.xz")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "data", help="where data/ is (default: the repo's)")
    parser.add_argument("--scan-only", action="store_true", help="only scan the existing capture")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("run as root (sudo): dockerd, containerd and device files in the capture need it")
    if not args.scan_only:
        for reason in (dockerd_missing(), containerd_missing()):
            if reason:
                parser.error(reason)
        started = time.monotonic()
        m = capture(args.out)
        log(f"containerd: {m['bytes'] / 1e6:.1f} MB in {time.monotonic() - started:.0f}s")
    scan(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
