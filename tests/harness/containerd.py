"""A real containerd in a temporary directory, for tests: ``with Containerd(tmp) as c: c.ctr("images", "ls")``.

Debian's ``containerd`` runs with its own ``--root``/``--state`` and a config whose gRPC address is a
unix socket in a short temporary directory; the CRI plugin is off (it wants CNI and touches the host).
``ctr`` talks to it in namespace ``moby`` unless told otherwise. Stopping kills the whole process
group and unmounts anything left mounted under its directories.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from layerlab.errors import LayerlabError
from .daemon import mount_points, stop_group, unmount_leftovers
from .tiers import missing


class ContainerdError(LayerlabError, RuntimeError):
    """containerd did not start, or a ctr command against it failed."""


def containerd_missing() -> str | None:
    """Why a real containerd cannot be started here (not root, programs missing), or None."""
    return missing(root=True, programs=("containerd", "ctr"))


_CONFIG = """\
version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{sock}"

[ttrpc]
  address = "{sock}.ttrpc"

[debug]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{root}/opt"
"""

# The leases service needs the GC plugin, so it stays loaded; its first collection is put off
# this long, and until then only deletions past a threshold (0 = none) would trigger one.
_NO_GC = """
[plugins."io.containerd.gc.v1.scheduler"]
  startup_delay = "10000h"
  deletion_threshold = 0
