"""An image config's layers and history: chain IDs, and the ``history`` and ``image_layers`` rows
every source builds the same way (formats: docs/formats.md, "Image config")."""

from __future__ import annotations

import hashlib

import pandas as pd


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
    """A UTC timestamp from an RFC 3339 string (a config's or container's ``created``); NaT if absent."""
    if not value:
        return pd.NaT
    try:
        t = pd.Timestamp(value)
    except (ValueError, TypeError):
        return pd.NaT
    return t.tz_convert("UTC") if t.tzinfo else t.tz_localize("UTC")


def history_rows(config: dict, layer_count: int, **key) -> list[dict]:
    """One ``history`` row per config history entry, each carrying ``key`` (``image_id=...``);
    ``position`` is the layer an entry made, null for empty entries (ENV, LABEL, ...)."""
    rows, pos = [], 0
    for i, h in enumerate(config.get("history") or []):
        empty = bool(h.get("empty_layer"))
        rows.append({**key, "index": i, "created": parse_time(h.get("created")), "created_by": h.get("created_by"),
                     "comment": h.get("comment"), "empty_layer": empty,
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
                     "size": (sizes or {}).get(cid, 0), "created_by": h.get("created_by"),
                     "created": parse_time(h.get("created"))})
    return rows
