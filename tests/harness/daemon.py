"""A real dockerd in a temporary directory, for tests and the sample capture.

``Daemon`` starts Debian's ``dockerd`` with its own data root, exec root, socket and managed
containerd, with networking switched off, and stops all of it again (including anything it left
mounted). Nothing is pulled from the internet: images come from ``harness.images``.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from layerlab.errors import LayerlabError
from .tiers import missing

#: Unix socket paths are limited to 108 bytes; dockerd and containerd put sockets a few levels
#: below the exec root, so a workdir longer than this gets a short run dir under /tmp instead.
_MAX_RUN_DIR = 48


class DaemonError(LayerlabError, RuntimeError):
    """dockerd did not start, or a docker command against it failed."""


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str, timeout: float):
        super().__init__("docker", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def dockerd_missing() -> str | None:
    """Why a real dockerd cannot be started here (not root, programs missing), or None."""
    return missing(root=True, programs=("dockerd", "docker", "containerd", "runc"))


def mount_points() -> list[str]:
    """Every mount point on this host, from /proc/self/mountinfo."""
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            raw = line.split()[4]
            # mountinfo escapes space, tab, newline and backslash as octal.
            points.append(raw.encode("latin-1", "surrogateescape").decode("unicode_escape"))
    return points


def _under(path: str, root: Path) -> bool:
    return path == str(root) or path.startswith(str(root).rstrip("/") + "/")


def unmount_leftovers(roots, before: set[str]) -> None:
    """Unmount what a daemon left mounted under ``roots`` (mount points not in ``before``): deepest
    first and once per stacked mount; lazily when busy."""
    leftovers = [p for p in mount_points() if p not in before and any(_under(p, r) for r in roots)]
    for point in sorted(leftovers, key=lambda p: p.count("/"), reverse=True):
        if subprocess.run(["umount", point], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True)


def stop_group(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM a process's whole group (it was started in a session of its own), wait up to
    ``timeout``, then SIGKILL the group."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            continue


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _kill_and_wait(pid: int, timeout: float = 10) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _pid_alive(pid) and not _is_zombie(pid):
            time.sleep(0.05)
        if not _pid_alive(pid) or _is_zombie(pid):
            return


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


class Daemon:
    """A dockerd of its own: ``with Daemon(tmp) as d: d.docker("images")``.

    Parameters
    ----------
    workdir
        Directory for the data root (unless ``data_root`` is given), exec root, pid file, socket,
        the docker CLI config and ``dockerd.log``. Created if missing.
    driver
        Storage driver: ``overlay2``, ``vfs`` or ``btrfs`` (btrfs needs ``data_root`` on btrfs,
        see ``harness.btrfs``).
    data_root
        Where dockerd keeps its data; default ``<workdir>/root``.
    """

    def __init__(self, workdir, driver: str = "overlay2", data_root=None):
        self.workdir = Path(workdir).resolve()
        self.driver = driver
        self.data_root = Path(data_root).resolve() if data_root else self.workdir / "root"
        self.log_path = self.workdir / "dockerd.log"
        self._own_run_dir = len(str(self.workdir)) > _MAX_RUN_DIR
        self.run_dir = None  # set by start(): holds exec root, pid file and socket
        self.process: subprocess.Popen | None = None
        self._containerd_pid: int | None = None
        self._mounts_before: set[str] = set()

    # -- addresses ---------------------------------------------------------------------------

    @property
    def socket_path(self) -> Path:
        return self._require_run_dir() / "docker.sock"

    @property
    def exec_root(self) -> Path:
        return self._require_run_dir() / "exec"

    @property
    def pidfile(self) -> Path:
        return self._require_run_dir() / "docker.pid"

    @property
    def host(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DOCKER_HOST=self.host,
            DOCKER_BUILDKIT="0",
            # Keep the CLI away from the user's ~/.docker (credentials, contexts).
            DOCKER_CONFIG=str(self.workdir / "cli-config"),
        )
        env.pop("DOCKER_CONTEXT", None)
        return env

    def _require_run_dir(self) -> Path:
        if self.run_dir is None:
            raise DaemonError("the daemon has not been started: call start() or use it in a with block")
        return self.run_dir

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> "Daemon":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 60) -> "Daemon":
        """Start dockerd and wait until it answers ``/_ping``; raise DaemonError with its log if not."""
        if self.process is not None:
            return self
        reason = dockerd_missing()
        if reason:
            raise DaemonError(f"cannot start dockerd: {reason}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_root.mkdir(parents=True, exist_ok=True)
        if self._own_run_dir:
            self.run_dir = Path(tempfile.mkdtemp(prefix="lld-", dir="/tmp"))
        else:
            self.run_dir = self.workdir / "run"
            self.run_dir.mkdir(exist_ok=True)
        self._mounts_before = set(mount_points())
        cmd = [
            "dockerd",
            "--data-root", str(self.data_root),
            "--exec-root", str(self.exec_root),
            "--pidfile", str(self.pidfile),
            "-H", self.host,
            "--storage-driver", self.driver,
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
            # No daemon.json from the host.
            "--config-file", str(self._empty_config()),
        ]
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while not self._ping():
            if self.process.poll() is not None:
                self._cleanup()
                raise DaemonError(
                    f"dockerd ({self.driver}) exited with {self.process.returncode} while starting; "
                    f"its log {self.log_path} ends:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise DaemonError(
                    f"dockerd ({self.driver}) did not answer on {self.socket_path} within {timeout:.0f}s; "
                    f"its log {self.log_path} ends:\n{self.log_tail()}"
                )
            time.sleep(0.1)
        self._containerd_pid = self._read_containerd_pid()
        return self

    def _empty_config(self) -> Path:
        path = self.workdir / "daemon.json"
        if not path.exists():
            path.write_text("{}\n")
        return path

    def _ping(self) -> bool:
        try:
            return self._get("/_ping", timeout=2)[0] == 200
        except (OSError, http.client.HTTPException):
            return False

    def _get(self, path: str, timeout: float = 60) -> tuple[int, bytes]:
        conn = _UnixHTTPConnection(str(self.socket_path), timeout)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def api(self, path: str):
        """GET an Engine API path (e.g. ``/system/df``) and parse the JSON: raw numbers, unlike the CLI."""
        status, body = self._get(path)
        if status != 200:
            raise DaemonError(f"GET {path} on {self.host} answered {status}: {body[:500].decode(errors='replace')}")
        return json.loads(body)

    def _read_containerd_pid(self) -> int | None:
        try:
            return int((self.exec_root / "containerd" / "containerd.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM dockerd, wait, then kill its group; then its containerd, shims and mounts."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(10)
        self._cleanup()

    def _cleanup(self) -> None:
        run_dir = self.run_dir
        if run_dir is not None:
            # The managed containerd runs in its own session, and runc shims outlive it by design:
            # find them by our exec root, which only processes we started refer to.
            pids = [self._containerd_pid] if self._containerd_pid else []
            pids += self._pids_mentioning(str(run_dir))
            for pid in dict.fromkeys(pids):
                if pid and pid != os.getpid() and str(run_dir) in _cmdline(pid):
                    _kill_and_wait(pid)
        unmount_leftovers([self.data_root] + ([run_dir] if run_dir else []), self._mounts_before)
        self.process = None
        if run_dir is not None and self._own_run_dir:
            shutil.rmtree(run_dir, ignore_errors=True)

    @staticmethod
    def _pids_mentioning(text: str) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and text in _cmdline(int(entry.name)):
                pids.append(int(entry.name))
        return pids


    # -- the CLI -----------------------------------------------------------------------------

    def docker(self, *args, input=None, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run ``docker ARGS`` against this daemon; text output; DaemonError with stderr on failure."""
        args = [str(a) for a in args]
        binary = isinstance(input, (bytes, bytearray))
        proc = subprocess.run(
            ["docker", *args],
            input=input,
            capture_output=True,
            text=not binary,
            env=self.env,
            timeout=timeout,
        )
        if binary:
            proc.stdout = proc.stdout.decode(errors="replace")
            proc.stderr = proc.stderr.decode(errors="replace")
        if check and proc.returncode != 0:
            raise DaemonError(
                f"`docker {' '.join(args)}` failed with exit {proc.returncode} against {self.host}:\n"
                f"{proc.stderr.strip() or proc.stdout.strip()}"
            )
        return proc

    def docker_json(self, *args):
        """Run a docker command that prints JSON; one document, or a list of JSON lines."""
        out = self.docker(*args).stdout
        try:
            return json.loads(out)
        except json.JSONDecodeError:
            return [json.loads(line) for line in out.splitlines() if line.strip()]

    def info(self) -> dict:
        return self.docker_json("info", "--format", "{{json .}}")
