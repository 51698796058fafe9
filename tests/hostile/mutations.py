"""Damaging a copy's file in one way, and putting it back; a bound on how long reading may take.

Shared by the mutation suites (data root, containerd store, snapshots)."""

from __future__ import annotations

import os
import shutil
import signal
import stat
from contextlib import contextmanager
from pathlib import Path

import pytest


def write(content: bytes):
    def mutate(path: Path):
        path.write_bytes(content)
    return mutate


def truncate(path: Path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def fifo(path: Path):
    path.unlink()
    os.mkfifo(path)


def dev_zero(path: Path):
    path.unlink()
    path.symlink_to("/dev/zero")


def directory(path: Path):
    path.unlink()
    path.mkdir()


#: The ways every suite damages a file (each suite adds its own format-specific ones).
COMMON = {
    "truncated": truncate,
    "empty": write(b""),
    "fifo": fifo,
    "dev zero": dev_zero,
    "directory": directory,
}


@contextmanager
def damaged(path: Path, mutate):
    """``path`` damaged by ``mutate`` for the block, then restored with its bytes and mode."""
    saved, mode = path.read_bytes(), path.stat().st_mode
    mutate(path)
    try:
        yield path
    finally:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        path.write_bytes(saved)
        os.chmod(path, stat.S_IMODE(mode))


class _Hang(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Hang()


@contextmanager
def bounded(seconds: int, what: str):
    """Fail the test (not hang the suite) when the block is still running after ``seconds``."""
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(seconds)
    try:
        yield
    except _Hang:
        pytest.fail(f"{what}: still reading after {seconds} s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def read_damaged_root(root: Path, path: Path, mutate, what: str, *, names: tuple[str, ...] = ()) -> None:
    """Open the data root ``root`` with ``path`` damaged by ``mutate`` and read every frame: it must
    end, within 30 s, either read (what could not be, in ``skipped``) or in a LayerlabError naming
    the file (its path, its folder, or one of ``names``)."""
    import layerlab as ll

    with damaged(path, mutate), bounded(30, what):
        try:
            read_quietly(root)
        except ll.LayerlabError as e:
            assert str(path) in str(e) or str(path.parent) in str(e) or any(n in str(e) for n in names), \
                f"the error does not name the file: {e}"


def _set(field, value):
    def change(cfg):
        obj = cfg
        *parents, last = field.split(".")
        for p in parents:
            obj = obj.setdefault(p, {})
        obj[last] = value
        return cfg
    return change


#: A container's config.v2.json with one field Docker writes of another JSON type (or the whole file
#: of another type); ``hostconfig.json`` likewise. Each must skip the container naming what is wrong,
#: or be read, never end in a traceback.
CONTAINER_CONFIGS = {
    "config.v2.json a list": lambda cfg: [cfg],
    "config.v2.json a string": lambda cfg: "config",
    "State a list": _set("State", ["running"]),
    "State a string": _set("State", "exited"),
    "State.Running a string": _set("State.Running", "yes"),
    "State.StartedAt a number": _set("State.StartedAt", 1700000000),
    "State.Dead a list": _set("State.Dead", [True]),
    "Name a number": _set("Name", 7),
    "Name a list": _set("Name", ["/web"]),
    "Image an object": _set("Image", {"id": "sha256:00"}),
    "Image a number": _set("Image", 12),
    "Created a list": _set("Created", ["2024-01-01T00:00:00Z"]),
    "Created a number": _set("Created", 1700000000),
    "Config a string": _set("Config", "cmd"),
    "MountPoints a number": _set("MountPoints", 3),
}

HOSTCONFIGS = {
    "hostconfig.json a list": lambda cfg: [cfg],
    "Binds a string": _set("Binds", "/:/host"),
    "RestartPolicy a list": _set("RestartPolicy", ["always"]),
}


def read_container_config(root: Path, path: Path, change, what: str) -> None:
    """Read the data root ``root`` with the container config at ``path`` rewritten by ``change``
    (a function of its JSON): the container is read or skipped with a reason, or the error names the file."""
    import json

    import layerlab as ll

    cid = path.parent.name
    body = json.dumps(change(json.loads(path.read_bytes()))).encode()
    with damaged(path, write(body)), bounded(30, what):
        try:
            inv = read_quietly(root)
        except ll.LayerlabError as e:
            assert str(path) in str(e), f"the error does not name the file: {e}"
            return
    skipped = inv.skipped[inv.skipped["id"] == cid]
    if cid in set(inv.containers["container_id"]):
        row = inv.containers.set_index("container_id").loc[cid]
        assert isinstance(row["name"], str) and row["state"] in {"created", "running", "paused", "restarting",
                                                                  "removing", "dead", "exited", "unknown"}
    else:
        assert len(skipped) and str(path) in set(skipped["path"]), (f"{what}: the container vanished without a skipped "
                                                                    "row")
        assert "config.v2.json" in skipped["reason"].iloc[0]


def _first(pattern):
    return lambda root: sorted(root.glob(pattern))[0]


def _config_with_parent(root):
    meta = root / "image/overlay2/imagedb/metadata/sha256"
    return next(p / "parent" for p in sorted(meta.iterdir()) if (p / "parent").exists())


#: One metadata file of each kind in the overlay2 capture, by role.
DATAROOT_ROLES = {
    "layerdb diff": _first("image/overlay2/layerdb/sha256/*/diff"),
    "layerdb size": _first("image/overlay2/layerdb/sha256/*/size"),
    "layerdb cache-id": _first("image/overlay2/layerdb/sha256/*/cache-id"),
    "layerdb parent": _first("image/overlay2/layerdb/sha256/*/parent"),
    "layerdb tar-split": _first("image/overlay2/layerdb/sha256/*/tar-split.json.gz"),
    "image config": _first("image/overlay2/imagedb/content/sha256/*"),
    "image parent": _config_with_parent,
    "repositories.json": _first("image/overlay2/repositories.json"),
    "container config": _first("containers/*/config.v2.json"),
    "container hostconfig": _first("containers/*/hostconfig.json"),
    "mount-id": _first("image/overlay2/layerdb/mounts/*/mount-id"),
    "init-id": _first("image/overlay2/layerdb/mounts/*/init-id"),
    "distribution metadata": _first("image/overlay2/distribution/v2metadata-by-diffid/sha256/*"),
}


def read_quietly(root):
    """The data root at ``root`` opened and every frame that reads it built, warnings silenced (a
    damaged file warns as it is skipped); the Inventory."""
    import warnings

    import layerlab as ll

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inv = ll.open_root(str(root), progress=False)
        inv.files, inv.containers, inv.skipped
    return inv
