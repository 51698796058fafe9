"""An image config's layers and history: chain IDs, and the ``history`` and ``image_layers`` rows
every source builds the same way (formats: docs/formats.md, "Image config")."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where a frame is built, not with the module
    import pandas as pd


def config_problem(config) -> str | None:
    """Why ``config`` is not an image config of the shape the OCI image spec gives, or None.

    Checked before any row is built from it: a config named by its own digest passes the digest
    check whatever it holds, so its shape is all that stands between it and a traceback.
    """
    if not isinstance(config, dict):
        return f"the config is a JSON {type(config).__name__}, not an object"
    rootfs = config.get("rootfs")
    if rootfs is not None and not isinstance(rootfs, dict):
        return "its rootfs is not an object"
    ids = (rootfs or {}).get("diff_ids")
    if ids is not None and not (isinstance(ids, list)
                                and all(isinstance(d, str) and d.startswith("sha256:") for d in ids)):
        return "its rootfs.diff_ids is not a list of sha256 digests"
    history = config.get("history")
    if history is not None and not (isinstance(history, list) and all(isinstance(h, dict) for h in history)):
        return "its history is not a list of objects"
    for key in ("architecture", "os", "variant"):
        if config.get(key) is not None and not isinstance(config[key], str):
            return f"its {key} is not a string"
    return None


def diff_ids(config: dict) -> list[str]:
    """The config's ``rootfs.diff_ids``: digests of the uncompressed layer tars, base first."""
    return list((config.get("rootfs") or {}).get("diff_ids") or [])


def chain_ids(diff_ids: list[str]) -> list[str]:
    """ChainID(L0) = DiffID(L0); ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(Ln))."""
    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else "sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


def parse_time(value) -> pd.Timestamp:
    """A UTC timestamp (microseconds) from an RFC 3339 string (a config's or container's ``created``);
    NaT if absent or invalid. The one parser every source uses: ``layerlab.frames.schema.parse_time``."""
    from ..frames import schema  # here, not with the module: the registry client reads configs before pandas is needed

    return schema.parse_time(value)


def _text(value) -> str | None:
    """A string field as a string (a number becomes its text); None stays None."""
    return value if value is None or isinstance(value, str) else str(value)


def history_rows(config: dict, layer_count: int, **key) -> list[dict]:
    """One ``history`` row per config history entry, each carrying ``key`` (``image_id=...``);
    ``position`` is the layer an entry made, null for empty entries (ENV, LABEL, ...)."""
    rows, pos = [], 0
    for i, h in enumerate(config.get("history") or []):
        empty = bool(h.get("empty_layer"))
        rows.append({**key, "index": i, "created": parse_time(h.get("created")),
                     "created_by": _text(h.get("created_by")),
                     "comment": _text(h.get("comment")), "empty_layer": empty,
                     "position": None if empty or pos >= layer_count else pos})
        pos += not empty
    return rows


def image_layer_rows(config: dict, image_id: str, chain: list[str], sizes: dict | None = None,
                     layer_diff_ids: list[str] | None = None) -> list[dict]:
    """One ``image_layers`` row per layer, with the command of the history entry that made it (known
    when the non-empty history entries match the layers one to one). ``layer_diff_ids`` stand in for
    the config's when it has none (an archive's manifest lists them)."""
    made = [h for h in config.get("history") or [] if not h.get("empty_layer")]
    rows = []
    for p, (cid, did) in enumerate(zip(chain, diff_ids(config) or layer_diff_ids or [])):
        h = made[p] if len(made) == len(chain) else {}
        rows.append({"image_id": image_id, "position": p, "layer_id": cid, "diff_id": did,
                     "size": (sizes or {}).get(cid, 0), "created_by": _text(h.get("created_by")),
                     "created": parse_time(h.get("created"))})
    return rows
