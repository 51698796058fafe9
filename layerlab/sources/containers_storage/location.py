"""Where a containers-storage store is: skopeo's ``containers-storage:`` names, storage.conf, and the
default root and rootless stores as podman finds them (containers-storage.conf(5))."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ..._files import open_file
from ...errors import CorruptMetadata, NotADataRoot
from .._reader import listdir

PREFIX = "containers-storage:"
#: The drivers whose layers are plain directories layerlab reads.
DRIVERS = ("overlay", "vfs")
#: Drivers containers/storage has whose layers live in block devices, datasets or subvolumes.
OTHER_DRIVERS = ("btrfs", "zfs", "aufs", "devmapper")

ROOT_GRAPHROOT = "/var/lib/containers/storage"
SYSTEM_CONFS = ("/etc/containers/storage.conf", "/usr/share/containers/storage.conf")

# skopeo's store specifier: "[driver@graphroot+runroot:options]"; every part but graphroot optional.
_SPEC = re.compile(r"\[(?:(?P<driver>[a-z0-9]+)@)?(?P<root>[^+\]:]*)(?:\+(?P<runroot>[^\]:]*))?(?::[^\]]*)?\]")


@dataclass(frozen=True)
class Location:
    """A store to read: its graph root, the driver asked for (None: the one present) and the image
    reference to read alone (None: every image)."""

    root: str
    driver: str | None
    ref: str | None


def parse_transport(source: str) -> Location:
    """The store and image a ``containers-storage:[driver@root+runroot]REF`` name gives; without a
    ``[...]`` part the default store (``default_store``)."""
    rest = source[len(PREFIX):]
    driver = None
    if rest.startswith("["):
        m = _SPEC.match(rest)
        if m is None or not m.group("root"):
            raise NotADataRoot(f"{source!r}: the store specifier must read [ROOT], [DRIVER@ROOT] or "
                               "[DRIVER@ROOT+RUNROOT] (an absolute graph root in brackets), as skopeo takes it",
                               path=source)
        root, driver = m.group("root"), m.group("driver")
        if not os.path.isabs(root):
            raise NotADataRoot(f"{source!r}: the graph root {root!r} must be an absolute path", path=source)
        rest = rest[m.end():]
    else:
        root, conf_driver = default_store()
        driver = conf_driver
    ref = rest.strip() or None
    return Location(root, driver, ref)


def _read_conf(path: str) -> dict:
    """The ``[storage]`` table of a storage.conf, or {} when there is none or it does not parse."""
    import tomllib

    try:
        with open_file(path, CorruptMetadata, expected="a storage.conf", limit=1 << 20) as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError, CorruptMetadata):
        return {}
    storage = data.get("storage")
    return storage if isinstance(storage, dict) else {}


def default_store(uid: int | None = None, env=None) -> tuple[str, str | None]:
    """(graph root, driver or None) of the store podman would use for this user, as ``podman info``
    finds it: $CONTAINERS_STORAGE_CONF, else the user's storage.conf (rootless), else the system's;
    rootless without a graphroot set: ``rootless_storage_path``, else $XDG_DATA_HOME/containers/storage
    or ~/.local/share/containers/storage."""
    env = os.environ if env is None else env
    uid = os.geteuid() if uid is None else uid
    rootless = uid != 0
    system = next((_read_conf(p) for p in SYSTEM_CONFS if os.path.isfile(p)), {})
    chosen = env.get("CONTAINERS_STORAGE_CONF")
    if chosen:
        conf = _read_conf(chosen)
    elif rootless:
        home = env.get("HOME") or os.path.expanduser("~")
        config_home = env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
        user_conf = os.path.join(config_home, "containers", "storage.conf")
        conf = _read_conf(user_conf) if os.path.isfile(user_conf) else {}
    else:
        conf = system
    driver = conf.get("driver") or system.get("driver") or None
    driver = driver if isinstance(driver, str) and driver else None
    graphroot = conf.get("graphroot") if chosen or conf is not system or not rootless else None
    if rootless and not (isinstance(graphroot, str) and graphroot):
        home = env.get("HOME") or os.path.expanduser("~")
        path = system.get("rootless_storage_path")
        if isinstance(path, str) and path:
            graphroot = (path.replace("$UID", str(uid)).replace("$HOME", home)
                         .replace("$USER", env.get("USER", "")))
        else:
            data_home = env.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share")
            graphroot = os.path.join(data_home, "containers", "storage")
    if not (isinstance(graphroot, str) and graphroot):
        graphroot = ROOT_GRAPHROOT
    return os.path.expanduser(graphroot), driver


def store_driver(root: str) -> list[str]:
    """The drivers whose layer or image records are in ``root`` (``<driver>-layers/layers.json``)."""
    try:
        names = listdir(root)
    except OSError:
        return []
    found = []
    for name in sorted(names):
        if name.endswith("-layers") or name.endswith("-images"):
            driver = name.rsplit("-", 1)[0]
            if driver not in found and (os.path.isfile(os.path.join(root, f"{driver}-layers", "layers.json"))
                                        or os.path.isfile(os.path.join(root, f"{driver}-images", "images.json"))):
                found.append(driver)
    return found


def is_containers_storage(path: str) -> bool:
    """True when ``path`` is a containers-storage graph root: a driver's layer or image records in it
    (a copy made without ``storage.lock`` is one too)."""
    return os.path.isdir(path) and bool(store_driver(path))
