"""The sample image set: small images built on a real daemon that show what users run into.

``busybox_rootfs`` makes a base filesystem from Debian's busybox-static (nothing is pulled from
the internet); ``build_sample`` builds the rest with the classic builder and returns a dict that
names every image and container by the role it plays, so tests never hard-code IDs.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
import tarfile
import tempfile
import textwrap
from pathlib import Path

from .daemon import Daemon, DaemonError

BUSYBOX = Path("/bin/busybox")
#: Fixed mtime (2024-01-01T00:00:00Z) for everything we write, so layer contents are reproducible.
EPOCH = 1704067200
BIG = 1 << 20  # the big file: 1 MiB of random bytes, so compression cannot hide its copies

BASE = "layerlab/base:1"
BLOAT = "layerlab/bloat:1"
APP = "layerlab/app:1"
RETAG = "layerlab/app:stable"
TREE = "layerlab/tree:1"
MULTI = "layerlab/multi:1"

#: Odd file names created in layerlab/tree:1 (non-UTF-8 bytes as surrogate escapes, like os.fsdecode).
ODD_NAMES = [
    "/srv/odd/name with spaces.txt",
    "/srv/odd/new\nline.txt",
    os.fsdecode(b"/srv/odd/bad\377byte.txt"),
]


def busybox_rootfs(dir) -> Path:
    """Write ``<dir>/rootfs.tar``: /bin/busybox, its applet symlinks and a minimal /etc; return its path.

    Entries are sorted and have fixed owners and mtimes, so the same busybox gives the same tar.
    """
    if not BUSYBOX.is_file():
        raise DaemonError(f"{BUSYBOX} not found: install Debian's busybox-static (apt-get install busybox-static)")
    applets = subprocess.run([str(BUSYBOX), "--list-full"], capture_output=True, text=True, check=True).stdout
    entries: dict[str, tuple[str, object, int]] = {}  # path -> (type, payload, mode)

    def add_dir(path: str, mode: int = 0o755) -> None:
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            entries.setdefault("/".join(parts[:i]), ("dir", None, mode if i == len(parts) else 0o755))

    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "dev", "proc", "sys", "var/log", "home"):
        add_dir(d)
    add_dir("root", 0o700)
    add_dir("tmp", 0o1777)
    entries["bin/busybox"] = ("file", BUSYBOX.read_bytes(), 0o755)
    for applet in applets.split():
        applet = applet.strip("/")
        if "/" not in applet or applet == "bin/busybox":
            continue  # e.g. "linuxrc", which belongs at / and is no use here
        entries[applet] = ("symlink", "/bin/busybox", 0o777)
    entries["etc/passwd"] = ("file", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
                             0o644)
    entries["etc/group"] = ("file", b"root:x:0:\nnogroup:x:65534:\n", 0o644)
    entries["etc/os-release"] = ("file", b'NAME="layerlab busybox"\nID=busybox\n', 0o644)

    out = Path(dir) / "rootfs.tar"
    Path(dir).mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(entries):
            kind, payload, mode = entries[path]
            info = tarfile.TarInfo(path)
            info.mode, info.mtime, info.uid, info.gid, info.uname, info.gname = mode, EPOCH, 0, 0, "root", "root"
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, payload
                tar.addfile(info)
            else:
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    return out


def _random_bytes(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _write_context(root: Path, files: dict[str, bytes | str]) -> Path:
    """Write a build context (Dockerfile and files) with fixed mtimes; return its directory."""
    root.mkdir(parents=True)
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    for path in sorted(root.rglob("*"), reverse=True):
        os.utime(path, (EPOCH, EPOCH), follow_symlinks=False)
    return root


def _dockerfile(text: str) -> str:
    return textwrap.dedent(text).lstrip()


def _contexts(tmp: Path) -> dict[str, Path]:
    bloat = _write_context(tmp / "bloat", {
        "Dockerfile": _dockerfile(f"""
            FROM {BASE}
            LABEL org.layerlab.role="overwrite, delete, chmod-only copy, empty layers"
            COPY big.bin scratch.bin /data/
            # the same path again with new content: the first copy stays in the image
            COPY big-v2.bin /data/big.bin
            RUN rm /data/scratch.bin
            # metadata-only change: overlay copies up the whole file
            RUN chmod 0600 /data/big.bin
            ENV APP_MODE=demo
        """),
        "big.bin": _random_bytes(1, BIG),
        "big-v2.bin": _random_bytes(2, BIG),
        "scratch.bin": _random_bytes(3, 256 << 10),
    })
    # A later mtime, as a real rebuild has: drivers that diff by comparing metadata (vfs, btrfs)
    # would miss new content of the same size and mtime, and the layer would come out empty.
    os.utime(bloat / "big-v2.bin", (EPOCH + 86400, EPOCH + 86400))
    app = _write_context(tmp / "app", {
        "Dockerfile": _dockerfile(f"""
            FROM {BLOAT}
            COPY app/ /opt/app/
            CMD ["/opt/app/run.sh"]
        """),
        "app/run.sh": "#!/bin/sh\necho layerlab app\n",
        "app/conf/a.conf": "a = 1\n",
        "app/conf/b.conf": "b = 2\n",
        "app/cache/x.dat": "x" * 4096,
        "app/cache/y.dat": "y" * 4096,
        "app/logs/old.log": "old log line\n" * 200,
    })
    os.chmod(app / "app/run.sh", 0o755)
    tree = _write_context(tmp / "tree", {
        "Dockerfile": _dockerfile(f"""
            FROM {BASE}
            COPY srv/ /srv/
            RUN set -e; cd /srv; \\
                ln data/file.txt data/file.hardlink; \\
                mkdir links; ln -s ../data/file.txt links/relative; ln -s /srv/data/file.txt links/absolute; \\
                ln -s does-not-exist links/dangling; \\
                truncate -s 4M sparse.img; printf tail | dd of=sparse.img bs=1 seek=3145728 conv=notrunc 2>/dev/null; \\
                mkdir odd; touch "odd/name with spaces.txt" "odd/$(printf 'new\\nline.txt')" "odd/$(printf 'bad\\377byte.txt')"
            # removed and made again in a later layer: an opaque directory
            RUN rm -rf /srv/cache && mkdir /srv/cache && echo fresh > /srv/cache/fresh.txt
            # a directory with children deleted: one whiteout hides the subtree
            RUN rm -rf /srv/old
            LABEL org.layerlab.role="opaque dir, deleted dir, links, sparse file, odd names"
        """),  # noqa: E501 (Dockerfile lines: the images the tests inspect are built from them as written)
        "srv/data/file.txt": "shared by a hard link\n" * 100,
        "srv/cache/a.txt": "cache a\n" * 500,
        "srv/cache/b.txt": "cache b\n" * 500,
        "srv/cache/sub/c.txt": "cache c\n" * 500,
        "srv/old/x.txt": "old x\n" * 500,
        "srv/old/deep/y.txt": "old y\n" * 500,
    })
    multi = _write_context(tmp / "multi", {
        "Dockerfile": _dockerfile(f"""
            FROM {BASE} AS builder
            COPY src/ /src/
            RUN mkdir /out && cat /src/*.txt > /out/bundle.txt && cp /src/tool.bin /out/tool.bin
            FROM {BASE}
            COPY --from=builder /out/ /app/
            LABEL org.layerlab.role="multi-stage build"
        """),
        "src/a.txt": "part a\n" * 300,
        "src/b.txt": "part b\n" * 300,
        "src/tool.bin": _random_bytes(4, 128 << 10),
    })
    return {"bloat": bloat, "app": app, "tree": tree, "multi": multi}


#: What the running container does to its read-write layer.
EXITED_SCRIPT = "; ".join([
    "set -e",
    "printf x >> /data/big.bin",  # append one byte: the whole file is copied up
    "chmod 0700 /opt/app/run.sh",
    "rm /opt/app/logs/old.log",
    "rm -rf /opt/app/cache && mkdir /opt/app/cache && echo new > /opt/app/cache/new.txt",
    "mv /opt/app/conf /opt/app/config",
    "echo hello > /root/hello.txt",
    "mkdir -p /var/lib/app && seq 1 20000 > /var/lib/app/numbers.txt",
    # stays sparse in the read-write layer; in image layers docker stores sparse files dense
    "truncate -s 4M /var/lib/app/sparse.img",
    "printf tail | dd of=/var/lib/app/sparse.img bs=1 seek=3145728 conv=notrunc 2>/dev/null",
])

DEMONSTRATES = {
    BASE: "base layer imported from busybox-static (docker import), shared by every other image",
    BLOAT: "a 1 MiB file overwritten in a later layer, a file deleted in a later layer, "
    "a chmod-only copy of the big file, empty layers (LABEL, ENV)",
    APP: "an image built on another image (shares all of layerlab/bloat:1's layers); the containers run it",
    RETAG: "only a re-tag: the same image ID as layerlab/app:1",
    TREE: "an opaque directory (/srv/cache removed and recreated), a deleted directory with children "
    "(/srv/old), hard links, symlinks (relative, absolute, dangling), a file made sparse by RUN (stored "
    "dense once committed), odd file names (spaces, a newline, a non-UTF-8 byte)",
    MULTI: "a multi-stage build (COPY --from); its builder stage is left as a dangling image",
    "ll-created": "a container created but never started (empty read-write layer, init layer)",
    "ll-exited": "a container that ran and exited after writing to its read-write layer: "
    + EXITED_SCRIPT,
}


def _build(daemon: Daemon, ref: str, context: Path) -> str:
    daemon.docker("build", "--network", "none", "-q", "-t", ref, str(context), timeout=600)
    return _image_id(daemon, ref)


def _image_id(daemon: Daemon, ref: str) -> str:
    return daemon.docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()


def build_sample(daemon: Daemon, registry_host: str | None = None, registry_namespace: str | None = None) -> dict:
    """Build the sample images and containers on ``daemon``; return what was built, by role.

    With ``registry_host`` ("127.0.0.1:PORT", plain HTTP), some images are pushed there and
    layerlab/multi:1 is removed locally and pulled back, so the daemon records its distribution
    metadata and RepoDigests. ``registry_namespace`` (e.g. the driver name) prefixes the pushed
    repositories, so several daemons can share one registry without moving each other's tags.

    Returns a dict with ``images`` (every tag -> image ID), ``containers`` (name -> ID),
    ``roles`` (role -> tag or container name), ``paths`` (role -> path inside the image),
    ``demonstrates`` (tag or name -> what it shows), ``dangling`` (untagged image IDs),
    ``registry`` (host, pushed, pulled; None without a registry), ``driver`` and ``docker_version``.
    """
    tmp = Path(tempfile.mkdtemp(prefix="layerlab-sample-"))
    try:
        rootfs = busybox_rootfs(tmp / "rootfs")
        daemon.docker(
            "import", "--message", "busybox-static rootfs", "--change", 'CMD ["/bin/sh"]', str(rootfs), BASE
        )
        ctx = _contexts(tmp)
        for name, ref in (("bloat", BLOAT), ("app", APP), ("tree", TREE), ("multi", MULTI)):
            _build(daemon, ref, ctx[name])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    daemon.docker("tag", APP, RETAG)

    created = daemon.docker("create", "--name", "ll-created", "--network", "none", TREE).stdout.strip()
    daemon.docker("run", "--name", "ll-exited", "--network", "none", APP, "sh", "-c", EXITED_SCRIPT)
    exited = daemon.docker("container", "inspect", "--format", "{{.Id}}", "ll-exited").stdout.strip()

    multi_ref = MULTI
    registry = None
    if registry_host:
        pushed = []
        prefix = f"{registry_host}/{registry_namespace}/" if registry_namespace else f"{registry_host}/"
        for ref in (BASE, BLOAT, APP, MULTI):
            remote = prefix + ref
            daemon.docker("tag", ref, remote)
            daemon.docker("push", "-q", remote, timeout=600)
            pushed.append(remote)
        # Removing the local tags and pulling back leaves an image with no build parent
        # that the daemon knows only by its registry name and digest.
        multi_ref = prefix + MULTI
        daemon.docker("rmi", MULTI, multi_ref)
        daemon.docker("pull", "-q", multi_ref, timeout=600)
        registry = {"host": registry_host, "namespace": registry_namespace, "pushed": pushed, "pulled": multi_ref,
                    "removed_then_pulled": MULTI}

    images = {}
    for line in daemon.docker("images", "--no-trunc", "--format",
                              "{{.Repository}}:{{.Tag}} {{.ID}}").stdout.splitlines():
        ref, image_id = line.rsplit(" ", 1)
        if not ref.startswith("<none>"):
            images[ref] = image_id
    dangling = daemon.docker("images", "--no-trunc", "-q", "--filter", "dangling=true").stdout.split()
    demonstrates = dict(DEMONSTRATES)
    if multi_ref != MULTI:
        demonstrates[multi_ref] = demonstrates.pop(MULTI) + "; pushed, removed locally and pulled back"
    for ref in images:
        if ref.split("/", 1)[0] == registry_host:
            demonstrates.setdefault(ref, "a registry tag of the same image: pushed, so it has RepoDigests "
                                         "and distribution metadata")
    version = daemon.docker("version", "--format", "{{.Server.Version}}").stdout.strip()
    return {
        "driver": daemon.driver,
        "docker_version": version,
        "images": images,
        "containers": {"ll-created": created, "ll-exited": exited},
        "roles": {
            "base": BASE,
            "shared_base": BASE,
            "overwrite": BLOAT,
            "delete": BLOAT,
            "chmod_only": BLOAT,
            "empty_layers": BLOAT,
            "child_image": APP,
            "retag": RETAG,
            "opaque_dir": TREE,
            "deleted_dir": TREE,
            "hardlink": TREE,
            "symlink": TREE,
            "sparse": TREE,
            "odd_names": TREE,
            "multi_stage": multi_ref,
            "pulled": multi_ref if registry else None,
            "created_container": "ll-created",
            "exited_container": "ll-exited",
        },
        "paths": {
            "overwrite": "/data/big.bin",
            "delete": "/data/scratch.bin",
            "chmod_only": "/data/big.bin",
            "opaque_dir": "/srv/cache",
            "deleted_dir": "/srv/old",
            "hardlink": ["/srv/data/file.txt", "/srv/data/file.hardlink"],
            "symlink": ["/srv/links/relative", "/srv/links/absolute", "/srv/links/dangling"],
            "sparse": "/srv/sparse.img",
            "odd_names": list(ODD_NAMES),
            "multi_stage": ["/app/bundle.txt", "/app/tool.bin"],
            "exited_container": {
                "appended": "/data/big.bin",
                "chmod": "/opt/app/run.sh",
                "deleted": "/opt/app/logs/old.log",
                "opaque_dir": "/opt/app/cache",
                "renamed_dir": ["/opt/app/conf", "/opt/app/config"],
                "new_files": ["/root/hello.txt", "/var/lib/app/numbers.txt", "/opt/app/cache/new.txt"],
                "sparse": "/var/lib/app/sparse.img",
            },
        },
        "demonstrates": demonstrates,
        "dangling": dangling,
        "registry": registry,
    }
