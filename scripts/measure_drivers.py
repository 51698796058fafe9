#!/usr/bin/env python3
"""Measure how storage drivers store the same images and the same container writes.

For overlay2, vfs and btrfs (a dockerd each; btrfs on a loop-mounted image file) and containerd's
overlayfs snapshotter (a containerd of its own, images imported from the overlay2 daemon's
`docker save`), this builds the sample images, runs one container per workload of
layerlab.analyses.drivers.cow_model.WORKLOADS in layerlab/app:1, and measures every image layer of that image and
every container layer: allocated blocks, apparent bytes, entries and inodes, whiteouts, and for
btrfs exclusive vs shared data extents (`btrfs filesystem du`) and qgroup figures. aufs has no
kernel module here: its layout is rebuilt from the same layer tars and the writes applied by aufs'
rules on real files, and the rows say ``measured = False``.

Writes data/drivers/measurements.csv (one row per driver and layer) and data/drivers/meta.json.

Run as root:  sudo python scripts/measure_drivers.py [--drivers overlay2,vfs,btrfs,containerd,aufs]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the harness that starts real daemons (tests/harness)

from layerlab.sources.containerd.meta import read_containerd_meta  # noqa: E402
from layerlab.sources.docker.dataroot import chain_ids  # noqa: E402
from layerlab.sources.docker.layouts import DRIVERS as GRAPH_DRIVERS  # noqa: E402
from layerlab.sources.layerfiles.walk import disk_usage  # noqa: E402
from harness.btrfs import BtrfsMount  # noqa: E402
from harness.containerd import Containerd  # noqa: E402
from harness.daemon import Daemon  # noqa: E402
from harness.images import build_sample  # noqa: E402
from harness.workloads import IMAGE, WORKLOADS, container_name, script  # noqa: E402

ALL = ("overlay2", "vfs", "btrfs", "containerd", "aufs")
COLUMNS = [
    "driver", "measured", "how", "object", "image", "position", "layer_id", "workload",
    "apparent_bytes", "disk_bytes", "layer_disk_bytes", "entries", "inodes", "whiteouts", "opaques",
    "exclusive_bytes", "shared_bytes", "qgroup_referenced_bytes", "qgroup_exclusive_bytes", "peer_size",
]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(*cmd, **kw) -> str:
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True, text=True, **kw).stdout


# -- measuring a directory -----------------------------------------------------------------------
def measure(content: Path, layer: Path | None = None) -> dict:
    """Blocks, apparent bytes (Docker's directory.Size), entries, inodes and markers under ``content``;
    ``layer_disk_bytes`` of ``layer`` (everything the driver keeps for the layer) when given."""
    seen: set[tuple[int, int]] = set()
    st = os.lstat(content)
    seen.add((st.st_dev, st.st_ino))
    out = {"apparent_bytes": 0, "disk_bytes": st.st_blocks * 512, "entries": 0, "whiteouts": 0, "opaques": 0}
    if _opaque(content):
        out["opaques"] += 1
    stack = [os.fsencode(content)]
    while stack:
        d = stack.pop()
        with os.scandir(d) as it:
            for e in it:
                st = e.stat(follow_symlinks=False)
                out["entries"] += 1
                name = e.name
                if (stat.S_ISCHR(st.st_mode) and st.st_rdev == 0) or (name.startswith(b".wh.")
                                                                      and not name.startswith(b".wh..wh.")):
                    out["whiteouts"] += 1
                if name == b".wh..wh..opq" or (stat.S_ISDIR(st.st_mode) and _opaque(e.path)):
                    out["opaques"] += 1
                if stat.S_ISDIR(st.st_mode):
                    stack.append(e.path)
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue
                seen.add(key)
                out["disk_bytes"] += st.st_blocks * 512
                if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
                    out["apparent_bytes"] += st.st_size
    out["inodes"] = len(seen)
    if layer is not None:  # the driver's whole layer directory, itself included
        out["layer_disk_bytes"] = disk_usage(layer) + os.lstat(layer).st_blocks * 512
    else:
        out["layer_disk_bytes"] = out["disk_bytes"]
    return out


def _opaque(path) -> bool:
    try:
        return os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False


def btrfs_du(path: Path) -> dict:
    """Exclusive and shared data extents of a subvolume (`btrfs filesystem du -s --raw`)."""
    line = run("btrfs", "filesystem", "du", "-s", "--raw", path).splitlines()[-1].split()
    return {"exclusive_bytes": int(line[1]), "shared_bytes": int(line[2])}


def btrfs_qgroups(mnt: Path) -> dict[int, tuple[int, int]]:
    """subvolume ID -> (referenced, exclusive) bytes from the quota groups (metadata included)."""
    run("btrfs", "quota", "rescan", "-w", mnt)
    out = {}
    for line in run("btrfs", "qgroup", "show", "--raw", mnt).splitlines():
        parts = line.split()
        if parts and parts[0].startswith("0/") and parts[1].isdigit():
            out[int(parts[0][2:])] = (int(parts[1]), int(parts[2]))
    return out


def row(driver: str, how: str, obj: str, position, layer_id: str, workload, m: dict, measured: bool = True,
        **extra) -> dict:
    return {"driver": driver, "measured": measured, "how": how, "object": obj, "image": IMAGE, "position": position,
            "layer_id": layer_id, "workload": workload, **m, **extra}


# -- dockerd drivers ------------------------------------------------------------------------------
def measure_dockerd(driver: str, tmp: Path, save_to: Path | None) -> list[dict]:
    rows = []
    with contextlib.ExitStack() as stack:
        mnt = None
        data_root = None
        if driver == "btrfs":
            mnt = stack.enter_context(BtrfsMount(tmp / "btrfs"))
            run("btrfs", "quota", "enable", mnt.path)
            data_root = mnt.path / "docker"
        log(f"{driver}: starting dockerd and building the sample")
        d = stack.enter_context(Daemon(tmp / driver, driver=driver, data_root=data_root))
        build_sample(d)
        if save_to is not None:
            d.docker("save", "-o", save_to, IMAGE, timeout=600)
        for name, writes in WORKLOADS.items():
            d.docker("run", "--name", container_name(name), "--network", "none", IMAGE, "sh", "-c", script(writes))
        version = d.docker("version", "--format", "{{.Server.Version}}").stdout.strip()
        how = f"dockerd {version}, --storage-driver={driver}"
        drv = GRAPH_DRIVERS[driver]
        root = str(d.data_root)
        layerdb = Path(root) / "image" / driver / "layerdb"
        diff_ids = d.docker_json("image", "inspect", IMAGE)[0]["RootFS"]["Layers"]
        sizes = {c["Names"][0].lstrip("/"): c.get("SizeRw", 0) for c in d.api("/containers/json?all=1&size=1")}
        os.sync()  # btrfs allocates extents for delayed writes at commit: measure after it
        qgroups = btrfs_qgroups(mnt.path) if mnt else {}
        targets = []
        for pos, chain in enumerate(chain_ids(diff_ids)):
            ldir = layerdb / "sha256" / chain.split(":")[1]
            cache = (ldir / "cache-id").read_text().strip()
            targets.append(("image_layer", pos, chain, None, cache, int((ldir / "size").read_text())))
        for name in WORKLOADS:
            cid = d.docker("container", "inspect", "-f", "{{.Id}}", container_name(name)).stdout.strip()
            mount = (layerdb / "mounts" / cid / "mount-id").read_text().strip()
            targets.append(("container", None, container_name(name), name, mount, sizes.get(container_name(name))))
        log(f"{driver}: measuring {len(targets)} layers")
        for obj, pos, lid, wl, cache, peer in targets:
            layer_dir = Path(drv.layer_dir(root, cache))
            content = Path(drv.diff_dir(root, cache, container=obj == "container") or drv.full_dir(root, cache))
            m = measure(content, layer_dir)
            extra = {"peer_size": peer}
            if driver == "btrfs":
                extra.update(btrfs_du(layer_dir))
                subvol = int(run("btrfs", "inspect-internal", "rootid", layer_dir).strip())
                ref, excl = qgroups.get(subvol, (None, None))
                extra.update(qgroup_referenced_bytes=ref, qgroup_exclusive_bytes=excl)
            rows.append(row(driver, how, obj, pos, lid, wl, m, **extra))
    return rows


# -- containerd -----------------------------------------------------------------------------------
def measure_containerd(tmp: Path, archive: Path) -> list[dict]:
    rows = []
    ref = f"docker.io/{IMAGE}"
    with Containerd(tmp / "containerd") as c:
        log("containerd: importing the image, running the workloads")
        c.ctr("images", "import", "--compress-blobs", archive)
        for name, writes in WORKLOADS.items():
            c.ctr("run", ref, container_name(name), "sh", "-c", script(writes))
        how = "containerd " + c.ctr("version").stdout.split("Version:")[-1].split()[0] + (", snapshotter overlayfs "
                                                                                          "(ctr "
                                                                                          "run)")
        os.sync()
        meta = read_containerd_meta(c.root)
        snaps = meta.snapshots[(meta.snapshots["namespace"] == "moby") & (meta.snapshots["snapshotter"] == "overlayfs")]
        by_key = {r["key"]: r for r in snaps.to_dict("records")}
        image = meta.images[meta.images["name"] == ref].iloc[0]
        manifest = json.loads(Path(meta.content.set_index("digest").loc[image["target_digest"], "blob"]).read_bytes())
        config = json.loads(Path(meta.content.set_index("digest").loc[manifest["config"]["digest"],
                                                                      "blob"]).read_bytes())
        targets = [("image_layer", p, ch, None, ch) for p, ch in enumerate(chain_ids(config["rootfs"]["diff_ids"]))]
        targets += [("container", None, container_name(n), n, container_name(n)) for n in WORKLOADS]
        log(f"containerd: measuring {len(targets)} snapshots")
        for obj, pos, lid, wl, key in targets:
            s = by_key[key]
            fs = Path(s["fs"])
            usage = c.ctr("snapshots", "usage", key).stdout.splitlines()[-1].split()
            rows.append(row("containerd", how, obj, pos, lid, wl, measure(fs, fs.parent),
                            peer_size=_parse_human(usage[1], usage[2])))
    return rows


def _parse_human(value: str, unit: str) -> int:
    return int(round(float(value) * {"B": 1, "KiB": 1024, "MiB": 1 << 20, "GiB": 1 << 30}[unit]))


# -- aufs, rebuilt ----------------------------------------------------------------------------------
AUFS_BASE = ".wh..wh.aufs"  # the branch's whiteout base: whiteouts are hard links to it


class AufsBranches:
    """aufs' on-disk layout rebuilt from layer tars: diff/<n> per layer, whiteouts as `.wh.` files.

    Container writes follow aufs' rules (copy-up of whole files with their parent directories,
    whiteouts linked to the branch's base, `.wh..wh..opq` in re-made directories, directory rename
    refused with EXDEV so mv copies the tree) on real files; only the kernel module is missing.
    """

    def __init__(self, home: Path, archive: Path):
        self.home = home
        self.layers: list[Path] = []
        with tarfile.open(archive) as t:
            manifest = json.load(t.extractfile("manifest.json"))[0]
            for i, member in enumerate(manifest["Layers"]):
                d = home / "diff" / f"layer{i}"
                d.mkdir(parents=True)
                with tarfile.open(fileobj=t.extractfile(member)) as layer:
                    layer.extractall(d, numeric_owner=True, filter="fully_trusted")
                self.layers.append(d)

    def lookup(self, path: str) -> Path | None:
        rel = path.strip("/")
        for d in reversed(self.layers):
            parts = rel.split("/")
            for i in range(len(parts)):
                if (d / "/".join(parts[:i]) / f".wh.{parts[i]}").exists():
                    return None
            if os.path.lexists(d / rel):
                return d / rel
        return None

    def container(self, name: str, writes) -> Path:
        rw = self.home / "diff" / name
        rw.mkdir(parents=True)
        # What aufs makes in every writable branch it mounts.
        (rw / AUFS_BASE).touch(mode=0o444)
        (rw / ".wh..wh.plnk").mkdir(mode=0o700)
        (rw / ".wh..wh.orph").mkdir(mode=0o700)
        for w in writes:
            getattr(self, "_" + w.op)(rw, w)
        return rw

    def _parents(self, rw: Path, path: str) -> None:
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            rel = "/".join(parts[:i])
            if not (rw / rel).exists():
                (rw / rel).mkdir()
                src = self.lookup("/" + rel)
                if src is not None:
                    shutil.copystat(src, rw / rel)
                    st = os.lstat(src)
                    os.chown(rw / rel, st.st_uid, st.st_gid)

    def _copy_up(self, rw: Path, path: str) -> Path:
        dst = rw / path.strip("/")
        if not os.path.lexists(dst):
            self._parents(rw, path)
            src = self.lookup(path)
            shutil.copy2(src, dst, follow_symlinks=False)
            st = os.lstat(src)
            os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
        return dst

    def _whiteout(self, rw: Path, path: str) -> None:
        self._parents(rw, path)
        parent, _, name = path.rpartition("/")
        os.link(rw / AUFS_BASE, rw / parent.strip("/") / f".wh.{name}")

    def _append(self, rw, w):
        with open(self._copy_up(rw, w.path), "ab") as f:
            f.write(b"\0" * int(w.arg or 1))

    def _chmod(self, rw, w):
        os.chmod(self._copy_up(rw, w.path), int(w.arg))

    def _delete(self, rw, w):
        self._whiteout(rw, w.path)

    def _recreate_dir(self, rw, w):
        self._parents(rw, w.path)
        d = rw / w.path.strip("/")
        d.mkdir()
        os.link(rw / AUFS_BASE, d / ".wh..wh..opq")

    def _create(self, rw, w):
        self._parents(rw, w.path)
        (rw / w.path.strip("/")).write_bytes(os.urandom(int(w.arg or 0)))

    def _rename(self, rw, w):
        # No dirren: rename(2) of a lower directory fails with EXDEV, so mv copies the tree, then removes it.
        src = self.lookup(w.path)
        self._parents(rw, str(w.arg))
        shutil.copytree(src, rw / str(w.arg).strip("/"), symlinks=True)
        self._whiteout(rw, w.path)


def measure_aufs(tmp: Path, archive: Path) -> list[dict]:
    log("aufs: rebuilding the layout from the layer tars (no aufs module here)")
    branches = AufsBranches(tmp / "aufs", archive)
    how = "reconstructed: layer tars extracted as aufs stores them; writes applied by aufs' rules (not measured)"
    manifest = json.load(tarfile.open(archive).extractfile("manifest.json"))
    diff_ids = json.load(tarfile.open(archive).extractfile(manifest[0]["Config"]))["rootfs"]["diff_ids"]
    rows = [row("aufs", how, "image_layer", p, ch, None, measure(d), measured=False)
            for p, (ch, d) in enumerate(zip(chain_ids(diff_ids), branches.layers))]
    for name, writes in WORKLOADS.items():
        rows.append(row("aufs", how, "container", None, container_name(name), name,
                        measure(branches.container(container_name(name), writes)), measured=False))
    return rows


# -- main -------------------------------------------------------------------------------------------
def backing(path: Path) -> dict:
    fs = run("stat", "-f", "-c", "%T %S", path).split()
    return {"filesystem": fs[0], "block_size": int(fs[1])}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drivers", default=",".join(ALL), help="comma-separated, default %(default)s")
    parser.add_argument("--out", type=Path, default=REPO / "data" / "drivers")
    args = parser.parse_args(argv)
    drivers = [d for d in args.drivers.split(",") if d]
    if unknown := set(drivers) - set(ALL):
        parser.error(f"unknown driver(s) {sorted(unknown)}; choose from {', '.join(ALL)}")
    if os.geteuid() != 0:
        parser.error("run as root: dockerd, containerd and loop mounts need it")
    started = time.monotonic()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="llmeasure-", dir="/var/tmp") as tmp_name:
        tmp = Path(tmp_name)
        archive = tmp / "app.tar"
        graph = [d for d in ("overlay2", "vfs", "btrfs") if d in drivers]
        if not graph and ({"containerd", "aufs"} & set(drivers)):
            graph = ["overlay2"]  # the image archive comes from a dockerd
        for i, driver in enumerate(graph):
            got = measure_dockerd(driver, tmp, archive if i == 0 else None)
            rows += got if driver in drivers else []
        if "containerd" in drivers:
            rows += measure_containerd(tmp, archive)
        if "aufs" in drivers:
            rows += measure_aufs(tmp, archive)
        where = backing(tmp)
    df = pd.DataFrame(rows, columns=COLUMNS)
    args.out.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out / "measurements.csv", index=False)
    params = {}
    for name in ("redirect_dir", "metacopy", "index"):
        p = Path("/sys/module/overlay/parameters") / name
        params[name] = p.read_text().strip() if p.exists() else None
    meta = {
        "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "kernel": platform.release(),
        "image": IMAGE,
        "workloads": {n: {"writes": [w.describe() for w in ws], "script": script(ws)} for n, ws in WORKLOADS.items()},
        "backing": {"overlay2, vfs, containerd, aufs": where, "btrfs": {"filesystem": "btrfs", "block_size": 4096,
                                                                        "note": "loop-mounted 512 MiB image, quotas "
                                                                                "enabled"}},
        "overlay_module": params,
        "reconstructed": {"aufs": "no aufs kernel module: layout rebuilt from the layer tars, container writes applied "
                                  "by aufs' rules on real files"},
        "columns": {
            "apparent_bytes": "regular file and symlink st_size under the layer's content directory, each inode once "
                              "(Docker's directory.Size)",
            "disk_bytes": "allocated bytes (st_blocks * 512) under the content directory, each inode once, directories "
                          "and the directory itself included",
            "layer_disk_bytes": "allocated bytes of everything the driver keeps for the layer (overlay2: diff/, work/, "
                                "link, lower; containerd: fs/ and work/)",
            "entries": "directory entries under the content directory",
            "inodes": "distinct inodes, the directory itself included",
            "exclusive_bytes": "btrfs: data extents only this subvolume refers to (btrfs filesystem du)",
            "shared_bytes": "btrfs: data extents shared with other subvolumes",
            "qgroup_referenced_bytes": "btrfs: the subvolume's qgroup referenced bytes (metadata included)",
            "qgroup_exclusive_bytes": "btrfs: the subvolume's qgroup exclusive bytes (metadata included)",
            "peer_size": "what the driver's own tool says: layerdb size / docker ps -s SizeRw (dockerd), ctr snapshots "
                         "usage (containerd, rounded as ctr prints it)",
        },
        "seconds": round(time.monotonic() - started),
    }
    (args.out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    log(f"wrote {args.out / 'measurements.csv'} ({len(df)} rows) in {meta['seconds']}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
