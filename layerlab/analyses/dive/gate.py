"""layerlab's own CI rules, next to dive's in the same ``.dive-ci``-style file.

dive's rules judge dive's figures, which count the kept copy of a path as wasted and charge an
image for what its base deletes or overwrites. These judge what rebuilding the image can change:

- ``highestReclaimableBytes``: bytes the image's layers store that its final filesystem hides.
- ``highestReclaimableBytesExcludingBase``: the same, only in the layers above the image's base
  (an image that cleans up in the RUN that makes the mess passes, whatever its base holds).
- ``highestBloatBytes``: visible bytes matching the bloat rules (``analyses.bloat``); a byte size
  for the total, or a mapping of category (or ``total``) to byte size.

Every rule is off unless configured; limits are byte sizes as dive reads them (``20MB``, ``1GiB``).
"""

from __future__ import annotations

from ...display import human_bytes
from ..rules import GATE_KEYS, RuleError, judge, parse_bytes

__all__ = ["GATE_KEYS", "evaluate", "limits"]


def limits(value, key: str) -> dict:
    """``{category or "total": limit}`` for ``highestBloatBytes``; ``{"total": limit}`` otherwise."""
    if isinstance(value, dict):
        if key != "highestBloatBytes":
            raise RuleError(f"{key} takes one byte size, not a mapping")
        return {str(k): v for k, v in value.items()}
    return {"total": value}


def _over(what: str, advice: str):
    """The message of a byte-size rule on ``what``: the figures, and ``advice`` when it fails."""
    def message(value, threshold, failed):
        if failed:
            return (f"too many {what} ({human_bytes(value)} > {human_bytes(threshold)}; {value:,} > {threshold:,} "
                    "bytes): "
                    + advice)
        return f"{what} {human_bytes(value)} <= {human_bytes(threshold)} ({value:,} bytes)"
    return message


def _too_much(label: str):
    def message(value, threshold, failed):
        if failed:
            return (f"too much {label} ({human_bytes(value)} > {human_bytes(threshold)}; {value:,} > {threshold:,} "
                    "bytes): "
                    "see `layerlab bloat` for the files and the fix")
        return f"{label} {human_bytes(value)} <= {human_bytes(threshold)} ({value:,} bytes)"
    return message


def _exceeds(value, threshold) -> bool:
    return value > threshold


def evaluate(inv, image_id: str, configured: dict, *, figures: dict, bloat_rules=None) -> list[tuple]:
    """Rows ``(rule, limit, value, status, message)`` for the layerlab rules ``configured`` sets."""
    rows = []
    for key in ("highestReclaimableBytes", "highestReclaimableBytesExcludingBase"):
        if key not in configured:
            continue
        limit = configured[key]
        value = int(figures["reclaimable_bytes" if key == "highestReclaimableBytes"
                            else "reclaimable_bytes_excluding_base"])
        what = "reclaimable bytes" + (" above the base" if key.endswith("ExcludingBase") else "")
        rows.append(judge(key, limit, value, parse_bytes, _exceeds, _over(what, (
            "layers store bytes a later layer hides; delete in the same RUN that writes, or use a multi-stage build")),
            shown=str(limit)))
    if "highestBloatBytes" in configured:
        from ..hygiene.bloat import bloat, bloat_rules as rule_table, by_category

        wanted = limits(configured["highestBloatBytes"], "highestBloatBytes")
        known = set(rule_table(bloat_rules)["category"]) | {"total"}
        unknown = sorted(set(wanted) - known)
        if unknown:  # a misspelt category would otherwise pass with 0 bytes
            raise RuleError(f"highestBloatBytes: unknown bloat categor{'y' if len(unknown) == 1 else 'ies'} "
                            f"{', '.join(unknown)}; known: {', '.join(sorted(known))}")
        found = by_category(bloat(inv, image_id, rules=bloat_rules)).set_index("category")["bytes"]
        for category, limit in wanted.items():
            rule = "highestBloatBytes" if category == "total" else f"highestBloatBytes[{category}]"
            value = int(found.sum()) if category == "total" else int(found.get(category, 0))
            label = "bloat" if category == "total" else f"{category} bloat"
            rows.append(judge(rule, limit, value, parse_bytes, _exceeds, _too_much(label), shown=str(limit)))
    return rows