"""


class Containerd:
    """A containerd of its own.

    Parameters
    ----------
    workdir
        Holds ``root/`` (containerd's --root: the content store, meta.db, snapshotters),
        ``config.toml`` and ``containerd.log``. The state dir and sockets go in a short directory
        under /tmp, because unix socket paths are limited to 108 bytes.
    namespace
        The default namespace of :meth:`ctr` (Docker's is ``moby``).
    gc
        Run the garbage collector (as a real host does). Without it, objects that nothing refers
        to stay, e.g. a View made by ``ctr snapshots view``.
    """

    def __init__(self, workdir, namespace: str = "moby", gc: bool = True):
        self.gc = gc
        self.workdir = Path(workdir).resolve()
        self.root = self.workdir / "root"
        self.config_path = self.workdir / "config.toml"
        self.log_path = self.workdir / "containerd.log"
        self.namespace = namespace
        self.run_dir: Path | None = None
        self.process: subprocess.Popen | None = None
        self._mounts_before: set[str] = set()

    @property
    def address(self) -> str:
        if self.run_dir is None:
            raise ContainerdError("containerd has not been started: call start() or use it in a with block")
        return str(self.run_dir / "containerd.sock")

    @property
    def meta_db(self) -> Path:
        return self.root / "io.containerd.metadata.v1.bolt" / "meta.db"

    def snapshotter_db(self, snapshotter: str = "overlayfs") -> Path:
        return self.root / f"io.containerd.snapshotter.v1.{snapshotter}" / "metadata.db"

    def __enter__(self) -> "Containerd":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 30) -> "Containerd":
        """Start containerd and wait until ``ctr version`` answers; ContainerdError with its log if not."""
        if self.process is not None:
            return self
        reason = containerd_missing()
        if reason:
            raise ContainerdError(f"cannot start containerd: {reason}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.run_dir = Path(tempfile.mkdtemp(prefix="llc-", dir="/tmp"))
        self.config_path.write_text(
            _CONFIG.format(
                root=self.root, state=self.run_dir / "state", sock=self.address,
            ) + ("" if self.gc else _NO_GC)
        )
        self._mounts_before = set(mount_points())
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                ["containerd", "--config", str(self.config_path), "--log-level", "info"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                code = self.process.returncode
                self._cleanup()
                raise ContainerdError(f"containerd exited with {code} while starting; its log ends:\n{self.log_tail()}")
            if os.path.exists(self.address) and self.ctr("version", check=False, timeout=10).returncode == 0:
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise ContainerdError(
                    f"containerd did not answer on {self.address} within {timeout:.0f}s; its log "
                    f"ends:\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM containerd's process group, wait, SIGKILL if needed; unmount leftovers."""
        if self.process is None:
            return
        stop_group(self.process, timeout)
        self._cleanup()

    def _cleanup(self) -> None:
        unmount_leftovers([self.root] + ([self.run_dir] if self.run_dir else []), self._mounts_before)
        self.process = None
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def ctr(self, *args, namespace: str | None = None, check: bool = True, timeout: float = 300,
            input: bytes | None = None) -> subprocess.CompletedProcess:
        """Run ``ctr -n NAMESPACE ARGS`` against this containerd (TZ=UTC); text output."""
        args = [str(a) for a in args]
        cmd = ["ctr", "--address", self.address, "--namespace", namespace or self.namespace, *args]
        proc = subprocess.run(
            cmd, input=input, capture_output=True, timeout=timeout, env={**os.environ, "TZ": "UTC"},
        )
        proc.stdout = proc.stdout.decode(errors="replace")
        proc.stderr = proc.stderr.decode(errors="replace")
        if check and proc.returncode != 0:
            raise ContainerdError(
                f"`ctr {' '.join(args)}` failed with exit {proc.returncode} against {self.address}:\n"
                f"{proc.stderr.strip() or proc.stdout.strip()}"
            )
        return proc


# -- a sample store --------------------------------------------------------------------------------
BASE = "layerlab/base:1"
APP = "layerlab/app:1"
BASE_REF = "docker.io/layerlab/base:1"
APP_REF = "docker.io/layerlab/app:1"

#: Many labels on one image: its labels bucket needs leaf pages under branch pages under a branch page.
MANY_LABELS = {f"layerlab.test/key-{i:04d}": f"value-{i:04d}-" + "x" * 40 for i in range(3000)}
#: Big labels (containerd allows 4096 bytes per key+value): one leaf holding them needs overflow pages.
BIG_LABELS = {f"layerlab.test/big-{i}": chr(ord("a") + i) * 4000 for i in range(3)}
#: Many image names: the images bucket itself needs branch pages.
MANY_TAGS = [f"docker.io/layerlab/tag:{i:04d}" for i in range(300)]

DOCKERFILE = """\
FROM layerlab/base:1
RUN mkdir -p /srv/data && echo hello > /srv/data/hello.txt && echo bye > /srv/bye.txt
RUN rm /srv/bye.txt && echo more >> /srv/data/hello.txt
"""


def docker_archive(workdir) -> Path:
    """``<workdir>/images.tar``: `docker save` of BASE and APP, built on a real dockerd that is
    stopped again before this returns (base from busybox-static, APP with RUN and a deletion)."""
    from .daemon import Daemon
    from .images import busybox_rootfs

    work = Path(workdir)
    rootfs = busybox_rootfs(work)
    context = work / "context"
    context.mkdir(exist_ok=True)
    (context / "Dockerfile").write_text(DOCKERFILE)
    archive = work / "images.tar"
    with Daemon(work / "d") as daemon:
        daemon.docker("import", rootfs, BASE)
        daemon.docker("build", "-q", "-t", APP, context)
        daemon.docker("save", "-o", archive, BASE, APP)
    return archive


def populate(c: Containerd, archive) -> None:
    """Import ``archive`` and add what the tests look for: a container, a view (kept only with
    ``gc=False``), a lease, many and big labels, many tags, a second namespace."""
    c.ctr("images", "import", archive)
    c.ctr("containers", "create", APP_REF, "ctr-1")
    rows = [line.split() for line in c.ctr("snapshots", "ls").stdout.splitlines()[1:]]
    base_layer = next(row[0] for row in rows if len(row) == 2)  # KEY KIND, no PARENT
    # Nothing refers to this View: it lasts only with Containerd(gc=False).
    c.ctr("snapshots", "view", "view-1", base_layer)
    c.ctr("snapshots", "label", base_layer, "layerlab.test/snap=1")
    c.ctr("leases", "create", "--id", "lease-1", "layerlab.test/lease=yes")
    c.ctr("images", "label", BASE_REF, *(f"{k}={v}" for k, v in MANY_LABELS.items()))
    c.ctr("images", "label", APP_REF, *(f"{k}={v}" for k, v in BIG_LABELS.items()))
    c.ctr("images", "tag", APP_REF, *MANY_TAGS)
    c.ctr("namespaces", "create", "other", "layerlab.test/ns=other")
    c.ctr("images", "import", archive, namespace="other")
