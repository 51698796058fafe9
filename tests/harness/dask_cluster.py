"""A real Dask cluster on loopback for the fleet tests: ``dask scheduler`` and ``dask worker``
processes, each in a session of its own so that stopping it stops its children too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .daemon import stop_group
from .registry import free_port


def program(name: str) -> str | None:
    """A console script installed next to this Python (the venv's), else on PATH."""
    return shutil.which(name, path=os.path.dirname(sys.executable)) or shutil.which(name)


def dask_missing() -> str | None:
    if program("dask") is None:
        return "needs the `dask` command (pip install 'dask[dataframe]' distributed, as .[test] does)"
    return None


class DaskCluster:
    """``dask scheduler --host 127.0.0.1 --port P`` and ``workers`` ``dask worker`` processes."""

    def __init__(self, workdir: str | os.PathLike, workers: int = 2, memory_limit: str = "2GiB"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.n_workers = workers
        self.memory_limit = memory_limit
        self.procs: list[subprocess.Popen] = []

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")
        proc = subprocess.Popen([program("dask"), *args], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.workdir)
        log.close()
        self.procs.append(proc)
        return proc

    def log_tail(self, name: str, lines: int = 20) -> str:
        try:
            return "\n".join((self.workdir / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def start(self, timeout: float = 60.0) -> "DaskCluster":
        from distributed import Client

        reason = dask_missing()
        if reason:
            raise RuntimeError(reason)
        self._spawn("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard"])
        for i in range(self.n_workers):
            self._spawn(f"worker-{i}", ["worker", self.address, "--host", "127.0.0.1", "--nworkers", "1",
                                        "--nthreads", "1", "--memory-limit", self.memory_limit, "--no-dashboard",
                                        "--local-directory", str(self.workdir / f"worker-{i}")])
        deadline = time.monotonic() + timeout
        try:
            with Client(self.address, timeout=f"{timeout}s") as client:
                while len(client.scheduler_info(n_workers=-1)["workers"]) < self.n_workers:
                    dead = [p for p in self.procs if p.poll() is not None]
                    if dead or time.monotonic() > deadline:
                        raise RuntimeError(f"dask workers did not all join {self.address}:\n"
                                           f"{self.log_tail('worker-0')}")
                    time.sleep(0.2)
        except BaseException:
            self.stop()
            raise
        return self

    def worker_pids(self) -> list[int]:
        return [p.pid for p in self.procs[1:]]

    def stop(self) -> None:
        """Stop the workers, then the scheduler (each with its process group)."""
        for proc in reversed(self.procs):
            stop_group(proc, timeout=10)
        self.procs = []

    def __enter__(self) -> "DaskCluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
