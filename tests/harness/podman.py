"""Real containers-storage stores made by podman and buildah (Debian's), in a folder of the caller's.

Every command gets ``--root``/``--runroot``/``--storage-driver``, so the host's own store is never
touched. Images: a busybox base (``podman import`` of ``images.busybox_rootfs``), then
``buildah bud --layers`` of Dockerfiles that add, delete, overwrite, white out and make opaque
directories. Containers: ``podman create`` whose files are written through ``podman mount`` (no OCI
runtime needed: runc cannot set rlimits in some sandboxes), and a buildah working container whose
files a ``buildah run --isolation chroot`` wrote.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .images import busybox_rootfs

PROGRAMS = ("podman", "buildah")

#: Dockerfiles of the test images (build context files are made by ``build_images``).
APP = """FROM localhost/busybox:base
COPY big.bin /data/big.bin
RUN rm /data/big.bin && mkdir -p /opq/sub && echo a > /opq/a && echo keep > /opq/sub/k && ln -s /opq /data/link
COPY big2.bin /data/big.bin
RUN rm -rf /opq && mkdir /opq && echo b > /opq/b && rm /data/link
RUN echo changed > /etc/os-release && rm -rf /home
ENV X=1
"""
SMALL = """FROM localhost/busybox:base
COPY small.txt /small.txt
RUN cp /bin/busybox /bin/busybox2 && rm /bin/busybox2 && cp /small.txt /small-copy.txt
LABEL role=small
"""


@dataclass
class Store:
    """One store: its graph root, run root and driver, and the programs that make it."""

    root: Path
    runroot: Path
    driver: str = "overlay"
    images: dict = field(default_factory=dict)  # ref -> image ID (64 hex)
    containers: dict = field(default_factory=dict)  # name -> container ID

    def _flags(self) -> list[str]:
        return ["--root", str(self.root), "--runroot", str(self.runroot), "--storage-driver", self.driver]

    def podman(self, *args: str, timeout: int = 300) -> str:
        return _run(["podman", *self._flags(), *args], timeout)

    def buildah(self, *args: str, timeout: int = 300) -> str:
        return _run(["buildah", *self._flags(), *args], timeout)

    @property
    def transport(self) -> str:
        return f"containers-storage:[{self.driver}@{self.root}+{self.runroot}]"

    def image_id(self, ref: str) -> str:
        return self.podman("image", "inspect", "--format", "{{.Id}}", ref).strip()

    def save(self, ref: str, out: Path) -> Path:
        """``podman save`` of one image as a docker-archive (what dive reads)."""
        self.podman("save", "--format", "docker-archive", "-o", str(out), ref)
        return out

    def stop(self) -> None:
        """Unmount whatever podman left mounted (nothing should be), so the folder can be removed."""
        subprocess.run(["podman", *self._flags(), "unmount", "--all"], capture_output=True, timeout=60)
        shutil.rmtree(self.runroot, ignore_errors=True)


def _run(cmd: list[str], timeout: int) -> str:
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
    return p.stdout


def make_store(tmp, driver: str = "overlay") -> Store:
    """A new store with its graph root under ``tmp``; its run root is a short folder of its own in
    /tmp (podman refuses run roots longer than 50 characters); ``Store.stop`` removes it."""
    import tempfile

    tmp = Path(tmp)
    return Store(tmp / "root", Path(tempfile.mkdtemp(prefix="llrun-")), driver)


def build(store: Store, ref: str, dockerfile: str, context: Path, files: dict[str, bytes] | None = None) -> str:
    """``buildah bud --layers`` of ``dockerfile`` (its context files given) tagged ``ref``; its image ID."""
    context.mkdir(parents=True, exist_ok=True)
    (context / "Dockerfile").write_text(dockerfile)
    for name, data in (files or {}).items():
        (context / name).write_bytes(data)
    store.buildah("bud", "--layers", "--pull=never", "--network", "host", "--isolation", "chroot",
                  "-t", ref, str(context))
    store.images[ref] = store.image_id(ref)
    return store.images[ref]


def write_container(store: Store, name: str, image: str, writes: dict[str, bytes], deletes: list[str]) -> str:
    """``podman create`` a container and change its files through ``podman mount``: its read-write
    layer holds what a process in it would have written (overlay: an upper dir; vfs: a full copy)."""
    cid = store.podman("create", "--name", name, image, "sh").strip()
    mount = Path(store.podman("mount", cid).strip())
    # The mount point must be the store's own merged dir: never write outside it.
    if not mount.is_absolute() or store.root not in mount.parents:
        raise RuntimeError(f"podman mount gave {mount}, not a folder under {store.root}")
    try:
        for path, data in writes.items():
            target = mount / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        for path in deletes:
            target = mount / path.lstrip("/")
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink()
    finally:
        store.podman("unmount", cid)
    store.containers[name] = cid
    return cid


def working_container(store: Store, image: str, script: str) -> str:
    """A buildah working container (``buildah from``) in which ``script`` ran (chroot isolation)."""
    cid = store.buildah("from", "--pull=never", image).strip()
    store.buildah("run", "--isolation", "chroot", cid, "sh", "-c", script)
    store.containers[cid] = store.buildah("inspect", "--format", "{{.ContainerID}}", cid).strip()
    return cid


def build_images(store: Store, tmp) -> Store:
    """The base, ``localhost/app:1`` (every kind of change), ``localhost/small:1`` (sharing the base
    layer with app) and two containers: ``c1`` (podman) and a buildah working container."""
    tmp = Path(tmp)
    rootfs = busybox_rootfs(tmp / "base")
    store.podman("import", "--change", "CMD [\"sh\"]", str(rootfs), "localhost/busybox:base")
    store.images["localhost/busybox:base"] = store.image_id("localhost/busybox:base")
    seeded = os.urandom  # contents do not matter, sizes do: each build gets its own bytes
    build(store, "localhost/app:1", APP, tmp / "app", {"big.bin": seeded(300_000), "big2.bin": seeded(100_000)})
    build(store, "localhost/small:1", SMALL, tmp / "small", {"small.txt": b"small\n"})
    write_container(store, "c1", "localhost/app:1", {"/data/new.txt": b"hello\n", "/opq/b": bytes(5000)}, ["/bin/ls"])
    working_container(store, "localhost/small:1", "head -c 7000 /dev/zero > /w.bin && rm /small.txt")
    return store


def podman_human(size: int) -> str:
    """A byte count as ``podman system df`` prints it (go-units HumanSize: 4 significant digits, 1000s)."""
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    value, i = float(size), 0
    while value >= 1000 and i < len(units) - 1:
        value /= 1000
        i += 1
    return f"{value:.4g}{units[i]}"


def system_df(store: Store) -> dict:
    """``podman system df -v``'s images parsed, by ID prefix: size, shared, unique (as printed:
    podman 4.3 prints only rounded sizes, even with --format) and containers."""
    out = store.podman("system", "df", "-v")
    images, section = {}, None
    for line in out.splitlines():
        if line.startswith("Images space usage"):
            section = "images"
        elif line.startswith(("Containers space usage", "Local Volumes")):
            section = None
        elif section and line.strip() and not line.startswith("REPOSITORY"):
            cols = line.split()  # CREATED is several words: the sizes are read from the right
            images.setdefault(cols[2],
                              {"size": cols[-4], "shared": cols[-3], "unique": cols[-2], "containers": int(cols[-1])})
    return images


def container_sizes(store: Store) -> dict[str, int]:
    """Each container's read-write bytes as podman counts them (``podman ps -a --external --size``)."""
    import json

    rows = json.loads(store.podman("ps", "-a", "--external", "--size", "--format", "json"))
    return {r["Id"]: r["Size"]["rwSize"] for r in rows if r.get("Size")}


