"""Host snapshots for fleet tests: the demo fleet's makers (``layerlab.fleet.demo``), and ways to
break a snapshot as real life does (an interrupted copy, a newer format)."""

from __future__ import annotations

import json
from pathlib import Path

from layerlab.fleet.demo import host_id_for, host_snapshot, make_fleet, subset  # noqa: F401


def set_meta(snapshot, **changes) -> None:
    """Change fields of a snapshot's meta.json (for bad-input tests: a future format and the like)."""
    path = Path(snapshot) / "meta.json"
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta, indent=2) + "\n")


def truncate(file, keep: float = 0.5) -> None:
    """Cut a file to ``keep`` of its length, as an interrupted copy leaves it."""
    path = Path(file)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
