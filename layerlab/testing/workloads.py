"""Container workloads for measuring storage drivers: the same writes, run the same way on every driver.

Each write is a small, named change a container makes to a file or directory it got from its image.
``WORKLOADS`` runs each alone (so its cost can be told apart) and all together, in
``layerlab/app:1`` of the sample (layerlab.testing.images), whose paths they touch:

- ``append``: one byte appended to the 1 MiB ``/data/big.bin``;
- ``chmod``: a mode change of the same file;
- ``delete``: ``/opt/app/logs/old.log`` removed;
- ``recreate_dir``: ``/opt/app/cache`` removed and made again (empty);
- ``rename_dir``: ``/opt/app/conf`` renamed to ``/opt/app/config``.

``noop`` runs ``true``: what a container layer costs before it writes anything.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from .images import APP

#: The image every workload runs in.
IMAGE = APP
OPS = ("append", "chmod", "delete", "recreate_dir", "rename", "create")


@dataclass(frozen=True)
class Write:
    """One change a container makes. ``arg``: bytes for append/create, a mode for chmod, the new path for rename."""

    op: str
    path: str
    arg: int | str | None = None

    def __post_init__(self):
        if self.op not in OPS:
            raise ValueError(f"unknown write {self.op!r}; known: {', '.join(OPS)}")
        if not self.path.startswith("/"):
            raise ValueError(f"write paths are absolute in the container, got {self.path!r}")

    def shell(self) -> str:
        """The busybox sh command that makes this change."""
        p = shlex.quote(self.path)
        if self.op == "append":
            return f"head -c {int(self.arg or 1)} /dev/zero >> {p}"
        if self.op == "create":
            return f"mkdir -p $(dirname {p}) && head -c {int(self.arg or 0)} /dev/urandom > {p}"
        if self.op == "chmod":
            return f"chmod {int(self.arg):o} {p}"
        if self.op == "delete":
            return f"rm {p}"
        if self.op == "recreate_dir":
            return f"rm -rf {p} && mkdir {p}"
        return f"mv {p} {shlex.quote(str(self.arg))}"

    def describe(self) -> str:
        if self.op in ("append", "create"):
            extra = f" ({'+' if self.op == 'append' else ''}{self.arg} B)"
        elif self.op == "chmod":
            extra = f" to {int(self.arg):o}"
        elif self.op == "rename":
            extra = f" to {self.arg}"
        else:
            extra = ""
        return f"{self.op} {self.path}{extra}"


APPEND = Write("append", "/data/big.bin", 1)
CHMOD = Write("chmod", "/data/big.bin", 0o644)
DELETE = Write("delete", "/opt/app/logs/old.log")
RECREATE_DIR = Write("recreate_dir", "/opt/app/cache")
RENAME_DIR = Write("rename", "/opt/app/conf", "/opt/app/config")

WORKLOADS: dict[str, tuple[Write, ...]] = {
    "noop": (),
    "append": (APPEND,),
    "chmod": (CHMOD,),
    "delete": (DELETE,),
    "recreate_dir": (RECREATE_DIR,),
    "rename_dir": (RENAME_DIR,),
    "all": (APPEND, CHMOD, DELETE, RECREATE_DIR, RENAME_DIR),
}


def script(writes) -> str:
    """One ``sh -c`` script running ``writes`` in order (``true`` for none), stopping at the first failure."""
    return "; ".join(["set -e", *(w.shell() for w in writes)]) if writes else "true"


def container_name(workload: str) -> str:
    return f"ll-wl-{workload.replace('_', '-')}"
