"""Which host a scan ran on: its hostname and a stable host ID, recorded in a snapshot's meta.json.

Hostnames are reused and renamed; ``/etc/machine-id`` (systemd, also present on most other
distributions as the D-Bus machine ID) stays the same for the life of an installation, so a fleet
tells two scans of one host apart from two hosts that share a name.
"""

from __future__ import annotations

import socket

MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")


def machine_id() -> str | None:
    """The host's machine ID (32 hex digits), or None when no readable machine-id file holds one."""
    for name in MACHINE_ID_FILES:
        try:
            with open(name) as f:
                value = f.read().strip().lower()
        except OSError:
            continue
        if len(value) == 32 and all(c in "0123456789abcdef" for c in value):
            return value
    return None


def identity() -> dict:
    """``hostname`` and ``host_id`` (None when unknown) of the machine running this code."""
    return {"hostname": socket.gethostname(), "host_id": machine_id()}