def rootless_user(name: str = "llrootless") -> tuple[int, int]:
    """(uid, gid) of a local user for rootless podman, made (with subordinate IDs) if missing."""
    import pwd

    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name], check=True, capture_output=True,
                       timeout=60)
        pw = pwd.getpwnam(name)
    for path in ("/etc/subuid", "/etc/subgid"):  # useradd adds them on Debian; older setups may not
        text = Path(path).read_text() if Path(path).exists() else ""
        if not any(line.split(":")[0] == name for line in text.splitlines()):
            subprocess.run(["usermod", "--add-subuids" if path.endswith("uid") else "--add-subgids",
                            "200000-265535", name], check=True, capture_output=True, timeout=60)
    return pw.pw_uid, pw.pw_gid


def as_user(name: str, home: Path, *cmd: str, timeout: int = 300) -> str:
    """``cmd`` run as user ``name`` with HOME at ``home`` (and no XDG dirs: podman's defaults)."""
    env = ["env", "-i", f"HOME={home}", f"USER={name}", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
    return _run(["runuser", "-u", name, "--", *env, *cmd], timeout)


def userns_problem() -> str | None:
    """Why rootless podman cannot run here (no user namespaces for users), or None."""
    uid, _ = rootless_user()
    p = subprocess.run(["runuser", "-u", "llrootless", "--", "unshare", "-U", "-r", "true"], capture_output=True,
                       text=True, timeout=60)
    return None if p.returncode == 0 else f"user namespaces are not available to users here: {p.stderr.strip()}"
